//! Reconcile jobs, outcomes, batch reads of invoices and integration settings.
//!
//! | item              | pk             | sk                                   |
//! |-------------------|----------------|--------------------------------------|
//! | job               | `ACCOUNT#<id>` | `RECONCILE#<jobId>`                  |
//! | outcome           | `ACCOUNT#<id>` | `RECONCILE#<jobId>#OUTCOME#<invoiceId>` |
//! | expanded page     | `ACCOUNT#<id>` | `RECONCILE#<jobId>#PAGE#<pageKey>`   |
//! | Xero snapshot     | `ACCOUNT#<id>` | `RECONCILE#<jobId>#XERO#<invoiceNumber>` |
//!
//! An expanded page holds its invoice ids and the next page's start (at most 1,000 ids of 36
//! characters: about 40 KB). A snapshot item holds the sales invoices Xero has under one number
//! (usually one); snapshot items expire (TTL) a week after they were written.

use crate::{
    account_pk, build_error, collect_page, decode, encode,
    invoices::{decode_versioned, invoice_sk},
    n, s, sdk_error,
    transact::{Committed, OnConditionFailed, Write},
    write_error, DynamoStore, Item, PageQuery, MAX_EVALUATED_PER_PAGE,
};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use invoicing_domain::{
    model::idempotency::Receipt,
    model::integration::XeroSettings,
    model::invoice::Invoice,
    model::pagination::Page,
    model::reconcile::{
        ExpandedPage, ExternalInvoice, InvoiceOutcome, JobRecord, OutcomeKind, ReconcileJob, XeroScan, BATCH_SIZE,
    },
    model::webhooks::Event,
    model::Versioned,
    ports::{IntegrationSettings, InvoiceBatches, ReconcileJobs},
    Error, Result,
};
use serde::{Deserialize, Serialize};

/// The account item's attribute holding its Xero connection settings (the secret is elsewhere).
const XERO_SETTINGS: &str = "xeroConnection";

/// Outcomes per transaction: with the job's counter update, within DynamoDB's 100 actions.
const OUTCOMES_PER_TRANSACTION: usize = 99;

fn job_sk(job_id: &str) -> String {
    format!("RECONCILE#{job_id}")
}

fn outcome_prefix(job_id: &str) -> String {
    format!("RECONCILE#{job_id}#OUTCOME#")
}

fn page_sk(job_id: &str, page_key: &str) -> String {
    format!("RECONCILE#{job_id}#PAGE#{page_key}")
}

fn snapshot_sk(job_id: &str, number: &str) -> String {
    format!("RECONCILE#{job_id}#XERO#{number}")
}

/// How long a job's snapshot of Xero is kept.
const SNAPSHOT_LIFETIME_SECS: i64 = 7 * 24 * 3600;

/// One Xero invoice of a snapshot item.
#[derive(Serialize, Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct SnapshotEntry {
    external_id: String,
    invoice_number: Option<String>,
    status: String,
    url: Option<String>,
    invoice_type: Option<String>,
}

impl From<&ExternalInvoice> for SnapshotEntry {
    fn from(x: &ExternalInvoice) -> Self {
        SnapshotEntry {
            external_id: x.external_id.clone(),
            invoice_number: x.invoice_number.clone(),
            status: x.status.clone(),
            url: x.url.clone(),
            invoice_type: x.invoice_type.clone(),
        }
    }
}

impl From<SnapshotEntry> for ExternalInvoice {
    fn from(e: SnapshotEntry) -> Self {
        ExternalInvoice {
            external_id: e.external_id,
            invoice_number: e.invoice_number,
            status: e.status,
            url: e.url,
            invoice_type: e.invoice_type,
        }
    }
}

/// A snapshot item: the sales invoices under one number.
#[derive(Serialize, Deserialize)]
struct SnapshotItem {
    number: String,
    candidates: Vec<SnapshotEntry>,
}

/// An expanded page item.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageItem {
    #[serde(default)]
    invoice_ids: Vec<String>,
    next: Option<String>,
}

/// The job item: the job's fields with its counts flattened into numbers that `ADD` can move.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobItem {
    #[serde(flatten)]
    job: ReconcileJob,
    expansion_pending: bool,
    processed: u64,
    #[serde(default)]
    scan: Option<XeroScan>,
}

fn job_key(account_id: &str, job_id: &str) -> [(String, AttributeValue); 2] {
    [("pk".into(), s(account_pk(account_id))), ("sk".into(), s(job_sk(job_id)))]
}

impl DynamoStore {
    fn counter_update(&self, account_id: &str, job_id: &str, outcomes: &[InvoiceOutcome]) -> Result<Update> {
        let mut by_kind: Vec<(OutcomeKind, u64)> = Vec::new();
        for outcome in outcomes {
            match by_kind.iter_mut().find(|(k, _)| *k == outcome.outcome) {
                Some((_, count)) => *count += 1,
                None => by_kind.push((outcome.outcome, 1)),
            }
        }
        let mut expression = vec!["#processed :processed".to_string()];
        // counts.total is set at creation or by expansion; outcomes move the other counts.
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(job_key(account_id, job_id).into_iter().collect()))
            .expression_attribute_names("#processed", "processed")
            .expression_attribute_values(":processed", n(outcomes.len()));
        for (kind, count) in by_kind {
            let (name, value) = (format!("#{}", kind.counter()), format!(":{}", kind.counter()));
            expression.push(format!("counts.{name} {value}"));
            update =
                update.expression_attribute_names(name, kind.counter()).expression_attribute_values(value, n(count));
        }
        update
            .update_expression(format!("ADD {}", expression.join(", ")))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(build_error)
    }

    fn outcome_put(&self, account_id: &str, job_id: &str, outcome: &InvoiceOutcome) -> Result<Put> {
        let mut item = encode(outcome)?;
        item.insert("pk".into(), s(account_pk(account_id)));
        item.insert("sk".into(), s(format!("{}{}", outcome_prefix(job_id), outcome.invoice_id)));
        item.insert("entity".into(), s("RECONCILE_OUTCOME"));
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_error)
    }

    /// Writes outcomes and their counts in one transaction; `Ok(false)` if one was recorded before.
    async fn record_together(&self, account_id: &str, job_id: &str, outcomes: &[InvoiceOutcome]) -> Result<bool> {
        let mut writes = Vec::with_capacity(outcomes.len() + 1);
        for outcome in outcomes {
            writes.push(Write::new(
                TransactWriteItem::builder().put(self.outcome_put(account_id, job_id, outcome)?).build(),
                format!("outcome of invoice {}", outcome.invoice_id),
                OnConditionFailed::AlreadyDone,
            ));
        }
        writes.push(Write::new(
            TransactWriteItem::builder().update(self.counter_update(account_id, job_id, outcomes)?).build(),
            format!("reconcile job {job_id}"),
            OnConditionFailed::Conflict(format!("no reconcile job {job_id}")),
        ));
        Ok(self.transact(writes, None).await? == Committed::Yes)
    }
}

impl ReconcileJobs for DynamoStore {
    async fn create_job(
        &self,
        account_id: &str,
        job: &ReconcileJob,
        all_invoices: bool,
        receipt: Option<&Receipt>,
    ) -> Result<()> {
        let scan = all_invoices.then_some(XeroScan::Listing);
        let mut item = encode(&JobItem { job: job.clone(), expansion_pending: all_invoices, processed: 0, scan })?;
        item.extend(job_key(account_id, &job.id));
        item.insert("entity".into(), s("RECONCILE_JOB"));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_error)?;
        let write = Write::new(
            TransactWriteItem::builder().put(put).build(),
            format!("reconcile job {}", job.id),
            OnConditionFailed::Conflict(format!("reconcile job {} already exists", job.id)),
        );
        self.transact(vec![write], receipt).await.map(drop)
    }

    async fn get_job(&self, account_id: &str, job_id: &str) -> Result<Option<ReconcileJob>> {
        Ok(self.get_job_record(account_id, job_id).await?.map(|record| record.job))
    }

    async fn get_job_record(&self, account_id: &str, job_id: &str) -> Result<Option<JobRecord>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(job_key(account_id, job_id).into_iter().collect()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        Ok(output.item.map(decode::<JobItem>).transpose()?.map(|item| JobRecord { job: item.job, scan: item.scan }))
    }

    async fn mark_running(&self, account_id: &str, job_id: &str) -> Result<()> {
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(job_key(account_id, job_id).into_iter().collect()))
            .update_expression("SET #status = :running")
            .condition_expression("#status = :queued")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":running", s("RUNNING"))
            .expression_attribute_values(":queued", s("QUEUED"))
            .send()
            .await;
        match updated {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(write_error("UpdateItem", e)),
        }
    }

    async fn mark_failed(&self, account_id: &str, job_id: &str, now: DateTime<Utc>) -> Result<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(job_key(account_id, job_id).into_iter().collect()))
            .update_expression("SET #status = :failed, completedAt = :now")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":failed", s("FAILED"))
            .expression_attribute_values(":now", s(invoicing_domain::model::payments::format_time(&now)))
            .send()
            .await
            .map_err(|e| write_error("UpdateItem", e))?;
        Ok(())
    }

    async fn record_outcomes(&self, account_id: &str, job_id: &str, outcomes: &[InvoiceOutcome]) -> Result<usize> {
        let mut recorded = 0;
        for chunk in outcomes.chunks(OUTCOMES_PER_TRANSACTION) {
            if self.record_together(account_id, job_id, chunk).await? {
                recorded += chunk.len();
                continue;
            }
            // Some were recorded by an earlier delivery: record the others one by one.
            for outcome in chunk {
                if self.record_together(account_id, job_id, std::slice::from_ref(outcome)).await? {
                    recorded += 1;
                }
            }
        }
        Ok(recorded)
    }

    async fn expanded_page(&self, account_id: &str, job_id: &str, page_key: &str) -> Result<Option<ExpandedPage>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(account_pk(account_id)))
            .key("sk", s(page_sk(job_id, page_key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        Ok(output
            .item
            .map(decode::<PageItem>)
            .transpose()?
            .map(|page| ExpandedPage { invoice_ids: page.invoice_ids, next: page.next }))
    }

    async fn record_expanded_page(
        &self,
        account_id: &str,
        job_id: &str,
        page_key: &str,
        page: &ExpandedPage,
    ) -> Result<()> {
        let last = page.next.is_none();
        let mut item = encode(&PageItem { invoice_ids: page.invoice_ids.clone(), next: page.next.clone() })?;
        item.insert("pk".into(), s(account_pk(account_id)));
        item.insert("sk".into(), s(page_sk(job_id, page_key)));
        item.insert("entity".into(), s("RECONCILE_PAGE"));
        item.insert("count".into(), n(page.invoice_ids.len()));
        let marker = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_error)?;
        let mut expression = "ADD counts.#total :count".to_string();
        if last {
            expression.push_str(" SET expansionPending = :false");
        }
        let mut total = Update::builder()
            .table_name(&self.table)
            .set_key(Some(job_key(account_id, job_id).into_iter().collect()))
            .update_expression(expression)
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#total", "total")
            .expression_attribute_values(":count", n(page.invoice_ids.len()));
        if last {
            total = total.expression_attribute_values(":false", AttributeValue::Bool(false));
        }
        // A page counted by an earlier delivery of the same message is not counted again.
        let writes = vec![
            Write::new(
                TransactWriteItem::builder().put(marker).build(),
                format!("expanded page {page_key}"),
                OnConditionFailed::AlreadyDone,
            ),
            Write::new(
                TransactWriteItem::builder().update(total.build().map_err(build_error)?).build(),
                format!("reconcile job {job_id}"),
                OnConditionFailed::AlreadyDone,
            ),
        ];
        self.transact(writes, None).await.map(drop)
    }

    async fn record_xero_page(
        &self,
        account_id: &str,
        job_id: &str,
        page: u32,
        invoices: &[ExternalInvoice],
        last: bool,
    ) -> Result<()> {
        // Group by number; numberless invoices cannot be found by number and are left out.
        let mut by_number: std::collections::BTreeMap<&str, Vec<SnapshotEntry>> = Default::default();
        for invoice in invoices.iter().filter(|i| i.is_sales_invoice()) {
            if let Some(number) = invoice.invoice_number.as_deref() {
                by_number.entry(number).or_default().push(invoice.into());
            }
        }
        // Merge with what earlier pages (a number used twice) or an earlier delivery wrote. Pages
        // are listed one after another, so no two writers merge the same item at once.
        let key = |number: &str| {
            Item::from([("pk".into(), s(account_pk(account_id))), ("sk".into(), s(snapshot_sk(job_id, number)))])
        };
        let existing = self.batch_get_all(by_number.keys().map(|number| key(number)).collect()).await?;
        let mut merged: std::collections::BTreeMap<String, Vec<SnapshotEntry>> =
            by_number.into_iter().map(|(number, entries)| (number.to_string(), entries)).collect();
        for item in existing {
            let earlier: SnapshotItem = decode(item)?;
            if let Some(entries) = merged.get_mut(&earlier.number) {
                for entry in earlier.candidates {
                    if !entries.iter().any(|e| e.external_id == entry.external_id) {
                        entries.push(entry);
                    }
                }
            }
        }
        let expires = chrono::Utc::now().timestamp() + SNAPSHOT_LIFETIME_SECS;
        let mut items = Vec::with_capacity(merged.len());
        for (number, candidates) in merged {
            let mut item = encode(&SnapshotItem { number: number.clone(), candidates })?;
            item.extend(key(&number));
            item.insert("entity".into(), s("RECONCILE_XERO_SNAPSHOT"));
            item.insert(crate::schema::TTL_ATTRIBUTE.into(), n(expires));
            items.push(item);
        }
        self.batch_put(items).await?;
        if last {
            self.set_scan(account_id, job_id, &XeroScan::Ready).await?;
        }
        tracing::debug!(jobId = job_id, page, last, "Xero page recorded");
        Ok(())
    }

    async fn fail_xero_scan(&self, account_id: &str, job_id: &str, reason: &str) -> Result<()> {
        self.set_scan(account_id, job_id, &XeroScan::Failed(reason.to_string())).await
    }

    async fn xero_snapshot(&self, account_id: &str, job_id: &str, numbers: &[String]) -> Result<Vec<ExternalInvoice>> {
        let mut seen = std::collections::HashSet::new();
        let keys = numbers
            .iter()
            .filter(|number| !number.is_empty() && seen.insert(number.as_str()))
            .map(|number| {
                Item::from([("pk".into(), s(account_pk(account_id))), ("sk".into(), s(snapshot_sk(job_id, number)))])
            })
            .collect();
        let mut found = Vec::new();
        for item in self.batch_get_all(keys).await? {
            found.extend(decode::<SnapshotItem>(item)?.candidates.into_iter().map(ExternalInvoice::from));
        }
        Ok(found)
    }

    async fn add_xero_calls(&self, account_id: &str, job_id: &str, calls: u64) -> Result<()> {
        if calls == 0 {
            return Ok(());
        }
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(job_key(account_id, job_id).into_iter().collect()))
            .update_expression("ADD xeroCalls :calls")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":calls", n(calls))
            .send()
            .await
            .map_err(|e| write_error("UpdateItem", e))?;
        Ok(())
    }

    async fn complete_if_done(&self, account_id: &str, job_id: &str, now: DateTime<Utc>) -> Result<bool> {
        use invoicing_domain::model::reconcile::JobStatus;
        let Some(mut job) = self.get_job(account_id, job_id).await? else { return Ok(false) };
        let processed = job.counts.processed();
        if job.status == JobStatus::Completed || processed != job.counts.total {
            return Ok(job.status == JobStatus::Completed);
        }
        // Every invoice has its outcome, so the counts read are final; the condition checks they
        // still are, so the event carries exactly the counts committed with it.
        job.status = JobStatus::Completed;
        job.completed_at = Some(now);
        let event = Event::sync_completed(&job, now);
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(job_key(account_id, job_id).into_iter().collect()))
            .update_expression("SET #status = :completed, completedAt = :now")
            .condition_expression(
                "expansionPending = :false AND #processed = counts.#total AND #processed = :processed \
                 AND #status IN (:queued, :running)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#total", "total")
            .expression_attribute_names("#processed", "processed")
            .expression_attribute_values(":completed", s("COMPLETED"))
            .expression_attribute_values(":queued", s("QUEUED"))
            .expression_attribute_values(":running", s("RUNNING"))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":processed", n(processed))
            .expression_attribute_values(":now", s(invoicing_domain::model::payments::format_time(&now)))
            .build()
            .map_err(build_error)?;
        let writes = vec![
            Write::new(
                TransactWriteItem::builder().update(update).build(),
                format!("reconcile job {job_id}"),
                // Not done yet (expansion pending), or completed by another worker.
                OnConditionFailed::AlreadyDone,
            ),
            self.event_write(account_id, &event)?,
        ];
        match self.transact(writes, None).await? {
            Committed::Yes => Ok(true),
            Committed::AlreadyDone => {
                Ok(self.get_job(account_id, job_id).await?.is_some_and(|j| j.status == JobStatus::Completed))
            }
        }
    }

    async fn list_outcomes(
        &self,
        account_id: &str,
        job_id: &str,
        outcome: Option<OutcomeKind>,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page<InvoiceOutcome>> {
        let prefix = outcome_prefix(job_id);
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(account_pk(account_id)))
            .expression_attribute_values(":prefix", s(&prefix));
        if let Some(kind) = outcome {
            request = request
                .filter_expression("outcome = :outcome")
                .expression_attribute_values(":outcome", s(kind.as_str()));
        }
        let start = after.map(|after| {
            Item::from([("pk".into(), s(account_pk(account_id))), ("sk".into(), s(format!("{prefix}{after}")))])
        });
        let page = PageQuery {
            request,
            start,
            page_size: if outcome.is_some() { 200 } else { limit as i32 + 1 },
            limit,
            max_evaluated: MAX_EVALUATED_PER_PAGE,
            position_prefix: prefix,
        };
        collect_page(page, decode, |o: &InvoiceOutcome| o.invoice_id.clone()).await
    }
}

impl DynamoStore {
    async fn set_scan(&self, account_id: &str, job_id: &str, scan: &XeroScan) -> Result<()> {
        let value = serde_dynamo::to_attribute_value(scan)
            .map_err(|e| Error::internal_caused("could not encode a scan state", e))?;
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(job_key(account_id, job_id).into_iter().collect()))
            .update_expression("SET #scan = :scan")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#scan", "scan")
            .expression_attribute_values(":scan", value)
            .send()
            .await
            .map_err(|e| write_error("UpdateItem", e))?;
        Ok(())
    }
}

impl InvoiceBatches for DynamoStore {
    async fn get_invoices(&self, account_id: &str, invoice_ids: &[String]) -> Result<Vec<Versioned<Invoice>>> {
        if invoice_ids.is_empty() {
            return Ok(Vec::new());
        }
        if invoice_ids.len() > BATCH_SIZE {
            return Err(Error::internal(format!("batch of {} invoices exceeds {BATCH_SIZE}", invoice_ids.len())));
        }
        let mut seen = std::collections::HashSet::with_capacity(invoice_ids.len());
        let mut keys: Vec<Item> = Vec::with_capacity(invoice_ids.len());
        for id in invoice_ids.iter().filter(|id| seen.insert(id.as_str())) {
            keys.push(Item::from([("pk".into(), s(account_pk(account_id))), ("sk".into(), s(invoice_sk(id)))]));
        }
        self.batch_get(keys).await?.into_iter().map(decode_versioned).collect()
    }

    async fn list_reconcilable_invoice_ids(
        &self,
        account_id: &str,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page<String>> {
        let request = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .filter_expression("#status IN (:final, :sent, :voided)")
            .projection_expression("id")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pk", s(account_pk(account_id)))
            .expression_attribute_values(":prefix", s("INVOICE#"))
            .expression_attribute_values(":final", s("FINAL"))
            .expression_attribute_values(":sent", s("SENT"))
            .expression_attribute_values(":voided", s("VOIDED"));
        let start = after
            .map(|after| Item::from([("pk".into(), s(account_pk(account_id))), ("sk".into(), s(invoice_sk(after)))]));
        let id_of = |item: Item| {
            item.get("id")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .ok_or_else(|| Error::internal("invoice item without an id"))
        };
        let page = PageQuery {
            request,
            start,
            page_size: 500,
            limit,
            max_evaluated: 10 * MAX_EVALUATED_PER_PAGE,
            position_prefix: "INVOICE#".into(),
        };
        collect_page(page, id_of, String::clone).await
    }
}

impl IntegrationSettings for DynamoStore {
    async fn xero_settings(&self, account_id: &str) -> Result<Option<XeroSettings>> {
        // A missing account has no connection either.
        match self.account_item(account_id, Some(XERO_SETTINGS)).await?.and_then(|mut item| item.remove(XERO_SETTINGS))
        {
            Some(value) => serde_dynamo::from_attribute_value(value)
                .map(Some)
                .map_err(|e| Error::internal_caused(format!("corrupt Xero settings of account {account_id}"), e)),
            None => Ok(None),
        }
    }

    async fn set_xero_settings(&self, account_id: &str, settings: &XeroSettings) -> Result<()> {
        self.set_account_attribute(account_id, XERO_SETTINGS, settings).await
    }
}
