//! Writing to Xero for two-way sync (SPEC.md section 9): the customer's contact, found by name or
//! created, and the sales invoice, created AUTHORISED and later marked sent or voided. Every write
//! carries Xero's `Idempotency-Key`, so a retry after a lost answer never creates a second one.

use crate::{InvoicesPage, Method, XeroClient, XeroError, XeroInvoice, IDEMPOTENCY_KEY_HEADER};
use invoicing_domain::model::xero_push::{PushInvoice, XERO_UNIT_DECIMALS};
use serde::Deserialize;
use serde_json::{json, value::RawValue};

/// Xero's page of contacts.
#[derive(Deserialize)]
struct ContactsPage {
    #[serde(rename = "Contacts", default)]
    contacts: Vec<RawContact>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawContact {
    #[serde(rename = "ContactID")]
    contact_id: String,
    #[serde(default)]
    name: String,
}

/// A decimal as a JSON number, digit for digit (never through a float).
fn number(decimal: impl std::fmt::Display) -> Result<Box<RawValue>, XeroError> {
    RawValue::from_string(decimal.to_string()).map_err(|e| XeroError::Decode(format!("amount: {e}")))
}

impl XeroClient {
    pub(crate) fn api_url(&self, path: &str) -> String {
        format!("{}/api.xro/2.0/{path}", self.connection.api_base_url.trim_end_matches('/'))
    }

    /// The contact with exactly this name (Xero's names are unique per organisation, compared
    /// without case), if there is one. Only matching names are kept, whatever the server's filter.
    pub async fn contact_named(&self, name: &str) -> Result<Option<String>, XeroError> {
        let filter = format!("Name==\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""));
        let mut page = 1u32;
        loop {
            let page_text = page.to_string();
            let query = [("where", filter.as_str()), ("Name", name), ("page", page_text.as_str())];
            let answer = self.authorized_get(&self.api_url("Contacts"), &query).await?;
            let contacts: ContactsPage =
                serde_json::from_str(&answer.body).map_err(|e| XeroError::Decode(format!("contacts: {e}")))?;
            let count = contacts.contacts.len();
            if let Some(found) = contacts.contacts.into_iter().find(|c| c.name.eq_ignore_ascii_case(name)) {
                return Ok(Some(found.contact_id));
            }
            if count < 100 {
                return Ok(None);
            }
            page += 1;
        }
    }

    /// Creates a contact; `idempotency_key` makes a retried creation return the first one.
    pub async fn create_contact(
        &self,
        name: &str,
        email: Option<&str>,
        idempotency_key: &str,
    ) -> Result<String, XeroError> {
        let mut contact = json!({"Name": name});
        if let Some(email) = email {
            contact["EmailAddress"] = json!(email);
        }
        let body = json!({"Contacts": [contact]}).to_string();
        let answer = self
            .authorized(
                Method::POST,
                &self.api_url("Contacts"),
                &[],
                Some(body.as_bytes()),
                Some((IDEMPOTENCY_KEY_HEADER, idempotency_key)),
            )
            .await?;
        let created: ContactsPage =
            serde_json::from_str(&answer.body).map_err(|e| XeroError::Decode(format!("contact answer: {e}")))?;
        created
            .contacts
            .into_iter()
            .next()
            .map(|c| c.contact_id)
            .ok_or_else(|| XeroError::Decode("Xero answered the contact's creation without it".into()))
    }

    /// Creates the sales invoice, AUTHORISED, for the contact (unit amounts to four places).
    pub async fn create_invoice(
        &self,
        invoice: &PushInvoice,
        contact_id: &str,
        idempotency_key: &str,
    ) -> Result<XeroInvoice, XeroError> {
        let mut lines = Vec::with_capacity(invoice.lines.len());
        for line in &invoice.lines {
            lines.push(json!({
                "Description": line.description,
                "Quantity": number(line.quantity)?,
                "UnitAmount": number(line.unit_amount)?,
                "LineAmount": number(line.line_amount)?,
                "TaxAmount": number(line.tax_amount)?,
                "AccountCode": line.account_code,
            }));
        }
        let mut body = json!({
            "Type": "ACCREC",
            "Status": "AUTHORISED",
            "LineAmountTypes": "Exclusive",
            "Contact": {"ContactID": contact_id},
            "InvoiceNumber": invoice.invoice_number,
            "Date": invoice.date.to_string(),
            "CurrencyCode": invoice.currency_code,
            "LineItems": lines,
            // Xero computes these itself from the lines; sent so that a check sees ours.
            "SubTotal": number(invoice.sub_total)?,
            "TotalTax": number(invoice.total_tax)?,
            "Total": number(invoice.total)?,
        });
        if let Some(due) = invoice.due_date {
            body["DueDate"] = json!(due.to_string());
        }
        if let Some(reference) = &invoice.reference {
            body["Reference"] = json!(reference);
        }
        let body = json!({"Invoices": [body]}).to_string();
        let unit_decimals = XERO_UNIT_DECIMALS.to_string();
        let query = [("unitdp", unit_decimals.as_str())];
        self.write_invoice(&self.api_url("Invoices"), &query, &body, idempotency_key).await
    }

    /// Marks the invoice sent to its contact (`SentToContact`).
    pub async fn mark_sent(&self, invoice_id: &str, idempotency_key: &str) -> Result<XeroInvoice, XeroError> {
        let body = json!({"Invoices": [{"InvoiceID": invoice_id, "SentToContact": true}]}).to_string();
        self.write_invoice(&self.api_url(&format!("Invoices/{invoice_id}")), &[], &body, idempotency_key).await
    }

    /// Voids the invoice.
    pub async fn void_invoice(&self, invoice_id: &str, idempotency_key: &str) -> Result<XeroInvoice, XeroError> {
        let body = json!({"Invoices": [{"InvoiceID": invoice_id, "Status": "VOIDED"}]}).to_string();
        self.write_invoice(&self.api_url(&format!("Invoices/{invoice_id}")), &[], &body, idempotency_key).await
    }

    async fn write_invoice(
        &self,
        url: &str,
        query: &[(&str, &str)],
        body: &str,
        idempotency_key: &str,
    ) -> Result<XeroInvoice, XeroError> {
        let answer = self
            .authorized(
                Method::POST,
                url,
                query,
                Some(body.as_bytes()),
                Some((IDEMPOTENCY_KEY_HEADER, idempotency_key)),
            )
            .await?;
        let page: InvoicesPage =
            serde_json::from_str(&answer.body).map_err(|e| XeroError::Decode(format!("invoice answer: {e}")))?;
        page.invoices
            .into_iter()
            .next()
            .map(XeroInvoice::from)
            .ok_or_else(|| XeroError::Decode("Xero answered the invoice's write without it".into()))
    }
}
