//! Line items and line item groups of an invoice, and how a change to them moves the stored totals.
//!
//! Totals are sums of rounded line figures, so a change updates them exactly by subtracting the old
//! line's figures and adding the new one's: no need to re-read every line of a large invoice.

use super::{
    error::{Error, Result},
    ids::{is_uuid, shown},
    invoice::{Invoice, InvoiceStatus},
    money,
    totals::{check_tax_rate, line_figures, ExactDecimal, Figures, RateDisplay},
    Versioned,
};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// An id of the line in another system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalId {
    /// The system.
    pub key: String,
    /// The id there.
    pub value: String,
}

/// The period a line's service covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServicePeriod {
    /// First day.
    pub start_date: NaiveDate,
    /// Last day.
    pub end_date: NaiveDate,
}

/// The body of `POST /invoices/{id}/line-items` and `PUT .../line-items/{lineItemId}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LineItemInput {
    /// What is sold.
    pub title: String,
    /// More about it.
    #[serde(default)]
    pub description: Option<String>,
    /// How many.
    pub quantity: ExactDecimal,
    /// The price of one.
    pub rate: ExactDecimal,
    /// A fraction from 0 to 1.
    pub tax_rate: ExactDecimal,
    /// How the rate is shown.
    #[serde(default)]
    pub rate_display: Option<RateDisplay>,
    /// The group the line counts in.
    #[serde(default)]
    pub group_id: Option<String>,
    /// Its ids in other systems.
    #[serde(default)]
    pub external_ids: Option<Vec<ExternalId>>,
    /// The period it covers.
    #[serde(default)]
    pub service_period: Option<ServicePeriod>,
}

/// A stored line of an invoice, with its rounded figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineItem {
    /// Its id.
    pub id: String,
    /// Its invoice.
    pub invoice_id: String,
    /// What is sold.
    pub title: String,
    /// More about it.
    pub description: Option<String>,
    /// How many.
    pub quantity: Decimal,
    /// The price of one.
    pub rate: Decimal,
    /// A fraction from 0 to 1.
    pub tax_rate: Decimal,
    /// How the rate is shown.
    pub rate_display: RateDisplay,
    /// The group it counts in.
    pub group_id: Option<String>,
    /// Its ids in other systems.
    pub external_ids: Vec<ExternalId>,
    /// The period it covers.
    pub service_period: Option<ServicePeriod>,
    /// Quantity times rate, rounded.
    pub net_total: Decimal,
    /// Net times tax rate, rounded.
    pub total_tax: Decimal,
    /// Net plus tax.
    pub gross_total: Decimal,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The body of `POST /invoices/{id}/line-item-groups`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LineItemGroupInput {
    /// The group's name.
    pub title: String,
    /// More about it.
    #[serde(default)]
    pub description: Option<String>,
}

/// A group of an invoice's lines, with the sums of their figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineItemGroup {
    /// Its id.
    pub id: String,
    /// Its invoice.
    pub invoice_id: String,
    /// Its name.
    pub title: String,
    /// More about it.
    pub description: Option<String>,
    /// Sum of its lines' net.
    pub net_total: Decimal,
    /// Sum of its lines' tax.
    pub total_tax: Decimal,
    /// Sum of its lines' gross.
    pub gross_total: Decimal,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// Everything one change writes, atomically: the invoice's new state (only if its version is still
/// `expected_version`), at most one line put or deleted, and the groups whose totals moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineChange {
    /// The invoice as it will be.
    pub invoice: Invoice,
    /// The version it must still have.
    pub expected_version: u64,
    /// The line written (added or replaced).
    pub put_line: Option<LineItem>,
    /// The line deleted.
    pub delete_line: Option<LineItem>,
    /// The groups written (their totals moved, or a new one).
    pub put_groups: Vec<LineItemGroup>,
}

const MAX_TITLE_LENGTH: usize = 500;
const MAX_DESCRIPTION_LENGTH: usize = 2_000;
const MAX_EXTERNAL_IDS: usize = 20;
/// The most lines one invoice holds: as many as `/invoices-totals` takes in one request.
pub const MAX_LINES_PER_INVOICE: u32 = 10_000;
/// The most bytes all line titles of one invoice take as JSON. Slash's aggregate shows every
/// line's title; this keeps it (with everything else it shows) within a Lambda answer's 6 MB.
pub const MAX_LINE_TITLE_BYTES_PER_INVOICE: u64 = 3_000_000;

fn figures_of(net_total: Decimal, total_tax: Decimal, gross_total: Decimal) -> Figures {
    Figures { gross_total, net_total, total_tax }
}

impl LineItem {
    /// Its figures.
    pub fn figures(&self) -> Figures {
        figures_of(self.net_total, self.total_tax, self.gross_total)
    }
}

impl LineItemGroup {
    /// A new, empty group of the invoice.
    pub fn new(id: String, invoice: &Invoice, input: LineItemGroupInput, now: DateTime<Utc>) -> Result<Self, Error> {
        check_text("title", &input.title, MAX_TITLE_LENGTH, true)?;
        if let Some(description) = &input.description {
            check_text("description", description, MAX_DESCRIPTION_LENGTH, false)?;
        }
        let zero = Figures::zero(invoice.currency.minor_units());
        Ok(LineItemGroup {
            id,
            invoice_id: invoice.id.clone(),
            title: input.title,
            description: input.description,
            net_total: zero.net_total,
            total_tax: zero.total_tax,
            gross_total: zero.gross_total,
            created_at: now,
        })
    }

    /// Its figures.
    pub fn figures(&self) -> Figures {
        figures_of(self.net_total, self.total_tax, self.gross_total)
    }

    fn set_figures(&mut self, figures: Figures) {
        self.net_total = figures.net_total;
        self.total_tax = figures.total_tax;
        self.gross_total = figures.gross_total;
    }
}

fn check_text(field: &str, value: &str, max: usize, required: bool) -> Result<(), Error> {
    if required && value.trim().is_empty() {
        return Err(Error::validation(format!("{field}: must not be empty")));
    }
    if value.chars().count() > max {
        return Err(Error::validation(format!("{field}: must be at most {max} characters")));
    }
    Ok(())
}

impl LineItemInput {
    fn validate(&self) -> Result<(), Error> {
        check_text("title", &self.title, MAX_TITLE_LENGTH, true)?;
        if let Some(description) = &self.description {
            check_text("description", description, MAX_DESCRIPTION_LENGTH, false)?;
        }
        check_tax_rate(self.tax_rate.0).map_err(|m| Error::validation(format!("taxRate: {m}")))?;
        if let Some(group_id) = &self.group_id {
            if !is_uuid(group_id) {
                return Err(Error::validation(format!(
                    "groupId: `{}` is not a line item group id",
                    shown(group_id, 64)
                )));
            }
        }
        let external_ids = self.external_ids.as_deref().unwrap_or_default();
        if external_ids.len() > MAX_EXTERNAL_IDS {
            return Err(Error::validation(format!("externalIds: at most {MAX_EXTERNAL_IDS} entries")));
        }
        for (index, external) in external_ids.iter().enumerate() {
            check_text(&format!("externalIds[{index}].key"), &external.key, 100, true)?;
            check_text(&format!("externalIds[{index}].value"), &external.value, 500, false)?;
        }
        if let Some(period) = &self.service_period {
            if period.end_date < period.start_date {
                return Err(Error::validation("servicePeriod: endDate must not be before startDate"));
            }
        }
        Ok(())
    }

    /// The line this input describes on this invoice, with its rounded figures.
    fn into_line(
        self,
        id: String,
        invoice: &Invoice,
        created_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<LineItem, Error> {
        self.validate()?;
        let places = invoice.currency.minor_units();
        let figures = line_figures(self.quantity.0, self.rate.0, self.tax_rate.0, places)
            .map_err(|m| Error::validation(m.to_string()))?;
        // Every figure of a stored line, and its price in minor units (Slash's priceCents), must be
        // representable: checked here, where the line arrives, so that no later view can overflow.
        let price = money::round_to_places(self.rate.0, places);
        for (field, amount) in [
            ("rate", price),
            ("netTotal (quantity × rate)", figures.net_total),
            ("totalTax", figures.total_tax),
            ("grossTotal", figures.gross_total),
        ] {
            money::bounded_minor_units(amount, places).map_err(|m| Error::validation(format!("{field}: {m}")))?;
        }
        Ok(LineItem {
            id,
            invoice_id: invoice.id.clone(),
            title: self.title,
            description: self.description,
            quantity: self.quantity.0,
            rate: self.rate.0,
            tax_rate: self.tax_rate.0,
            rate_display: self.rate_display.unwrap_or_default(),
            group_id: self.group_id,
            external_ids: self.external_ids.unwrap_or_default(),
            service_period: self.service_period,
            net_total: figures.net_total,
            total_tax: figures.total_tax,
            gross_total: figures.gross_total,
            created_at,
            updated_at: now,
        })
    }
}

/// The groups a change may touch, as read from the store.
#[derive(Debug, Clone, Default)]
pub struct TouchedGroups {
    /// The groups found.
    pub groups: Vec<LineItemGroup>,
}

impl TouchedGroups {
    fn find_mut(&mut self, id: &str) -> Result<&mut LineItemGroup, Error> {
        self.groups
            .iter_mut()
            .find(|g| g.id == id)
            .ok_or_else(|| Error::validation(format!("groupId: no line item group {id} on this invoice")))
    }
}

fn ensure_draft(invoice: &Invoice) -> Result<(), Error> {
    if invoice.status == InvoiceStatus::Draft {
        Ok(())
    } else {
        Err(Error::conflict(format!(
            "invoice {} is {}; only DRAFT invoices can change their lines",
            invoice.id,
            invoice.status.as_str()
        )))
    }
}

/// Moves the invoice's and the groups' totals from `old` to `new` (either may be absent).
fn move_totals(
    invoice: &mut Invoice,
    groups: &mut TouchedGroups,
    old: Option<&LineItem>,
    new: Option<&LineItem>,
) -> Result<(), Error> {
    let places = invoice.currency.minor_units();
    let overflow = || Error::validation("the invoice's totals would be out of range");
    let mut totals = figures_of(invoice.net_total, invoice.total_tax, invoice.gross_total);
    if let Some(old) = old {
        totals = totals.checked_sub(&old.figures(), places).ok_or_else(overflow)?;
        if let Some(group_id) = &old.group_id {
            let group = groups.find_mut(group_id)?;
            let moved = group.figures().checked_sub(&old.figures(), places).ok_or_else(overflow)?;
            group.set_figures(moved);
        }
    }
    if let Some(new) = new {
        totals = totals.checked_add(&new.figures(), places).ok_or_else(overflow)?;
        if let Some(group_id) = &new.group_id {
            let group = groups.find_mut(group_id)?;
            let moved = group.figures().checked_add(&new.figures(), places).ok_or_else(overflow)?;
            group.set_figures(moved);
        }
    }
    for amount in [totals.net_total, totals.total_tax, totals.gross_total] {
        money::bounded_minor_units(amount, places)
            .map_err(|m| Error::validation(format!("the invoice's totals would be {m}")))?;
    }
    invoice.net_total = totals.net_total;
    invoice.total_tax = totals.total_tax;
    invoice.gross_total = totals.gross_total;
    move_line_stats(invoice, old, new)
}

/// The bytes a title takes in a JSON answer.
fn title_bytes(line: &LineItem) -> u64 {
    serde_json::to_string(&line.title).map_or(0, |json| json.len() as u64)
}

/// Moves the invoice's line count and title bytes; a change that would take either past its
/// bound is refused (removals always pass).
fn move_line_stats(invoice: &mut Invoice, old: Option<&LineItem>, new: Option<&LineItem>) -> Result<(), Error> {
    let mut count = invoice.line_count;
    let mut bytes = invoice.line_title_bytes;
    if let Some(old) = old {
        count = count.saturating_sub(1);
        bytes = bytes.saturating_sub(title_bytes(old));
    }
    if let Some(new) = new {
        count = count.saturating_add(1);
        bytes = bytes.saturating_add(title_bytes(new));
        if old.is_none() && count > MAX_LINES_PER_INVOICE {
            return Err(Error::conflict(format!(
                "invoice {} has {MAX_LINES_PER_INVOICE} lines, the most an invoice can hold",
                invoice.id
            )));
        }
        if bytes > MAX_LINE_TITLE_BYTES_PER_INVOICE && bytes > invoice.line_title_bytes {
            return Err(Error::conflict(format!(
                "invoice {}: its line titles would take more than {MAX_LINE_TITLE_BYTES_PER_INVOICE} bytes",
                invoice.id
            )));
        }
    }
    invoice.line_count = count;
    invoice.line_title_bytes = bytes;
    Ok(())
}

fn change(
    invoice: &Versioned<Invoice>,
    mut groups: TouchedGroups,
    old: Option<LineItem>,
    new: Option<LineItem>,
) -> Result<LineChange, Error> {
    ensure_draft(&invoice.value)?;
    let mut updated = invoice.value.clone();
    move_totals(&mut updated, &mut groups, old.as_ref(), new.as_ref())?;
    let put_groups = groups.groups;
    let delete_line = match (&old, &new) {
        (Some(old), None) => Some(old.clone()),
        _ => None,
    };
    Ok(LineChange { invoice: updated, expected_version: invoice.version, put_line: new, delete_line, put_groups })
}

/// Adds a line. `groups` holds the line's group, if it names one.
pub fn add_line(
    invoice: &Versioned<Invoice>,
    groups: TouchedGroups,
    id: String,
    input: LineItemInput,
    now: DateTime<Utc>,
) -> Result<LineChange, Error> {
    ensure_draft(&invoice.value)?;
    let line = input.into_line(id, &invoice.value, now, now)?;
    change(invoice, groups, None, Some(line))
}

/// Replaces a line's content. `groups` holds its old and new groups.
pub fn replace_line(
    invoice: &Versioned<Invoice>,
    groups: TouchedGroups,
    old: LineItem,
    input: LineItemInput,
    now: DateTime<Utc>,
) -> Result<LineChange, Error> {
    ensure_draft(&invoice.value)?;
    let line = input.into_line(old.id.clone(), &invoice.value, old.created_at, now)?;
    change(invoice, groups, Some(old), Some(line))
}

/// Removes a line. `groups` holds its group.
pub fn remove_line(invoice: &Versioned<Invoice>, groups: TouchedGroups, old: LineItem) -> Result<LineChange, Error> {
    change(invoice, groups, Some(old), None)
}

/// Adds an empty group.
pub fn add_group(invoice: &Versioned<Invoice>, group: LineItemGroup) -> Result<LineChange, Error> {
    ensure_draft(&invoice.value)?;
    Ok(LineChange {
        invoice: invoice.value.clone(),
        expected_version: invoice.version,
        put_line: None,
        delete_line: None,
        put_groups: vec![group],
    })
}

/// The answer for a line item id the invoice does not have.
pub fn line_not_found(invoice_id: &str, line_item_id: &str) -> Error {
    Error::not_found(format!("no line item with id {line_item_id} on invoice {invoice_id}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::invoice::CreateInvoice;
    use serde_json::json;

    fn draft() -> Versioned<Invoice> {
        let request: CreateInvoice = serde_json::from_value(json!({"currency": "GBP", "customerId": "c"})).unwrap();
        Versioned { value: Invoice::new_draft("inv".into(), "acct", request, Utc::now()), version: 1 }
    }

    fn input(body: serde_json::Value) -> LineItemInput {
        serde_json::from_str(&body.to_string()).unwrap()
    }

    #[test]
    fn adding_replacing_and_removing_moves_totals_exactly() {
        let invoice = draft();
        let group = LineItemGroup::new(
            "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(),
            &invoice.value,
            LineItemGroupInput { title: "Cars".into(), description: None },
            Utc::now(),
        )
        .unwrap();
        let groups = TouchedGroups { groups: vec![group] };
        let added = add_line(
            &invoice,
            groups,
            "l1".into(),
            input(json!({"title": "Ferraris", "quantity": "2", "rate": "20000.10", "taxRate": "0.2", "groupId": "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"})),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(added.invoice.gross_total.to_string(), "48000.24");
        assert_eq!(added.put_groups[0].net_total.to_string(), "40000.20");
        let line = added.put_line.clone().unwrap();
        assert_eq!((line.net_total.to_string(), line.total_tax.to_string()), ("40000.20".into(), "8000.04".into()));

        let after_add = Versioned { value: added.invoice, version: 2 };
        let replaced = replace_line(
            &after_add,
            TouchedGroups { groups: added.put_groups.clone() },
            line.clone(),
            input(json!({"title": "Ferrari", "quantity": "1", "rate": "0.015", "taxRate": "0"})),
            Utc::now(),
        )
        .unwrap();
        // 0.015 rounds half away from zero to 0.02; the group loses the line entirely.
        assert_eq!(replaced.invoice.net_total.to_string(), "0.02");
        assert_eq!(replaced.put_groups[0].gross_total.to_string(), "0.00");
        assert_eq!(replaced.expected_version, 2);

        let after_replace = Versioned { value: replaced.invoice, version: 3 };
        let removed = remove_line(&after_replace, TouchedGroups::default(), replaced.put_line.unwrap()).unwrap();
        assert_eq!(removed.invoice.gross_total.to_string(), "0.00");
        assert_eq!(removed.delete_line.unwrap().id, "l1");
    }

    #[test]
    fn only_drafts_change_and_groups_must_exist() {
        let mut invoice = draft();
        let unknown = "0193a1b2-0000-7000-8000-000000000000";
        let line = json!({"title": "x", "quantity": "1", "rate": "1", "taxRate": "0", "groupId": unknown});
        let error =
            add_line(&invoice, TouchedGroups::default(), "l".into(), input(line.clone()), Utc::now()).unwrap_err();
        assert_eq!(error.public_message(), format!("groupId: no line item group {unknown} on this invoice"));
        let not_an_id =
            json!({"title": "x", "quantity": "1", "rate": "1", "taxRate": "0", "groupId": "x".repeat(2000)});
        let error = add_line(&invoice, TouchedGroups::default(), "l".into(), input(not_an_id), Utc::now()).unwrap_err();
        assert_eq!(error.public_message(), format!("groupId: `{}...` is not a line item group id", "x".repeat(64)));
        invoice.value.status = InvoiceStatus::Final;
        let error = add_line(&invoice, TouchedGroups::default(), "l".into(), input(line), Utc::now()).unwrap_err();
        assert_eq!(error.public_message(), "invoice inv is FINAL; only DRAFT invoices can change their lines");
    }

    #[test]
    fn bad_line_fields_are_named() {
        let invoice = draft();
        let bad = json!({"title": "x", "quantity": "1", "rate": "1", "taxRate": "1.5"});
        let error = add_line(&invoice, TouchedGroups::default(), "l".into(), input(bad), Utc::now()).unwrap_err();
        assert_eq!(error.public_message(), "taxRate: must be between 0 and 1 (a fraction: \"0.2\" is 20 %), got 1.5");
        let empty = json!({"title": " ", "quantity": "1", "rate": "1", "taxRate": "0"});
        let error = add_line(&invoice, TouchedGroups::default(), "l".into(), input(empty), Utc::now()).unwrap_err();
        assert_eq!(error.public_message(), "title: must not be empty");
    }

    #[test]
    fn figures_that_no_view_could_show_are_refused_where_the_line_arrives() {
        let invoice = draft();
        let refused = |line: serde_json::Value| {
            add_line(&invoice, TouchedGroups::default(), "l".into(), input(line), Utc::now())
                .unwrap_err()
                .public_message()
                .to_string()
        };
        // A tiny quantity times a huge rate nets 1.00, but the price itself has no minor-unit form.
        assert_eq!(
            refused(json!({"title": "x", "quantity": "0.000000000000000000000000001",
                           "rate": "1000000000000000000000000000", "taxRate": "0"})),
            "rate: out of range: amounts may be at most 9999999999999.99 in magnitude"
        );
        assert_eq!(
            refused(json!({"title": "x", "quantity": "100000", "rate": "1000000000", "taxRate": "0"})),
            "netTotal (quantity × rate): out of range: amounts may be at most 9999999999999.99 in magnitude"
        );
        let ok = add_line(
            &invoice,
            TouchedGroups::default(),
            "l".into(),
            input(json!({"title": "x", "quantity": "1", "rate": "9999999999999.99", "taxRate": "0"})),
            Utc::now(),
        )
        .unwrap();
        // A second such line would take the invoice's totals past the bound.
        let after = Versioned { value: ok.invoice, version: 2 };
        let error = add_line(
            &after,
            TouchedGroups::default(),
            "l2".into(),
            input(json!({"title": "x", "quantity": "1", "rate": "0.01", "taxRate": "0"})),
            Utc::now(),
        )
        .unwrap_err();
        assert_eq!(
            error.public_message(),
            "the invoice's totals would be out of range: amounts may be at most 9999999999999.99 in magnitude"
        );
    }

    #[test]
    fn an_invoice_holds_a_bounded_number_of_lines_and_title_bytes() {
        let mut invoice = draft();
        invoice.value.line_count = MAX_LINES_PER_INVOICE;
        let line = json!({"title": "x", "quantity": "1", "rate": "1", "taxRate": "0"});
        let error =
            add_line(&invoice, TouchedGroups::default(), "l".into(), input(line.clone()), Utc::now()).unwrap_err();
        assert_eq!(error.public_message(), "invoice inv has 10000 lines, the most an invoice can hold");
        invoice.value.line_count = 1;
        invoice.value.line_title_bytes = MAX_LINE_TITLE_BYTES_PER_INVOICE - 2;
        let error =
            add_line(&invoice, TouchedGroups::default(), "l".into(), input(line.clone()), Utc::now()).unwrap_err();
        assert_eq!(error.public_message(), "invoice inv: its line titles would take more than 3000000 bytes");
        invoice.value.line_title_bytes = 0;
        let added = add_line(&invoice, TouchedGroups::default(), "l".into(), input(line), Utc::now()).unwrap();
        assert_eq!((added.invoice.line_count, added.invoice.line_title_bytes), (2, 3));
    }
}
