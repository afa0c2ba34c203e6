//! The shared budget of Xero API calls: Xero's limits per tenant (calls in flight, a minute, a
//! day) and per app (a minute), the windows they are counted in, how long a call's in-flight slot
//! is leased, and what Xero's own counts of what remains mean for ours. Pure rules; the
//! `XeroBudgetStore` port keeps the counts where every worker instance sees them.

use chrono::{DateTime, Duration as ChronoDuration, DurationRound, Utc};
use rand::Rng;
use std::time::Duration;

/// Xero's rate-limit problems (its `X-Rate-Limit-Problem` vocabulary), used as wait reasons.
pub mod problem {
    /// Too many calls in flight for the tenant.
    pub const CONCURRENT: &str = "concurrent";
    /// The tenant's minute limit.
    pub const MINUTE: &str = "minute";
    /// The tenant's daily limit.
    pub const DAILY: &str = "daily";
    /// The app's minute limit, across all tenants.
    pub const APP_MINUTE: &str = "appminute";
}

/// The key the app-wide counters and blocks are kept under, beside the tenants' keys (tenant ids
/// are UUIDs and client ids 32 hex characters, so no tenant has this key).
pub const APP_KEY: &str = "app";

/// What a call lease lasts beyond the request timeout: a worker that dies mid-call (its Lambda
/// timed out) holds its slot at most this long after the call could have ended.
pub const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// Xero's limits, and how long an in-flight slot is leased.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetLimits {
    /// Calls a minute per tenant.
    pub per_minute: u32,
    /// Calls a (UTC) day per tenant.
    pub per_day: u32,
    /// Calls in flight at once per tenant.
    pub in_flight: u32,
    /// Calls a minute for the whole app, across tenants.
    pub app_per_minute: u32,
    /// How long an in-flight slot is held unless released first ([`lease_length`] of the
    /// client's request timeout).
    pub lease: Duration,
}

impl Default for BudgetLimits {
    /// Xero's documented limits, and the lease for the client's default 10 s request timeout.
    fn default() -> Self {
        BudgetLimits {
            per_minute: 60,
            per_day: 5_000,
            in_flight: 5,
            app_per_minute: 10_000,
            lease: lease_length(Duration::from_secs(10)),
        }
    }
}

/// The lease of an in-flight slot for calls that time out after `request_timeout`.
pub fn lease_length(request_timeout: Duration) -> Duration {
    LEASE_MARGIN + request_timeout
}

/// The UTC minute `now` falls in, as a key: `2026-11-26T02:31`.
pub fn minute_key(now: DateTime<Utc>) -> String {
    now.format("%Y-%m-%dT%H:%M").to_string()
}

/// The UTC day `now` falls in, as a key: `2026-11-26`.
pub fn day_key(now: DateTime<Utc>) -> String {
    now.format("%Y-%m-%d").to_string()
}

/// When the minute window of `now` ends.
pub fn next_minute(now: DateTime<Utc>) -> DateTime<Utc> {
    truncate(now, ChronoDuration::minutes(1)) + ChronoDuration::minutes(1)
}

/// When the UTC day of `now` ends.
pub fn next_day(now: DateTime<Utc>) -> DateTime<Utc> {
    truncate(now, ChronoDuration::days(1)) + ChronoDuration::days(1)
}

fn truncate(now: DateTime<Utc>, unit: ChronoDuration) -> DateTime<Utc> {
    // Only fails for spans larger than the timestamp range, which minutes and days are not.
    now.duration_trunc(unit).unwrap_or(now)
}

/// How long a caller that found every in-flight slot taken waits before trying again: a random
/// 250 ms to 1 s, so that waiting instances do not all come back together.
pub fn slot_wait() -> Duration {
    Duration::from_millis(rand::rng().random_range(250..=1_000))
}

/// What a 429 blocks: the tenant, or every tenant of the app (`appminute`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockScope {
    /// This tenant only.
    Tenant,
    /// The whole app.
    App,
}

/// The scope of a 429 with this `X-Rate-Limit-Problem`.
pub fn block_scope(problem: Option<&str>) -> BlockScope {
    match problem {
        Some(p) if p.eq_ignore_ascii_case(problem::APP_MINUTE) => BlockScope::App,
        _ => BlockScope::Tenant,
    }
}

/// Whether a 429 with this problem is the daily limit (any case), which a call never waits out.
pub fn is_daily(problem: Option<&str>) -> bool {
    problem.is_some_and(|p| p.eq_ignore_ascii_case(problem::DAILY))
}

/// What Xero's answer said remains (`X-MinLimit-Remaining`, `X-DayLimit-Remaining`,
/// `X-AppMinLimit-Remaining`); `None` when a header was absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Remaining {
    /// Calls left this minute for the tenant.
    pub minute: Option<u32>,
    /// Calls left today for the tenant.
    pub day: Option<u32>,
    /// Calls left this minute for the app.
    pub app_minute: Option<u32>,
}

/// Calls Xero counted as used in each window: the floor our counters are raised to, so that
/// calls we did not count (other apps on the tenant, counts lost to a crash) are respected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Used {
    /// This minute, for the tenant.
    pub minute: Option<u32>,
    /// Today, for the tenant.
    pub day: Option<u32>,
    /// This minute, for the app.
    pub app_minute: Option<u32>,
}

impl Used {
    /// Used = limit - remaining, per window Xero reported (0 when it reports more than the limit).
    pub fn from_remaining(limits: &BudgetLimits, remaining: &Remaining) -> Used {
        let used = |limit: u32, left: Option<u32>| left.map(|left| limit.saturating_sub(left));
        Used {
            minute: used(limits.per_minute, remaining.minute),
            day: used(limits.per_day, remaining.day),
            app_minute: used(limits.app_per_minute, remaining.app_minute),
        }
    }

    /// Whether there is nothing to record.
    pub fn is_empty(&self) -> bool {
        self.minute.is_none() && self.day.is_none() && self.app_minute.is_none()
    }
}

/// One call's in-flight slot, held until released or until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The tenant (or client id) it counts against.
    pub tenant: String,
    /// Which of the tenant's `in_flight` slots.
    pub slot: u32,
    /// A random id: only its holder releases the slot.
    pub lease_id: String,
    /// When the slot is free again anyway.
    pub until: DateTime<Utc>,
}

/// The answer to a request for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquire {
    /// Go ahead; release the lease after the call.
    Granted(Lease),
    /// Do not call before `until`.
    Wait {
        /// When to try again.
        until: DateTime<Utc>,
        /// Which limit (a [`problem`], or a 429's own problem).
        reason: String,
    },
}

/// Why a request for a call failed, in the order a wait is reported when several apply: a block
/// lasts longest and the day outlasts the minute; a busy slot is the shortest wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A 429 blocked calls until then (with its problem, if Xero gave one).
    Blocked {
        /// The end of the block.
        until: DateTime<Utc>,
        /// Xero's problem.
        problem: Option<String>,
    },
    /// The tenant's day is used up.
    Day,
    /// The tenant's minute is used up.
    Minute,
    /// The app's minute is used up.
    AppMinute,
    /// Every in-flight slot is taken.
    Slots,
}

impl Refusal {
    /// The wait it means at `now`.
    pub fn wait(&self, now: DateTime<Utc>) -> Acquire {
        let (until, reason) = match self {
            Refusal::Blocked { until, problem } => {
                (*until, problem.clone().unwrap_or_else(|| problem::MINUTE.to_string()))
            }
            Refusal::Day => (next_day(now), problem::DAILY.to_string()),
            Refusal::Minute => (next_minute(now), problem::MINUTE.to_string()),
            Refusal::AppMinute => (next_minute(now), problem::APP_MINUTE.to_string()),
            Refusal::Slots => (now + slot_wait(), problem::CONCURRENT.to_string()),
        };
        Acquire::Wait { until, reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, h, m, s).unwrap() + ChronoDuration::milliseconds(250)
    }

    #[test]
    fn windows_are_utc_minutes_and_days() {
        assert_eq!(minute_key(at(2, 31, 59)), "2026-11-26T02:31");
        assert_eq!(day_key(at(23, 59, 59)), "2026-11-26");
        assert_eq!(next_minute(at(2, 31, 59)), Utc.with_ymd_and_hms(2026, 11, 26, 2, 32, 0).unwrap());
        assert_eq!(next_minute(at(23, 59, 0)), Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap());
        assert_eq!(next_day(at(0, 0, 0)), Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap());
    }

    #[test]
    fn defaults_are_xeros_documented_limits() {
        let limits = BudgetLimits::default();
        assert_eq!(
            (limits.per_minute, limits.per_day, limits.in_flight, limits.app_per_minute),
            (60, 5_000, 5, 10_000)
        );
        assert_eq!(limits.lease, Duration::from_secs(40));
    }

    #[test]
    fn used_is_the_limit_less_what_remains() {
        let limits = BudgetLimits::default();
        let remaining = Remaining { minute: Some(59), day: None, app_minute: Some(10_500) };
        assert_eq!(Used::from_remaining(&limits, &remaining), Used { minute: Some(1), day: None, app_minute: Some(0) });
        assert!(Used::from_remaining(&limits, &Remaining::default()).is_empty());
    }

    #[test]
    fn scopes_and_daily_ignore_case() {
        assert_eq!(block_scope(Some("AppMinute")), BlockScope::App);
        assert_eq!(block_scope(Some("minute")), BlockScope::Tenant);
        assert_eq!(block_scope(None), BlockScope::Tenant);
        assert!(is_daily(Some("DAILY")));
        assert!(!is_daily(Some("minute")));
    }

    #[test]
    fn refusals_wait_until_their_window_ends() {
        let now = at(2, 31, 10);
        let wait = |r: Refusal| match r.wait(now) {
            Acquire::Wait { until, reason } => (until, reason),
            other => panic!("{other:?}"),
        };
        assert_eq!(wait(Refusal::Minute), (next_minute(now), "minute".to_string()));
        assert_eq!(wait(Refusal::AppMinute), (next_minute(now), "appminute".to_string()));
        assert_eq!(wait(Refusal::Day), (next_day(now), "daily".to_string()));
        let until = now + ChronoDuration::seconds(2);
        assert_eq!(wait(Refusal::Blocked { until, problem: Some("daily".into()) }), (until, "daily".to_string()));
        let (until, reason) = wait(Refusal::Slots);
        assert_eq!(reason, "concurrent");
        assert!(until >= now + ChronoDuration::milliseconds(250) && until <= now + ChronoDuration::seconds(1));
    }
}
