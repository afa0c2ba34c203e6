//! One endpoint's deliveries of one event: the queue message that carries each attempt, what an
//! attempt records, and what follows it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{retry::next_attempt, EventType};

/// The queue message of one delivery: which event goes to which endpoint, how many attempts were
/// made, and when the next is due. Every attempt of the event sends the same `webhook-id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryTask {
    /// The account of the endpoint and the event.
    pub account_id: String,
    /// Where it goes.
    pub endpoint_id: String,
    /// What goes (`evt_...`).
    pub event_id: String,
    /// Attempts made so far (0 for a new event).
    pub attempts_made: u32,
    /// When the next attempt is due. A message that arrives before (a wait longer than SQS holds
    /// one message) is sent on with the rest of the wait.
    pub due_at: DateTime<Utc>,
}

impl DeliveryTask {
    /// The first attempt of an event, due now.
    pub fn first(account_id: &str, endpoint_id: &str, event_id: &str, now: DateTime<Utc>) -> DeliveryTask {
        DeliveryTask {
            account_id: account_id.to_string(),
            endpoint_id: endpoint_id.to_string(),
            event_id: event_id.to_string(),
            attempts_made: 0,
            due_at: now,
        }
    }

    /// The number of the attempt this message carries (1 for the first).
    pub fn attempt_number(&self) -> u32 {
        self.attempts_made.saturating_add(1)
    }

    /// The message of the next attempt, after this one failed at `failed_at`; `None` once every
    /// retry of the schedule is spent.
    pub fn retry(&self, failed_at: DateTime<Utc>) -> Option<DeliveryTask> {
        let due_at = next_attempt(self.attempt_number(), failed_at)?;
        Some(DeliveryTask { attempts_made: self.attempt_number(), due_at, ..self.clone() })
    }
}

/// What an attempt got from the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// An HTTP answer with this status.
    Answered(u16),
    /// No answer: why (refused address, connection error, timeout).
    NoAnswer(String),
}

impl AttemptOutcome {
    /// Delivered: a 2xx answer.
    pub fn delivered(&self) -> bool {
        matches!(self, AttemptOutcome::Answered(200..=299))
    }
}

/// One attempt, as `GET /webhook-endpoints/{id}/deliveries` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryAttempt {
    /// The event (`evt_...`, the `webhook-id` sent).
    pub event_id: String,
    /// Its type.
    pub event_type: EventType,
    /// 1 for the first attempt of the event to this endpoint.
    pub attempt: u32,
    /// When it was made.
    pub attempted_at: DateTime<Utc>,
    /// DELIVERED (a 2xx) or FAILED.
    pub result: AttemptResult,
    /// The endpoint's HTTP status, when it answered.
    pub response_status: Option<u16>,
    /// Why it did not answer, when it did not.
    pub error: Option<String>,
    /// How long the attempt took, in milliseconds.
    pub duration_ms: u64,
    /// When the next attempt is due; null once delivered or once every retry is spent.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// Whether an attempt delivered its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AttemptResult {
    /// The endpoint answered 2xx within the timeout.
    Delivered,
    /// Anything else.
    Failed,
}

impl DeliveryAttempt {
    /// The record of `task`'s attempt of an event of `event_type`, made at `attempted_at`, that
    /// took `duration_ms` and got `outcome`.
    pub fn new(
        task: &DeliveryTask,
        event_type: EventType,
        attempted_at: DateTime<Utc>,
        duration_ms: u64,
        outcome: &AttemptOutcome,
    ) -> DeliveryAttempt {
        let delivered = outcome.delivered();
        let (response_status, error) = match outcome {
            AttemptOutcome::Answered(status) => (Some(*status), None),
            AttemptOutcome::NoAnswer(reason) => (None, Some(reason.clone())),
        };
        DeliveryAttempt {
            event_id: task.event_id.clone(),
            event_type,
            attempt: task.attempt_number(),
            attempted_at,
            result: if delivered { AttemptResult::Delivered } else { AttemptResult::Failed },
            response_status,
            error,
            duration_ms,
            next_attempt_at: if delivered { None } else { task.retry(attempted_at).map(|next| next.due_at) },
        }
    }
}

/// An attempt's position in its endpoint's list (`evt_<32 hex>#<nn>`): its event (time-ordered)
/// and its number, so that the list goes by event, then attempt.
pub fn attempt_position(event_id: &str, attempt: u32) -> String {
    format!("{event_id}#{attempt:02}")
}

/// Whether `position` is one [`attempt_position`] makes (what a cursor of the list may carry).
pub fn is_attempt_position(position: &str) -> bool {
    let Some((event_id, attempt)) = position.split_once('#') else { return false };
    let hex = event_id.strip_prefix(super::EVENT_ID_PREFIX).unwrap_or_default();
    hex.len() == 32
        && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && attempt.len() == 2
        && attempt.bytes().all(|b| b.is_ascii_digit())
}

/// An attempt as stored: with whether what follows it (the next attempt queued, the endpoint's
/// failure streak updated) was done, so that a message redelivered after a crash finishes it
/// rather than attempting again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedAttempt {
    /// The attempt.
    pub attempt: DeliveryAttempt,
    /// Whether its follow-up is done.
    pub followed_up: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_failed_attempt_is_followed_by_the_schedule_until_it_is_spent() {
        let mut task = DeliveryTask::first("a", "e", "evt_1", at("2026-11-26T00:00:00Z"));
        let mut dues = Vec::new();
        let mut failed_at = at("2026-11-26T00:00:00Z");
        while let Some(next) = task.retry(failed_at) {
            dues.push((next.attempt_number(), (next.due_at - failed_at).num_seconds()));
            failed_at = next.due_at;
            task = next;
        }
        assert_eq!(dues, vec![(2, 5), (3, 300), (4, 1800), (5, 7200), (6, 18000), (7, 36000), (8, 36000)]);
        assert_eq!(task.attempts_made, 7);
    }

    #[test]
    fn attempt_positions_are_recognised_and_nothing_else() {
        let event = "evt_0193a2b4c5d67e8f90a1b2c3d4e5f607";
        assert_eq!(attempt_position(event, 3), format!("{event}#03"));
        assert!(is_attempt_position(&attempt_position(event, 12)));
        for other in [
            "",
            "evt_0193#01",
            &format!("{event}#1"),
            &format!("{event}#0x"),
            &format!("{}#01", event.to_uppercase()),
            "0193a2b4-c5d6-7e8f-90a1-b2c3d4e5f607",
        ] {
            assert!(!is_attempt_position(other), "{other}");
        }
    }

    #[test]
    fn an_attempt_records_its_answer_or_why_there_was_none() {
        let task = DeliveryTask::first("a", "e", "evt_1", at("2026-11-26T00:00:00Z"));
        let now = at("2026-11-26T00:00:01Z");
        let ok = DeliveryAttempt::new(&task, EventType::InvoiceSent, now, 12, &AttemptOutcome::Answered(204));
        assert_eq!(
            (ok.result, ok.response_status, ok.error.as_deref(), ok.next_attempt_at),
            (AttemptResult::Delivered, Some(204), None, None)
        );
        let refused =
            DeliveryAttempt::new(&task, EventType::InvoiceSent, now, 3, &AttemptOutcome::NoAnswer("timed out".into()));
        assert_eq!(
            (refused.result, refused.response_status, refused.error.as_deref(), refused.next_attempt_at),
            (AttemptResult::Failed, None, Some("timed out"), Some(at("2026-11-26T00:00:06Z")))
        );
        let redirect = DeliveryAttempt::new(&task, EventType::InvoiceSent, now, 3, &AttemptOutcome::Answered(301));
        assert_eq!((redirect.result, redirect.response_status), (AttemptResult::Failed, Some(301)));
    }
}
