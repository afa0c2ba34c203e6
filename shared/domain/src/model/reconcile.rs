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
/// Xero's `Type` of a sales invoice (accounts receivable); bills (ACCPAY) never count.
pub const SALES_INVOICE: &str = "ACCREC";
/// Invoices per expansion step: ten batch messages.
pub const EXPANSION_PAGE: usize = 10 * BATCH_SIZE;

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
    /// Calls made to Xero's API for it, retries included (token calls aside).
    #[serde(default)]
    pub xero_calls: u64,
}

/// How a job finds its invoices in Xero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", content = "reason", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum XeroScan {
    /// Listing the organisation's sales invoices, a page of 1,000 per call, into the job's snapshot.
    Listing,
    /// The snapshot is complete: batches look their invoices up in it.
    Ready,
    /// Listing failed for good: the job's invoices are FAILED with this reason.
    Failed(String),
}

/// A job with the worker's view of its progress (never shown by the API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    /// The job as the API shows it.
    pub job: ReconcileJob,
    /// `None` for a job that looks its invoices up by id and number (an explicit list); the
    /// snapshot's state for one that lists every sales invoice (an all-invoices job).
    pub scan: Option<XeroScan>,
}

/// One page of a job's expansion, recorded before its work is queued so that a redelivery queues
/// exactly the same work.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExpandedPage {
    /// The page's invoice ids.
    pub invoice_ids: Vec<String>,
    /// Where the next page starts; `None` on the last.
    pub next: Option<String>,
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
    /// Its `Type` there (`ACCREC` for a sales invoice, `ACCPAY` for a bill...).
    pub invoice_type: Option<String>,
}

impl ExternalInvoice {
    /// Only sales invoices can be the copy of one of ours.
    pub fn is_sales_invoice(&self) -> bool {
        self.invoice_type.as_deref() == Some(SALES_INVOICE)
    }

    fn is_deleted(&self) -> bool {
        self.status == "DELETED"
    }
}

/// Which Xero invoice is the copy of one of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution<'a> {
    /// This one.
    Found(&'a ExternalInvoice),
    /// None.
    Missing,
    /// More than one sales invoice carries the number: never a silent pick.
    Ambiguous(usize),
}

/// Whether the invoice's stored link is enough, given what the lookup by id found for it: a link
/// to a sales invoice that is not deleted is; an unlinked invoice, or a link to a bill, to a
/// deleted invoice or to nothing, is resolved (again) by number.
pub fn needs_number_lookup(invoice: &Invoice, linked: Option<&ExternalInvoice>) -> bool {
    invoice.invoice_number.is_some() && !linked.is_some_and(|x| x.is_sales_invoice() && !x.is_deleted())
}

/// Resolves an invoice to its Xero copy: the linked sales invoice if it is live; else the one live
/// sales invoice with its number; else the linked (deleted) sales invoice; else the one deleted
/// sales invoice with its number. Two candidates at the same step are ambiguous. `linked` is what
/// the link points at (any type), `numbered` what carries the invoice's number (any type, any
/// number: only the right ones are considered).
pub fn resolve<'a>(
    invoice: &Invoice,
    linked: Option<&'a ExternalInvoice>,
    numbered: &[&'a ExternalInvoice],
) -> Resolution<'a> {
    let linked = linked.filter(|x| x.is_sales_invoice() && xero_link(invoice).is_some_and(|l| l.names(&x.external_id)));
    if let Some(live) = linked.filter(|x| !x.is_deleted()) {
        return Resolution::Found(live);
    }
    let mut candidates: Vec<&ExternalInvoice> = Vec::new();
    for x in numbered {
        if x.is_sales_invoice()
            && invoice.invoice_number.is_some()
            && x.invoice_number == invoice.invoice_number
            && !candidates.iter().any(|c| c.external_id == x.external_id)
        {
            candidates.push(x);
        }
    }
    let (deleted, live): (Vec<_>, Vec<_>) = candidates.into_iter().partition(|x| x.is_deleted());
    match (live.as_slice(), linked, deleted.as_slice()) {
        ([one], _, _) => Resolution::Found(one),
        ([], Some(linked), _) => Resolution::Found(linked),
        ([], None, [one]) => Resolution::Found(one),
        ([], None, []) => Resolution::Missing,
        ([], None, several) => Resolution::Ambiguous(several.len()),
        (several, _, _) => Resolution::Ambiguous(several.len()),
    }
}

/// The outcome of an invoice resolved to `resolution` (IN_PROGRESS invoices are SKIPPED whatever it is).
pub fn outcome_of(
    invoice: &Invoice,
    resolution: Resolution<'_>,
    properties: &[Property],
    now: DateTime<Utc>,
) -> InvoiceOutcome {
    match resolution {
        Resolution::Ambiguous(count) if invoice.status != InvoiceStatus::InProgress => InvoiceOutcome::failed(
            &invoice.id,
            format!(
                "ambiguous: {count} sales invoices in Xero are numbered {}",
                invoice.invoice_number.as_deref().unwrap_or_default()
            ),
            now,
        ),
        Resolution::Found(external) => compare(invoice, Some(external), properties, now),
        _ => compare(invoice, None, properties, now),
    }
}

/// How the invoice's stored link changes after a resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkChange<'a> {
    /// It stays as it is.
    Keep,
    /// Link it to this invoice (first link, or a stale link replaced).
    Set(&'a ExternalInvoice),
    /// Drop the link: it points at something that is not this invoice's copy.
    Remove,
}

/// The link change a resolution calls for.
pub fn link_change<'a>(invoice: &Invoice, resolution: Resolution<'a>) -> LinkChange<'a> {
    // A push's pending entry that names no Xero invoice yet is not reconcile's to remove.
    let current = xero_link(invoice);
    match resolution {
        Resolution::Found(x) if current.is_some_and(|l| l.names(&x.external_id)) => LinkChange::Keep,
        Resolution::Found(x) => LinkChange::Set(x),
        Resolution::Missing | Resolution::Ambiguous(_) if current.is_some() => LinkChange::Remove,
        Resolution::Missing | Resolution::Ambiguous(_) => LinkChange::Keep,
    }
}

/// Drops the invoice's Xero link; `false` if it had none.
pub fn unlink_from_xero(invoice: &mut Invoice) -> bool {
    let before = invoice.linked_services.len();
    invoice.linked_services.retain(|l| l.external_service != XERO);
    invoice.linked_services.len() != before
}

/// How an id that cannot be an invoice id is reported in a NOT_FOUND outcome: as it is when short,
/// else its first 40 characters and a stable digest of the whole, so that the outcome's key stays
/// far below DynamoDB's 1,024-byte sort key and two long ids never share an outcome.
pub fn reported_id(id: &str) -> String {
    const SHOWN: usize = 40;
    if id.len() <= 64 {
        return id.to_string();
    }
    // FNV-1a: stable across builds and platforms, unlike the standard library's hasher.
    let digest = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    let shown: String = id.chars().take(SHOWN).collect();
    format!("{shown}...{digest:016x}")
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

/// The invoice's Xero link, if it has one that names a Xero invoice.
pub fn xero_link(invoice: &Invoice) -> Option<&LinkedService> {
    xero_entry(invoice).filter(|l| l.external_id.is_some())
}

/// The invoice's Xero entry, also one a push left without a Xero invoice yet (pending or failed).
pub fn xero_entry(invoice: &Invoice) -> Option<&LinkedService> {
    invoice.linked_services.iter().find(|l| l.external_service == XERO)
}

/// Adds (or replaces) the invoice's Xero link. `false` if it was already exactly that.
pub fn link_to_xero(invoice: &mut Invoice, external: &ExternalInvoice, now: DateTime<Utc>) -> bool {
    if xero_link(invoice).is_some_and(|l| l.names(&external.external_id)) {
        return false;
    }
    invoice.linked_services.retain(|l| l.external_service != XERO);
    invoice.linked_services.push(LinkedService {
        external_service: XERO.into(),
        external_id: Some(external.external_id.clone()),
        sync_time: now,
        external_url: external.url.clone(),
        sync_status: None,
        last_error: None,
    });
    true
}

/// Work for the queue, for one job of one account. `attempt` counts the deliveries that failed or
/// ran out of time before this one was queued (SQS's own receive count starts again with each
/// message); `notBefore` chains SQS's 15-minute delays into longer waits (a daily rate limit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileMessage {
    /// The job.
    pub job_id: String,
    /// The job's account.
    pub account_id: String,
    /// What to do.
    #[serde(flatten)]
    pub work: Work,
    /// Earlier deliveries that failed or timed out.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempt: u32,
    /// Not to be worked on before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A message's work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Work {
    /// Compare these invoices (at most `BATCH_SIZE`).
    #[serde(rename_all = "camelCase")]
    Invoices {
        /// The invoices.
        invoice_ids: Vec<String>,
    },
    /// List the next page of the account's FINAL, SENT and VOIDED invoices and queue their batches.
    #[serde(rename_all = "camelCase")]
    Expand {
        /// Where the page starts (after this invoice id); `None` for the first.
        after: Option<String>,
    },
    /// List one page of the organisation's sales invoices into the job's snapshot (all-invoices jobs).
    #[serde(rename_all = "camelCase")]
    XeroPage {
        /// The page, from 1.
        page: u32,
    },
}

impl ReconcileMessage {
    /// A first delivery of `work`.
    pub fn new(job_id: &str, account_id: &str, work: Work) -> ReconcileMessage {
        ReconcileMessage { job_id: job_id.into(), account_id: account_id.into(), work, attempt: 0, not_before: None }
    }

    /// The job the message belongs to.
    pub fn job_id(&self) -> &str {
        &self.job_id
    }
}

/// The messages that carry a job's explicit ids, at most `BATCH_SIZE` each.
pub fn batch_messages(job_id: &str, account_id: &str, invoice_ids: &[String]) -> Vec<ReconcileMessage> {
    invoice_ids
        .chunks(BATCH_SIZE)
        .map(|chunk| ReconcileMessage::new(job_id, account_id, Work::Invoices { invoice_ids: chunk.to_vec() }))
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
            invoice_type: Some(SALES_INVOICE.into()),
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
    fn long_ids_are_reported_short_and_distinct() {
        assert_eq!(reported_id("not-an-id"), "not-an-id");
        let (a, b) = ("x".repeat(1100), format!("{}y", "x".repeat(1099)));
        assert_eq!(reported_id(&a).len(), 40 + 3 + 16);
        assert!(reported_id(&a).starts_with(&"x".repeat(40)));
        assert_ne!(reported_id(&a), reported_id(&b));
        assert_eq!(reported_id(&a), reported_id(&a.clone()));
    }

    #[test]
    fn resolution_prefers_live_sales_invoices_and_never_picks_between_two() {
        let mut ours = invoice(InvoiceStatus::Sent, Some("INV-1"));
        let x = |id: &str, status: &str, kind: &str| ExternalInvoice {
            external_id: id.into(),
            invoice_number: Some("INV-1".into()),
            status: status.into(),
            url: None,
            invoice_type: Some(kind.into()),
        };
        let (bill, live, other, deleted) = (
            x("b", "AUTHORISED", "ACCPAY"),
            x("l", "AUTHORISED", "ACCREC"),
            x("o", "PAID", "ACCREC"),
            x("d", "DELETED", "ACCREC"),
        );
        assert_eq!(resolve(&ours, None, &[&bill]), Resolution::Missing);
        assert_eq!(resolve(&ours, None, &[&bill, &live]), Resolution::Found(&live));
        assert_eq!(resolve(&ours, None, &[&live, &other, &deleted]), Resolution::Ambiguous(2));
        assert_eq!(resolve(&ours, None, &[&deleted]), Resolution::Found(&deleted));
        assert_eq!(resolve(&ours, None, &[&deleted, &x("d2", "DELETED", "ACCREC")]), Resolution::Ambiguous(2));
        // Linked to the deleted one: a live replacement wins, else the link stands.
        link_to_xero(&mut ours, &deleted, Utc::now());
        assert!(needs_number_lookup(&ours, Some(&deleted)));
        assert_eq!(resolve(&ours, Some(&deleted), &[&deleted, &live]), Resolution::Found(&live));
        assert_eq!(resolve(&ours, Some(&deleted), &[&deleted]), Resolution::Found(&deleted));
        assert_eq!(link_change(&ours, Resolution::Found(&live)), LinkChange::Set(&live));
        assert_eq!(link_change(&ours, Resolution::Found(&deleted)), LinkChange::Keep);
        assert_eq!(link_change(&ours, Resolution::Missing), LinkChange::Remove);
        // Linked to a live sales invoice: no lookup by number, whatever else carries the number.
        link_to_xero(&mut ours, &live, Utc::now());
        assert!(!needs_number_lookup(&ours, Some(&live)));
        assert_eq!(resolve(&ours, Some(&live), &[&other]), Resolution::Found(&live));
        let failed = outcome_of(&ours, Resolution::Ambiguous(2), &[Property::Status], Utc::now());
        assert_eq!(failed.reason.as_deref(), Some("ambiguous: 2 sales invoices in Xero are numbered INV-1"));
        assert_eq!(failed.outcome, OutcomeKind::Failed);
    }

    #[test]
    fn messages_keep_their_shape_and_carry_attempts_only_when_retried() {
        let first = ReconcileMessage::new("job", "acct", Work::XeroPage { page: 1 });
        assert_eq!(
            serde_json::to_value(&first).unwrap(),
            json!({"jobId": "job", "accountId": "acct", "kind": "xeroPage", "page": 1})
        );
        let retried = ReconcileMessage { attempt: 2, ..first };
        let value = serde_json::to_value(&retried).unwrap();
        assert_eq!(value["attempt"], 2);
        assert_eq!(serde_json::from_value::<ReconcileMessage>(value).unwrap(), retried);
    }

    #[test]
    fn links_and_messages() {
        let mut sent = invoice(InvoiceStatus::Sent, Some("INV-1"));
        let now = Utc::now();
        assert!(link_to_xero(&mut sent, &xero("INV-1", "AUTHORISED"), now));
        assert!(!link_to_xero(&mut sent, &xero("INV-1", "AUTHORISED"), now));
        assert_eq!(xero_link(&sent).unwrap().external_id.as_deref(), Some("x-1"));
        let ids: Vec<String> = (0..250).map(|i| i.to_string()).collect();
        let messages = batch_messages("job", "acct", &ids);
        assert_eq!(messages.len(), 3);
        assert_eq!(
            serde_json::to_value(&messages[2]).unwrap(),
            json!({"kind": "invoices", "jobId": "job", "accountId": "acct", "invoiceIds": ids[200..].to_vec()})
        );
    }
}
