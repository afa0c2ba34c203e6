//! Outbound webhooks (SPEC.md section 8): the events an account's endpoints receive, the Standard
//! Webhooks signature on each delivery, when a failed delivery is tried again, and which targets
//! a delivery may reach.

pub mod delivery;
pub mod retry;
pub mod signature;
pub mod target;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{error::Error, reconcile::ReconcileJob};

/// What happened. The wire names are SCREAMING_SNAKE_CASE, as Sequence's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    /// An invoice was created (`POST /invoices`).
    InvoiceCreated,
    /// A draft invoice was finalized and numbered.
    InvoiceFinalized,
    /// An invoice was sent.
    InvoiceSent,
    /// An invoice was voided.
    InvoiceVoided,
    /// A payment recorded or undone changed an invoice's `paymentStatus` (Slash reconcile and
    /// unreconcile).
    InvoicePaymentStatusChanged,
    /// A reconcile job completed; its data carries the job and its counts.
    IntegrationSyncCompleted,
}

impl EventType {
    /// Every type, in the order the API documents them.
    pub const ALL: [EventType; 6] = [
        EventType::InvoiceCreated,
        EventType::InvoiceFinalized,
        EventType::InvoiceSent,
        EventType::InvoiceVoided,
        EventType::InvoicePaymentStatusChanged,
        EventType::IntegrationSyncCompleted,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::InvoiceCreated => "INVOICE_CREATED",
            EventType::InvoiceFinalized => "INVOICE_FINALIZED",
            EventType::InvoiceSent => "INVOICE_SENT",
            EventType::InvoiceVoided => "INVOICE_VOIDED",
            EventType::InvoicePaymentStatusChanged => "INVOICE_PAYMENT_STATUS_CHANGED",
            EventType::IntegrationSyncCompleted => "INTEGRATION_SYNC_COMPLETED",
        }
    }

    /// The type a wire name names, if any.
    pub fn from_name(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// The name that subscribes an endpoint to every type, those added later included.
pub const EVERY_EVENT: &str = "*";

/// The events an endpoint receives: `["*"]`, or a list of types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSelection {
    /// Every type, those added later included.
    Every,
    /// Only these (never empty).
    Only(BTreeSet<EventType>),
}

impl EventSelection {
    /// The selection a request's `events` names, or a validation error naming the first bad
    /// entry. `"*"` stands alone; a type named twice counts once.
    pub fn parse(names: &[String]) -> Result<EventSelection, Error> {
        if names.is_empty() {
            return Err(Error::validation(format!(
                "events: name at least one event type, or \"{EVERY_EVENT}\" for all of them"
            )));
        }
        if names.iter().any(|name| name == EVERY_EVENT) {
            return match names.iter().all(|name| name == EVERY_EVENT) {
                true => Ok(EventSelection::Every),
                false => Err(Error::validation(format!(
                    "events: \"{EVERY_EVENT}\" already means every event type; list it alone"
                ))),
            };
        }
        let mut types = BTreeSet::new();
        for (index, name) in names.iter().enumerate() {
            let event_type = EventType::from_name(name).ok_or_else(|| {
                let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
                Error::validation(format!(
                    "events[{index}]: unknown event type \"{name}\"; expected \"{EVERY_EVENT}\" or one of {}",
                    known.join(", ")
                ))
            })?;
            types.insert(event_type);
        }
        Ok(EventSelection::Only(types))
    }

    /// Whether an endpoint with this selection receives `event_type`.
    pub fn includes(&self, event_type: EventType) -> bool {
        match self {
            EventSelection::Every => true,
            EventSelection::Only(types) => types.contains(&event_type),
        }
    }

    /// The names, as the API answers them: `["*"]` or the types in documented order.
    pub fn names(&self) -> Vec<&'static str> {
        match self {
            EventSelection::Every => vec![EVERY_EVENT],
            EventSelection::Only(types) => types.iter().map(|t| t.as_str()).collect(),
        }
    }
}

impl Serialize for EventSelection {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.names().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for EventSelection {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(deserializer)?;
        EventSelection::parse(&names).map_err(|e| serde::de::Error::custom(e.public_message()))
    }
}

/// Whether an endpoint is sent events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EndpointStatus {
    /// Sent every event it selects.
    Enabled,
    /// Sent nothing: turned off by its account, or by the service after failing every delivery
    /// for [`retry::DISABLE_AFTER`].
    Disabled,
}

/// The longest description an endpoint takes, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 500;

/// An account's webhook endpoint, as stored. Its signing secret is not here: it lives encrypted in
/// the secret store (the `WebhookSecrets` port), so a copy of the table does not reveal it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEndpoint {
    /// Its id (a UUID v7: endpoints list in creation order).
    pub id: String,
    /// The account it belongs to.
    pub account_id: String,
    /// Where deliveries go (checked by [`target::check_url`]).
    pub url: String,
    /// The events it receives.
    pub events: EventSelection,
    /// The account's own note.
    pub description: Option<String>,
    /// Whether it is sent events.
    pub status: EndpointStatus,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
    /// Since when every attempt to reach it has failed (`None`: the last one succeeded).
    #[serde(default)]
    pub failing_since: Option<DateTime<Utc>>,
}

/// A description as given: trimmed, empty meaning none, at most [`MAX_DESCRIPTION_CHARS`].
pub fn checked_description(description: Option<&str>) -> Result<Option<String>, Error> {
    let Some(text) = description.map(str::trim).filter(|text| !text.is_empty()) else { return Ok(None) };
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(Error::validation(format!("description: longer than {MAX_DESCRIPTION_CHARS} characters")));
    }
    Ok(Some(text.to_string()))
}

/// What the API answers for an endpoint. `secret` is only in the answer that creates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointView {
    /// Its id.
    pub id: String,
    /// Where deliveries go.
    pub url: String,
    /// The events it receives: `["*"]` or type names.
    pub events: EventSelection,
    /// The account's note, or null.
    pub description: Option<String>,
    /// ENABLED or DISABLED.
    pub status: EndpointStatus,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
    /// The signing secret (`whsec_...`), in the creating answer only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl From<&WebhookEndpoint> for EndpointView {
    fn from(endpoint: &WebhookEndpoint) -> EndpointView {
        EndpointView {
            id: endpoint.id.clone(),
            url: endpoint.url.clone(),
            events: endpoint.events.clone(),
            description: endpoint.description.clone(),
            status: endpoint.status,
            created_at: endpoint.created_at,
            updated_at: endpoint.updated_at,
            secret: None,
        }
    }
}

/// The 404 for an endpoint id the account does not have (another account's included).
pub fn endpoint_not_found(endpoint_id: &str) -> Error {
    Error::not_found(format!("no webhook endpoint {endpoint_id}"))
}

/// One event, as delivered: `{"id", "type", "createdAt", "data"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// `evt_` and a UUID v7 (time-ordered); the `webhook-id` of every attempt to deliver it.
    pub id: String,
    /// What happened.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// When the change that made it committed.
    pub created_at: DateTime<Utc>,
    /// The invoice after the change (`{"invoice": ...}`) or the completed job (`{"job": ...}`).
    pub data: serde_json::Value,
}

/// The prefix of event ids.
pub const EVENT_ID_PREFIX: &str = "evt_";

impl Event {
    /// A new event with a fresh id.
    pub fn new(event_type: EventType, created_at: DateTime<Utc>, data: serde_json::Value) -> Event {
        let id = format!("{EVENT_ID_PREFIX}{}", uuid::Uuid::now_v7().simple());
        Event { id, event_type, created_at, data }
    }

    /// The body every attempt sends, byte for byte (the signature covers these bytes).
    pub fn body(&self) -> String {
        serde_json::to_string(self).expect("an event always serializes")
    }

    /// INTEGRATION_SYNC_COMPLETED for a job that completed at `completed_at`: `data.job` is the
    /// job as `GET /invoices/reconcile-with-integration/{jobId}` shows it, with its final counts.
    pub fn sync_completed(job: &ReconcileJob, completed_at: DateTime<Utc>) -> Event {
        // Cannot fail: every field of a job serializes, and its maps have string keys.
        let job = serde_json::to_value(job).expect("a job serializes");
        Event::new(EventType::IntegrationSyncCompleted, completed_at, serde_json::json!({ "job": job }))
    }
}

/// An event as the outbox keeps it until it is delivered: its account, what it is, and the exact
/// body every attempt sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// The account whose change it records.
    pub account_id: String,
    /// The event's id (`evt_...`).
    pub id: String,
    /// What happened.
    pub event_type: EventType,
    /// When the change committed.
    pub created_at: DateTime<Utc>,
    /// [`Event::body`].
    pub body: String,
}

impl OutboxEvent {
    /// The outbox record of an account's event.
    pub fn new(account_id: &str, event: &Event) -> OutboxEvent {
        OutboxEvent {
            account_id: account_id.to_string(),
            id: event.id.clone(),
            event_type: event.event_type,
            created_at: event.created_at,
            body: event.body(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_type_has_a_wire_name_that_names_it_back() {
        for event_type in EventType::ALL {
            assert_eq!(EventType::from_name(event_type.as_str()), Some(event_type));
            assert_eq!(serde_json::to_value(event_type).unwrap(), json!(event_type.as_str()));
        }
        assert_eq!(EventType::from_name("invoice_created"), None);
    }

    #[test]
    fn a_selection_lists_types_once_in_documented_order() {
        let selection =
            EventSelection::parse(&names(&["INVOICE_VOIDED", "INVOICE_CREATED", "INVOICE_VOIDED"])).unwrap();
        assert_eq!(selection.names(), ["INVOICE_CREATED", "INVOICE_VOIDED"]);
        assert!(selection.includes(EventType::InvoiceVoided));
        assert!(!selection.includes(EventType::InvoiceSent));
    }

    #[test]
    fn the_star_selects_every_type_and_stands_alone() {
        let every = EventSelection::parse(&names(&["*"])).unwrap();
        assert!(EventType::ALL.into_iter().all(|t| every.includes(t)));
        assert_eq!(every.names(), ["*"]);
        let mixed = EventSelection::parse(&names(&["*", "INVOICE_SENT"])).unwrap_err();
        assert_eq!(mixed.public_message(), "events: \"*\" already means every event type; list it alone");
    }

    #[test]
    fn an_empty_or_unknown_selection_is_refused_by_position() {
        assert_eq!(
            EventSelection::parse(&[]).unwrap_err().public_message(),
            "events: name at least one event type, or \"*\" for all of them"
        );
        let unknown = EventSelection::parse(&names(&["INVOICE_SENT", "invoice.paid"])).unwrap_err();
        assert_eq!(
            unknown.public_message(),
            "events[1]: unknown event type \"invoice.paid\"; expected \"*\" or one of INVOICE_CREATED, \
             INVOICE_FINALIZED, INVOICE_SENT, INVOICE_VOIDED, INVOICE_PAYMENT_STATUS_CHANGED, \
             INTEGRATION_SYNC_COMPLETED"
        );
    }

    #[test]
    fn a_selection_is_stored_as_its_names_and_read_back() {
        let selection = EventSelection::parse(&names(&["INVOICE_SENT", "INVOICE_CREATED"])).unwrap();
        let stored = serde_json::to_value(&selection).unwrap();
        assert_eq!(stored, json!(["INVOICE_CREATED", "INVOICE_SENT"]));
        assert_eq!(serde_json::from_value::<EventSelection>(stored).unwrap(), selection);
        assert!(serde_json::from_value::<EventSelection>(json!(["NOPE"])).is_err());
    }

    #[test]
    fn descriptions_are_trimmed_and_bounded() {
        assert_eq!(checked_description(None).unwrap(), None);
        assert_eq!(checked_description(Some("   ")).unwrap(), None);
        assert_eq!(checked_description(Some("  ledger sync ")).unwrap().as_deref(), Some("ledger sync"));
        assert!(checked_description(Some(&"é".repeat(500))).is_ok());
        assert_eq!(
            checked_description(Some(&"é".repeat(501))).unwrap_err().public_message(),
            "description: longer than 500 characters"
        );
    }

    #[test]
    fn an_endpoint_view_shows_no_secret_unless_given_one() {
        let at: DateTime<Utc> = "2026-11-26T10:00:00Z".parse().unwrap();
        let endpoint = WebhookEndpoint {
            id: "ep-1".into(),
            account_id: "acc-1".into(),
            url: "https://hooks.example.com/in".into(),
            events: EventSelection::Every,
            description: None,
            status: EndpointStatus::Enabled,
            created_at: at,
            updated_at: at,
            failing_since: Some(at),
        };
        let view = serde_json::to_value(EndpointView::from(&endpoint)).unwrap();
        assert_eq!(
            view,
            json!({
                "id": "ep-1", "url": "https://hooks.example.com/in", "events": ["*"], "description": null,
                "status": "ENABLED", "createdAt": "2026-11-26T10:00:00Z", "updatedAt": "2026-11-26T10:00:00Z",
            })
        );
        let created = EndpointView { secret: Some("whsec_x".into()), ..EndpointView::from(&endpoint) };
        assert_eq!(serde_json::to_value(created).unwrap()["secret"], "whsec_x");
    }

    #[test]
    fn an_event_body_is_its_documented_shape() {
        let created_at = "2026-11-26T10:00:00Z".parse().unwrap();
        let event = Event::new(EventType::InvoiceFinalized, created_at, json!({"invoice": {"id": "inv-1"}}));
        assert!(event.id.starts_with("evt_") && event.id.len() == 4 + 32, "{}", event.id);
        let body: serde_json::Value = serde_json::from_str(&event.body()).unwrap();
        assert_eq!(
            body,
            json!({
                "id": event.id,
                "type": "INVOICE_FINALIZED",
                "createdAt": "2026-11-26T10:00:00Z",
                "data": {"invoice": {"id": "inv-1"}},
            })
        );
        assert_ne!(Event::new(EventType::InvoiceSent, created_at, json!({})).id, event.id);
    }
}
