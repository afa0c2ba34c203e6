//! Reconcile with integration (docs/contract.md, section 5): compare invoices with their copies in Xero and
//! record one outcome per invoice. Reconcile reports; it changes neither side (the link aside).

use super::{
    error::{Error, Result},
    invoice::{Invoice, InvoiceStatus, LinkedService},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The most ids one request names.
pub const MAX_INVOICE_IDS: usize = 10_000;
/// Invoices per queue message, per store batch read and per Xero call.
pub const BATCH_SIZE: usize = 100;
/// The name of Xero in links.
pub const XERO: &str = "Xero";

/// The integrations reconcile compares with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IntegrationService {
    /// Xero.
    Xero,
}

/// What reconcile compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Property {
    /// The invoice number.
    InvoiceNumber,
    /// The status (by the mapping of docs/contract.md, section 5).
    Status,
}

/// The body of `POST /invoices/reconcile-with-integration`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReconcileRequest {
    /// Must be `Xero`.
    pub integration_service: IntegrationService,
    /// The invoices to compare; empty means every FINAL, SENT or VOIDED invoice.
    pub invoice_ids: Vec<String>,
    /// What to compare.
    pub properties_to_compare: Vec<Property>,
}

impl ReconcileRequest {
    /// The checked request: properties and ids without repeats, in their first order.
    pub fn validate(mut self) -> Result<ReconcileRequest> {
        if self.properties_to_compare.is_empty() {
            return Err(Error::validation("propertiesToCompare: at least one of INVOICE_NUMBER, STATUS is required"));
        }
        if self.invoice_ids.len() > MAX_INVOICE_IDS {
            return Err(Error::validation(format!(
                "invoiceIds: at most {MAX_INVOICE_IDS} ids, got {}",
                self.invoice_ids.len()
            )));
        }
        for (index, id) in self.invoice_ids.iter_mut().enumerate() {
            if !super::ids::is_uuid(id) {
                return Err(Error::validation(format!(
                    "invoiceIds[{index}]: `{}` is not an invoice id",
                    super::ids::shown(id, 64)
                )));
            }
            id.make_ascii_lowercase();
        }
        dedupe(&mut self.properties_to_compare);
        dedupe(&mut self.invoice_ids);
        Ok(self)
    }
}

/// Drops repeats, keeping first appearances in order: one hash lookup per item.
fn dedupe<T: Eq + std::hash::Hash + Clone>(items: &mut Vec<T>) {
    let mut seen: std::collections::HashSet<T> = std::collections::HashSet::with_capacity(items.len());
    items.retain(|item| seen.insert(item.clone()));
}

/// Where a reconcile job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    /// Accepted, not started.
    Queued,
    /// Comparing.
    Running,
    /// Every invoice has its outcome.
    Completed,
    /// Its work could not be queued.
    Failed,
}

/// One invoice's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OutcomeKind {
    /// Every property agrees.
    Matched,
    /// Some property differs.
    Mismatched,
    /// No copy in the integration.
    NotInIntegration,
    /// No such invoice in the account.
    NotFound,
    /// Not compared (IN_PROGRESS).
    Skipped,
    /// Could not be compared.
    Failed,
}

impl OutcomeKind {
    /// Every outcome.
    pub const ALL: [OutcomeKind; 6] = [
        OutcomeKind::Matched,
        OutcomeKind::Mismatched,
        OutcomeKind::NotInIntegration,
        OutcomeKind::NotFound,
        OutcomeKind::Skipped,
        OutcomeKind::Failed,
    ];

    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Matched => "MATCHED",
            OutcomeKind::Mismatched => "MISMATCHED",
            OutcomeKind::NotInIntegration => "NOT_IN_INTEGRATION",
            OutcomeKind::NotFound => "NOT_FOUND",
            OutcomeKind::Skipped => "SKIPPED",
            OutcomeKind::Failed => "FAILED",
        }
    }

    /// The outcome with this API name.
    pub fn parse(value: &str) -> Option<OutcomeKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == value)
    }

    /// The job's counter this outcome adds to.
    pub fn counter(self) -> &'static str {
        match self {
            OutcomeKind::Matched => "matched",
            OutcomeKind::Mismatched => "mismatched",
            OutcomeKind::NotInIntegration => "notInIntegration",
            OutcomeKind::NotFound => "notFound",
            OutcomeKind::Skipped => "skipped",
            OutcomeKind::Failed => "failed",
        }
    }
}

/// How many invoices a job covers, and how many ended in each outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Invoices in the job.
    pub total: u64,
    /// Matched.
    pub matched: u64,
    /// Mismatched.
    pub mismatched: u64,
    /// Not in the integration.
    pub not_in_integration: u64,
    /// Not found.
    pub not_found: u64,
    /// Skipped.
    pub skipped: u64,
    /// Failed.
    pub failed: u64,
}

impl Counts {
    /// How many have an outcome.
    pub fn processed(&self) -> u64 {
        self.matched + self.mismatched + self.not_in_integration + self.not_found + self.skipped + self.failed
    }
}

/// A reconcile job, as `GET /invoices/reconcile-with-integration/{jobId}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileJob {
    /// Its id.
    pub id: String,
    /// Where it is.
    pub status: JobStatus,
    /// The integration.
    pub integration_service: IntegrationService,
    /// What is compared.
    pub properties_to_compare: Vec<Property>,
    /// Its counts.
    pub counts: Counts,
    /// When it was accepted.
    pub created_at: DateTime<Utc>,
    /// When it completed or failed.
    pub completed_at: Option<DateTime<Utc>>,
}

/// A property that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Difference {
    /// Which.
    pub property: Property,
    /// Our value.
    pub sequence_value: Option<String>,
    /// The integration's value.
    pub integration_value: Option<String>,
}

/// One invoice's outcome, as the results list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceOutcome {
    /// The invoice.
    pub invoice_id: String,
    /// Its outcome.
    pub outcome: OutcomeKind,
    /// Its id in the integration, when found.
    pub integration_id: Option<String>,
    /// What differs (MISMATCHED).
    pub differences: Vec<Difference>,
    /// Why (FAILED, SKIPPED).
    pub reason: Option<String>,
    /// When it was compared.
    pub compared_at: DateTime<Utc>,
}

/// An invoice as the integration has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalInvoice {
    /// Its id there.
    pub external_id: String,
    /// Its number there.
    pub invoice_number: Option<String>,
    /// Its status there.
    pub status: String,
    /// Where to see it there.
    pub url: Option<String>,
}

/// The Xero statuses that agree with each of ours; `None` for statuses that are not compared.
pub fn expected_xero_statuses(status: InvoiceStatus) -> Option<&'static [&'static str]> {
    match status {
        InvoiceStatus::Draft => Some(&["DRAFT", "SUBMITTED"]),
        InvoiceStatus::Final | InvoiceStatus::Sent => Some(&["AUTHORISED", "PAID"]),
        InvoiceStatus::Voided => Some(&["VOIDED", "DELETED"]),
        InvoiceStatus::InProgress => None,
    }
}

impl InvoiceOutcome {
    /// An outcome without differences or reason.
    pub fn new(invoice_id: &str, outcome: OutcomeKind, now: DateTime<Utc>) -> InvoiceOutcome {
        InvoiceOutcome {
            invoice_id: invoice_id.to_string(),
            outcome,
            integration_id: None,
            differences: Vec::new(),
            reason: None,
            compared_at: now,
        }
    }

    /// A FAILED outcome with its reason.
    pub fn failed(invoice_id: &str, reason: impl Into<String>, now: DateTime<Utc>) -> InvoiceOutcome {
        InvoiceOutcome { reason: Some(reason.into()), ..InvoiceOutcome::new(invoice_id, OutcomeKind::Failed, now) }
    }
}

/// Compares one invoice with its copy in the integration.
pub fn compare(
    invoice: &Invoice,
    external: Option<&ExternalInvoice>,
    properties: &[Property],
    now: DateTime<Utc>,
) -> InvoiceOutcome {
    if invoice.status == InvoiceStatus::InProgress {
        let mut outcome = InvoiceOutcome::new(&invoice.id, OutcomeKind::Skipped, now);
        outcome.reason = Some("IN_PROGRESS invoices are not compared".into());
        return outcome;
    }
    let Some(external) = external else {
        return InvoiceOutcome::new(&invoice.id, OutcomeKind::NotInIntegration, now);
    };
    let mut differences = Vec::new();
    for property in properties {
        match property {
            Property::InvoiceNumber => {
                if invoice.invoice_number != external.invoice_number {
                    differences.push(Difference {
                        property: Property::InvoiceNumber,
                        sequence_value: invoice.invoice_number.clone(),
                        integration_value: external.invoice_number.clone(),
                    });
                }
            }
            Property::Status => {
                let agrees = expected_xero_statuses(invoice.status)
                    .is_some_and(|expected| expected.contains(&external.status.as_str()));
                if !agrees {
                    differences.push(Difference {
                        property: Property::Status,
                        sequence_value: Some(invoice.status.as_str().to_string()),
                        integration_value: Some(external.status.clone()),
                    });
                }
            }
        }
    }
    let kind = if differences.is_empty() { OutcomeKind::Matched } else { OutcomeKind::Mismatched };
    InvoiceOutcome {
        integration_id: Some(external.external_id.clone()),
        differences,
        ..InvoiceOutcome::new(&invoice.id, kind, now)
    }
}

/// The invoice's Xero link, if it has one.
pub fn xero_link(invoice: &Invoice) -> Option<&LinkedService> {
    invoice.linked_services.iter().find(|l| l.external_service == XERO)
}

/// Adds (or replaces) the invoice's Xero link. `false` if it was already exactly that.
pub fn link_to_xero(invoice: &mut Invoice, external: &ExternalInvoice, now: DateTime<Utc>) -> bool {
    if xero_link(invoice).is_some_and(|l| l.external_id == external.external_id) {
        return false;
    }
    invoice.linked_services.retain(|l| l.external_service != XERO);
    invoice.linked_services.push(LinkedService {
        external_service: XERO.into(),
        external_id: external.external_id.clone(),
        sync_time: now,
        external_url: external.url.clone(),
    });
    true
}

/// Work for the queue: a batch of invoices, or a page of the account's invoices to expand
/// (an empty `invoiceIds` means every FINAL, SENT or VOIDED invoice).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ReconcileMessage {
    /// Compare these invoices (at most `BATCH_SIZE`).
    #[serde(rename_all = "camelCase")]
    Invoices {
        /// The job.
        job_id: String,
        /// The job's account.
        account_id: String,
        /// The invoices.
        invoice_ids: Vec<String>,
    },
    /// List the next page of the account's FINAL, SENT and VOIDED invoices and queue their batches.
    #[serde(rename_all = "camelCase")]
    Expand {
        /// The job.
        job_id: String,
        /// The job's account.
        account_id: String,
        /// Where the page starts (after this invoice id); `None` for the first.
        after: Option<String>,
    },
}

impl ReconcileMessage {
    /// The job the message belongs to.
    pub fn job_id(&self) -> &str {
        match self {
            ReconcileMessage::Invoices { job_id, .. } | ReconcileMessage::Expand { job_id, .. } => job_id,
        }
    }
}

/// The messages that carry a job's explicit ids, at most `BATCH_SIZE` each.
pub fn batch_messages(job_id: &str, account_id: &str, invoice_ids: &[String]) -> Vec<ReconcileMessage> {
    invoice_ids
        .chunks(BATCH_SIZE)
        .map(|chunk| ReconcileMessage::Invoices {
            job_id: job_id.into(),
            account_id: account_id.into(),
            invoice_ids: chunk.to_vec(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::invoice::CreateInvoice;
    use serde_json::json;

    fn invoice(status: InvoiceStatus, number: Option<&str>) -> Invoice {
        let request: CreateInvoice = serde_json::from_value(json!({"currency": "GBP", "customerId": "c"})).unwrap();
        let mut invoice = Invoice::new_draft("inv-1".into(), "acct", request, Utc::now());
        invoice.status = status;
        invoice.invoice_number = number.map(String::from);
        invoice
    }

    fn xero(number: &str, status: &str) -> ExternalInvoice {
        ExternalInvoice {
            external_id: "x-1".into(),
            invoice_number: Some(number.into()),
            status: status.into(),
            url: None,
        }
    }

    const BOTH: &[Property] = &[Property::InvoiceNumber, Property::Status];

    #[test]
    fn outcomes() {
        let now = Utc::now();
        let sent = invoice(InvoiceStatus::Sent, Some("INV-000001"));
        assert_eq!(compare(&sent, Some(&xero("INV-000001", "AUTHORISED")), BOTH, now).outcome, OutcomeKind::Matched);
        assert_eq!(compare(&sent, Some(&xero("INV-000001", "PAID")), BOTH, now).outcome, OutcomeKind::Matched);
        let voided_there = compare(&sent, Some(&xero("INV-000001", "VOIDED")), BOTH, now);
        assert_eq!(voided_there.outcome, OutcomeKind::Mismatched);
        assert_eq!(
            voided_there.differences,
            vec![Difference {
                property: Property::Status,
                sequence_value: Some("SENT".into()),
                integration_value: Some("VOIDED".into())
            }]
        );
        let renumbered = compare(&sent, Some(&xero("INV-9", "AUTHORISED")), BOTH, now);
        assert_eq!(
            renumbered.differences,
            vec![Difference {
                property: Property::InvoiceNumber,
                sequence_value: Some("INV-000001".into()),
                integration_value: Some("INV-9".into())
            }]
        );
        // Only the asked-for properties are compared.
        assert_eq!(
            compare(&sent, Some(&xero("INV-9", "AUTHORISED")), &[Property::Status], now).outcome,
            OutcomeKind::Matched
        );
        assert_eq!(compare(&sent, None, BOTH, now).outcome, OutcomeKind::NotInIntegration);
        let in_progress = invoice(InvoiceStatus::InProgress, None);
        assert_eq!(compare(&in_progress, None, BOTH, now).outcome, OutcomeKind::Skipped);
        let voided = invoice(InvoiceStatus::Voided, Some("INV-000001"));
        assert_eq!(compare(&voided, Some(&xero("INV-000001", "DELETED")), BOTH, now).outcome, OutcomeKind::Matched);
        let draft = invoice(InvoiceStatus::Draft, None);
        assert_eq!(
            compare(&draft, Some(&xero("", "SUBMITTED")), &[Property::Status], now).outcome,
            OutcomeKind::Matched
        );
    }

    #[test]
    fn requests_are_checked_and_deduplicated() {
        let request = |body: serde_json::Value| serde_json::from_value::<ReconcileRequest>(body);
        let (a, b) = ("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c");
        let ok = request(json!({"integrationService": "Xero", "invoiceIds": [a, b, a.to_uppercase()],
            "propertiesToCompare": ["STATUS", "STATUS", "INVOICE_NUMBER"]}))
        .unwrap()
        .validate()
        .unwrap();
        assert_eq!(ok.invoice_ids, vec![a, b]);
        let long = request(json!({"integrationService": "Xero", "invoiceIds": [a, "x".repeat(1100)],
            "propertiesToCompare": ["STATUS"]}))
        .unwrap();
        assert_eq!(
            long.validate().unwrap_err().public_message(),
            format!("invoiceIds[1]: `{}...` is not an invoice id", "x".repeat(64))
        );
        // 10,000 ids, each twice: one pass keeps the first of each, in order.
        let distinct: Vec<String> = (0..5_000).map(|i| format!("0193a1b2-c3d4-7e5f-8a9b-{i:012x}")).collect();
        let mut repeated = distinct.clone();
        repeated.extend(distinct.iter().rev().cloned());
        let body = json!({"integrationService": "Xero", "invoiceIds": repeated, "propertiesToCompare": ["STATUS"]});
        assert_eq!(request(body).unwrap().validate().unwrap().invoice_ids, distinct);
        assert_eq!(ok.properties_to_compare, vec![Property::Status, Property::InvoiceNumber]);
        let empty =
            request(json!({"integrationService": "Xero", "invoiceIds": [], "propertiesToCompare": []})).unwrap();
        assert_eq!(
            empty.validate().unwrap_err().public_message(),
            "propertiesToCompare: at least one of INVOICE_NUMBER, STATUS is required"
        );
        let many = request(
            json!({"integrationService": "Xero", "invoiceIds": vec!["x"; 10_001], "propertiesToCompare": ["STATUS"]}),
        )
        .unwrap();
        assert_eq!(many.validate().unwrap_err().public_message(), "invoiceIds: at most 10000 ids, got 10001");
        assert!(request(
            json!({"integrationService": "QuickBooks", "invoiceIds": [], "propertiesToCompare": ["STATUS"]})
        )
        .is_err());
        assert!(request(json!({"integrationService": "Xero", "invoiceIds": [1], "propertiesToCompare": ["STATUS"]}))
            .is_err());
        assert!(request(
            json!({"integrationService": "Xero", "invoiceIds": [], "propertiesToCompare": ["STATUS"], "x": 1})
        )
        .is_err());
    }

    #[test]
    fn links_and_messages() {
        let mut sent = invoice(InvoiceStatus::Sent, Some("INV-1"));
        let now = Utc::now();
        assert!(link_to_xero(&mut sent, &xero("INV-1", "AUTHORISED"), now));
        assert!(!link_to_xero(&mut sent, &xero("INV-1", "AUTHORISED"), now));
        assert_eq!(xero_link(&sent).unwrap().external_id, "x-1");
        let ids: Vec<String> = (0..250).map(|i| i.to_string()).collect();
        let messages = batch_messages("job", "acct", &ids);
        assert_eq!(messages.len(), 3);
        assert_eq!(
            serde_json::to_value(&messages[2]).unwrap(),
            json!({"kind": "invoices", "jobId": "job", "accountId": "acct", "invoiceIds": ids[200..].to_vec()})
        );
    }
}
