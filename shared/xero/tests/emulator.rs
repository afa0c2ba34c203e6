//! The client against the local Xero emulator (`xero-local`), which honours `InvoiceNumbers`
//! but ignores `IDs` and pages by 100.

use invoicing_test_support::XeroLocal;
use invoicing_xero::{XeroClient, XeroConnection, XeroInvoice};
use serde_json::{json, Value};

const TENANT: &str = "emulator-tenant";
const STATUSES: [&str; 3] = ["AUTHORISED", "PAID", "DRAFT"];

struct Emulator {
    xero: XeroLocal,
}

impl Emulator {
    fn start() -> Emulator {
        Emulator { xero: XeroLocal::start() }
    }

    fn connection(&self, tenant_id: Option<&str>) -> XeroConnection {
        XeroConnection {
            client_id: "client-id".into(),
            client_secret: "client-secret".into(),
            tenant_id: tenant_id.map(str::to_owned),
            api_base_url: self.xero.base_url.clone(),
            token_url: self.xero.token_url(),
        }
    }

    /// Creates the invoices (number, status) in the tenant (or the default one) and returns them
    /// as Xero stored them.
    async fn create_invoices(&self, tenant_id: Option<&str>, invoices: &[(String, &str)]) -> Vec<XeroInvoice> {
        let http = reqwest::Client::new();
        let token = invoicing_test_support::xero_local_token(&http, &self.xero.base_url).await;
        let mut created = Vec::new();
        for chunk in invoices.chunks(50) {
            let body: Vec<Value> = chunk
                .iter()
                .map(|(number, status)| {
                    json!({
                        "Type": "ACCREC",
                        "InvoiceNumber": number,
                        "Status": status,
                        "Contact": {"Name": "Acme"},
                        "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 10}],
                    })
                })
                .collect();
            let mut request = http
                .post(format!("{}/api.xro/2.0/Invoices", self.xero.base_url))
                .bearer_auth(&token)
                .json(&json!({ "Invoices": body }));
            if let Some(tenant) = tenant_id {
                request = request.header("xero-tenant-id", tenant);
            }
            let response = request.send().await.unwrap();
            assert!(response.status().is_success(), "{}", response.status());
            let answer: Value = response.json().await.unwrap();
            for invoice in answer["Invoices"].as_array().unwrap() {
                created.push(XeroInvoice {
                    invoice_id: invoice["InvoiceID"].as_str().unwrap().to_owned(),
                    invoice_number: Some(invoice["InvoiceNumber"].as_str().unwrap().to_owned()),
                    status: invoice["Status"].as_str().unwrap().to_owned(),
                    url: None,
                    invoice_type: Some("ACCREC".into()),
                });
            }
        }
        assert_eq!(created.len(), invoices.len());
        created
    }
}

fn number(i: usize) -> String {
    format!("INV-{i:06}")
}

fn sorted(mut invoices: Vec<XeroInvoice>) -> Vec<XeroInvoice> {
    invoices.sort_by(|a, b| a.invoice_id.cmp(&b.invoice_id));
    invoices
}

#[tokio::test]
async fn reads_invoices_by_ids_and_numbers_from_the_emulator() {
    let emulator = Emulator::start();
    let wanted: Vec<(String, &str)> = (1..=150).map(|i| (number(i), STATUSES[i % STATUSES.len()])).collect();
    let created = emulator.create_invoices(Some(TENANT), &wanted).await;
    // Same numbers in the default tenant: the client must only see its own tenant's invoices.
    let elsewhere: Vec<(String, &str)> = (1..=3).map(|i| (number(i), "VOIDED")).collect();
    emulator.create_invoices(None, &elsewhere).await;
    for (invoice, (number, status)) in created.iter().zip(&wanted) {
        assert_eq!(invoice.invoice_number.as_deref(), Some(number.as_str()));
        assert_eq!(invoice.status, *status);
    }
    let client = XeroClient::new(emulator.connection(Some(TENANT)));

    // The emulator ignores IDs: the client pages through all 150 and keeps the three asked for.
    // Invoice 5 is on page 1, invoices 120 and 149 on page 2.
    let picked: Vec<XeroInvoice> = [5, 120, 149].map(|i| created[i - 1].clone()).to_vec();
    let ids: Vec<String> = picked.iter().map(|i| i.invoice_id.clone()).collect();
    let found = client.invoices_by_ids(&ids).await.unwrap();
    assert_eq!(sorted(found), sorted(picked));
    assert_eq!(client.calls().api_calls, 2);

    // 118 existing numbers and 2 unknown ones: two batches (100 + 20), one call each.
    let mut numbers: Vec<String> = (1..=118).map(number).collect();
    numbers.extend(["INV-999998".to_owned(), "INV-999999".to_owned()]);
    let found = client.invoices_by_numbers(&numbers).await.unwrap();
    assert_eq!(sorted(found), sorted(created[..118].to_vec()));

    let calls = client.calls();
    assert_eq!(calls.api_calls, 4);
    assert_eq!(calls.token_calls, 1);
}
