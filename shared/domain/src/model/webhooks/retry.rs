//! When a failed delivery is tried again, and when an endpoint that keeps failing is turned off.
//! Delays longer than SQS can hold one message are reached in hops: the message comes back, is
//! not yet due, and is sent on with the rest of the wait.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// How long an attempt waits for the endpoint's answer; anything but a 2xx within it is a failure.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;

/// The wait after each failed attempt (the Standard Webhooks and Svix schedule): 5 s, 5 min,
/// 30 min, 2 h, 5 h, 10 h and 10 h, so eight attempts spread over 27 h 35 min 5 s.
pub const RETRY_DELAYS: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * MINUTE),
    Duration::from_secs(30 * MINUTE),
    Duration::from_secs(2 * HOUR),
    Duration::from_secs(5 * HOUR),
    Duration::from_secs(10 * HOUR),
    Duration::from_secs(10 * HOUR),
];

/// An endpoint none of whose attempts succeeded for this long is disabled.
pub const DISABLE_AFTER: Duration = Duration::from_secs(24 * HOUR);

/// The longest delay SQS gives one message (`DelaySeconds`, 15 minutes).
pub const MAX_QUEUE_DELAY: Duration = Duration::from_secs(15 * MINUTE);

/// When to try again after `failed_attempts` attempts (counted from 1) have failed, the last at
/// `failed_at`; `None` once every retry is spent.
pub fn next_attempt(failed_attempts: u32, failed_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let index = usize::try_from(failed_attempts.checked_sub(1)?).ok()?;
    let delay = TimeDelta::from_std(*RETRY_DELAYS.get(index)?).ok()?;
    failed_at.checked_add_signed(delay)
}

/// The delay to give the message that carries an attempt due at `due`: the whole wait when SQS
/// can hold it (rounded up to a second, so it never arrives early), else SQS's longest.
pub fn queue_delay(due: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    let wait = (due - now).to_std().unwrap_or(Duration::ZERO);
    let whole_seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    Duration::from_secs(whole_seconds).min(MAX_QUEUE_DELAY)
}

/// Since when every attempt to reach an endpoint has failed (`None`: the last one succeeded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FailureStreak {
    /// When the first of the failed attempts since the last success was made.
    pub failing_since: Option<DateTime<Utc>>,
}

impl FailureStreak {
    /// After an attempt that succeeded.
    pub fn after_success(self) -> FailureStreak {
        FailureStreak { failing_since: None }
    }

    /// After an attempt that failed at `at`.
    pub fn after_failure(self, at: DateTime<Utc>) -> FailureStreak {
        FailureStreak { failing_since: Some(self.failing_since.map_or(at, |since| since.min(at))) }
    }

    /// Whether the endpoint has failed everything for [`DISABLE_AFTER`] by `now`.
    pub fn disables(self, now: DateTime<Utc>) -> bool {
        let limit = TimeDelta::from_std(DISABLE_AFTER).expect("a day fits");
        self.failing_since.is_some_and(|since| now - since >= limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn retries_start_within_30_seconds_grow_and_last_more_than_a_day() {
        assert!(RETRY_DELAYS[0] <= Duration::from_secs(30));
        assert!(RETRY_DELAYS.windows(2).all(|pair| pair[0] <= pair[1]));
        let total: Duration = RETRY_DELAYS.iter().sum();
        assert_eq!(total, Duration::from_secs(27 * HOUR + 35 * MINUTE + 5));
        assert!(total >= DISABLE_AFTER);
    }

    #[test]
    fn each_failure_schedules_the_next_attempt_until_they_are_spent() {
        let first = at("2026-11-26T10:00:00Z");
        assert_eq!(next_attempt(1, first), Some(at("2026-11-26T10:00:05Z")));
        assert_eq!(next_attempt(2, at("2026-11-26T10:00:05Z")), Some(at("2026-11-26T10:05:05Z")));
        assert_eq!(next_attempt(7, first), Some(at("2026-11-26T20:00:00Z")));
        assert_eq!(next_attempt(8, first), None);
        assert_eq!(next_attempt(0, first), None);
        let mut due = first;
        let mut attempts = 1;
        while let Some(next) = next_attempt(attempts, due) {
            due = next;
            attempts += 1;
        }
        assert_eq!((attempts, due), (8, at("2026-11-27T13:35:05Z")));
    }

    #[test]
    fn long_waits_are_reached_in_hops_sqs_can_hold() {
        let now = at("2026-11-26T10:00:00Z");
        assert_eq!(queue_delay(at("2026-11-26T10:00:05Z"), now), Duration::from_secs(5));
        assert_eq!(queue_delay(now + TimeDelta::milliseconds(12_300), now), Duration::from_secs(13));
        assert_eq!(queue_delay(at("2026-11-26T09:59:00Z"), now), Duration::ZERO);
        // Ten hours: 40 hops of 15 minutes, the last arriving exactly when due.
        let due = at("2026-11-26T20:00:00Z");
        let (mut clock, mut hops) = (now, 0);
        while clock < due {
            clock += TimeDelta::from_std(queue_delay(due, clock)).unwrap();
            hops += 1;
        }
        assert_eq!((hops, clock), (40, due));
    }

    #[test]
    fn an_endpoint_failing_everything_for_a_day_is_disabled() {
        let start = at("2026-11-26T10:00:00Z");
        let streak = FailureStreak::default().after_failure(start);
        assert_eq!(streak.failing_since, Some(start));
        let later = streak.after_failure(at("2026-11-27T09:59:59Z"));
        assert_eq!(later.failing_since, Some(start));
        assert!(!later.disables(at("2026-11-27T09:59:59Z")));
        assert!(later.disables(at("2026-11-27T10:00:00Z")));
    }

    #[test]
    fn one_success_ends_the_streak() {
        let streak = FailureStreak::default().after_failure(at("2026-11-26T10:00:00Z")).after_success();
        assert_eq!(streak, FailureStreak::default());
        assert!(!streak.disables(at("2026-12-26T10:00:00Z")));
        let again = streak.after_failure(at("2026-11-27T11:00:00Z"));
        assert!(!again.disables(at("2026-11-28T10:59:59Z")));
    }
}
