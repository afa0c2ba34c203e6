//! Who may call Xero, and when: the client asks a [`CallBudget`] before every API call. The
//! default, [`InProcessBudget`], keeps Xero's per-tenant limits within one process; a shared
//! implementation (the reconcile worker's, over DynamoDB) keeps them across every instance.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A boxed future, so that [`CallBudget`] stays object-safe.
pub type BudgetFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Grants API calls. Shared by every client of a tenant (through an `Arc`).
pub trait CallBudget: Send + Sync {
    /// Before each HTTP call to the API (not the token endpoint): Ok(grant) to go ahead, Err(wait) to not call.
    fn acquire<'a>(&'a self, tenant: &'a str) -> BudgetFuture<'a, Result<CallGrant, BudgetWait>>;
    /// After the call, with what Xero's headers said remained (X-MinLimit-Remaining, X-DayLimit-Remaining, X-AppMinLimit-Remaining; None when absent).
    fn release<'a>(&'a self, grant: CallGrant, remaining: Remaining) -> BudgetFuture<'a, ()>;
    /// Xero answered 429: nobody calls for this tenant (or app-wide, for problem "appminute") until `until`.
    fn block<'a>(&'a self, tenant: &'a str, until: SystemTime, problem: Option<&'a str>) -> BudgetFuture<'a, ()>;
}

/// A call the budget allowed. Give it back through [`CallBudget::release`]; dropping it frees an
/// in-process permit, and a shared budget's slot is a lease that expires at `until` anyway.
#[derive(Debug)]
pub struct CallGrant {
    /// The tenant (or client id) it counts against.
    pub tenant: String,
    /// Which in-flight slot it holds.
    pub slot: u32,
    /// The lease's id (empty for the in-process budget).
    pub lease_id: String,
    /// When the slot is free again even if never released.
    pub until: SystemTime,
    permit: Option<OwnedSemaphorePermit>,
}

impl CallGrant {
    /// A grant of a shared budget's slot.
    pub fn new(tenant: impl Into<String>, slot: u32, lease_id: impl Into<String>, until: SystemTime) -> CallGrant {
        CallGrant { tenant: tenant.into(), slot, lease_id: lease_id.into(), until, permit: None }
    }
}

/// The budget's answer when a call may not be made now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetWait {
    /// How long to wait before asking again.
    pub retry_after: Duration,
    /// Which limit, in Xero's `X-Rate-Limit-Problem` words (`concurrent`, `minute`, `daily`,
    /// `appminute`). A `daily` wait is never waited inside a call.
    pub reason: String,
}

/// What Xero's rate-limit headers said remained after a call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Remaining {
    /// `X-MinLimit-Remaining`.
    pub minute: Option<u32>,
    /// `X-DayLimit-Remaining`.
    pub day: Option<u32>,
    /// `X-AppMinLimit-Remaining`.
    pub app_minute: Option<u32>,
}

/// Xero's per-tenant limits within this process: calls in flight (callers wait for a permit) and
/// calls per UTC minute (beyond it: wait for the next minute). 429s block the tenant until their
/// `Retry-After`. What a client without a shared budget uses.
#[derive(Debug)]
pub struct InProcessBudget {
    in_flight: usize,
    per_minute: u32,
    tenants: Mutex<HashMap<String, TenantState>>,
    app_blocked: Mutex<Option<(SystemTime, String)>>,
}

#[derive(Debug)]
struct TenantState {
    permits: Arc<Semaphore>,
    /// (minute since the epoch, calls in it).
    minute: (u64, u32),
    blocked: Option<(SystemTime, String)>,
}

impl Default for InProcessBudget {
    /// Xero's limits: 5 in flight, 60 a minute.
    fn default() -> Self {
        InProcessBudget::new(5, 60)
    }
}

impl InProcessBudget {
    /// A budget of `in_flight` calls at once and `per_minute` a minute per tenant.
    pub fn new(in_flight: usize, per_minute: u32) -> InProcessBudget {
        InProcessBudget { in_flight, per_minute, tenants: Mutex::new(HashMap::new()), app_blocked: Mutex::new(None) }
    }

    fn with_tenant<T>(&self, tenant: &str, f: impl FnOnce(&mut TenantState) -> T) -> T {
        let mut tenants = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        let state = tenants.entry(tenant.to_string()).or_insert_with(|| TenantState {
            permits: Arc::new(Semaphore::new(self.in_flight)),
            minute: (0, 0),
            blocked: None,
        });
        f(state)
    }

    /// A block still running at `now`, as a wait.
    fn blocked(&self, tenant: &str, now: SystemTime) -> Option<BudgetWait> {
        let app = self.app_blocked.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let own = self.with_tenant(tenant, |state| state.blocked.clone());
        [app, own]
            .into_iter()
            .flatten()
            .filter_map(|(until, reason)| {
                until.duration_since(now).ok().filter(|left| !left.is_zero()).map(|left| (left, reason))
            })
            .max_by_key(|(left, _)| *left)
            .map(|(retry_after, reason)| BudgetWait { retry_after, reason })
    }

    /// Counts a call in the minute of `now`, or says how long until the next minute.
    fn count(&self, tenant: &str, now: SystemTime) -> Result<(), BudgetWait> {
        let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let minute = since_epoch.as_secs() / 60;
        let per_minute = self.per_minute;
        self.with_tenant(tenant, |state| {
            if state.minute.0 != minute {
                state.minute = (minute, 0);
            }
            if state.minute.1 >= per_minute {
                let next = Duration::from_secs((minute + 1) * 60);
                return Err(BudgetWait { retry_after: next.saturating_sub(since_epoch), reason: "minute".into() });
            }
            state.minute.1 += 1;
            Ok(())
        })
    }
}

impl CallBudget for InProcessBudget {
    fn acquire<'a>(&'a self, tenant: &'a str) -> BudgetFuture<'a, Result<CallGrant, BudgetWait>> {
        Box::pin(async move {
            if let Some(wait) = self.blocked(tenant, SystemTime::now()) {
                return Err(wait);
            }
            let permits = self.with_tenant(tenant, |state| Arc::clone(&state.permits));
            // The semaphore is never closed, so acquiring only waits.
            let permit = permits.acquire_owned().await.ok();
            let now = SystemTime::now();
            self.count(tenant, now)?;
            Ok(CallGrant { tenant: tenant.to_string(), slot: 0, lease_id: String::new(), until: now, permit })
        })
    }

    fn release<'a>(&'a self, grant: CallGrant, _remaining: Remaining) -> BudgetFuture<'a, ()> {
        drop(grant.permit);
        Box::pin(std::future::ready(()))
    }

    fn block<'a>(&'a self, tenant: &'a str, until: SystemTime, problem: Option<&'a str>) -> BudgetFuture<'a, ()> {
        let reason = problem.unwrap_or("minute").to_string();
        let later = |current: &mut Option<(SystemTime, String)>| {
            if current.as_ref().is_none_or(|(known, _)| *known <= until) {
                *current = Some((until, reason.clone()));
            }
        };
        if problem.is_some_and(|p| p.eq_ignore_ascii_case("appminute")) {
            later(&mut self.app_blocked.lock().unwrap_or_else(|e| e.into_inner()));
        } else {
            self.with_tenant(tenant, |state| later(&mut state.blocked));
        }
        Box::pin(std::future::ready(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_calls_per_utc_minute_and_tenant() {
        let budget = InProcessBudget::new(2, 3);
        let at = |secs: u64| UNIX_EPOCH + Duration::from_secs(secs);
        for _ in 0..3 {
            budget.count("t", at(600)).unwrap();
        }
        assert_eq!(
            budget.count("t", at(615)),
            Err(BudgetWait { retry_after: Duration::from_secs(45), reason: "minute".into() })
        );
        // Another tenant has its own minute, and the next minute starts again.
        budget.count("u", at(615)).unwrap();
        budget.count("t", at(660)).unwrap();
    }

    #[tokio::test]
    async fn blocks_last_until_their_end_the_later_one_wins() {
        let budget = InProcessBudget::default();
        let at = |secs: u64| UNIX_EPOCH + Duration::from_secs(secs);
        budget.block("t", at(100), Some("Daily")).await;
        budget.block("t", at(50), Some("minute")).await;
        assert_eq!(
            budget.blocked("t", at(40)),
            Some(BudgetWait { retry_after: Duration::from_secs(60), reason: "Daily".into() })
        );
        assert_eq!(budget.blocked("t", at(100)), None);
        assert_eq!(budget.blocked("u", at(40)), None);
        budget.block("t", at(200), Some("appminute")).await;
        assert_eq!(budget.blocked("u", at(150)).map(|w| w.reason), Some("appminute".to_string()));
    }

    #[tokio::test]
    async fn permits_wait_and_are_freed_by_release_or_drop() {
        let budget = Arc::new(InProcessBudget::new(1, 100));
        let grant = budget.acquire("t").await.unwrap();
        let waiting = tokio::spawn({
            let budget = Arc::clone(&budget);
            async move { budget.acquire("t").await.map(|g| g.tenant) }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(grant);
        assert_eq!(waiting.await.unwrap(), Ok("t".to_string()));
    }
}
