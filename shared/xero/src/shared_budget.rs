//! The Xero call budget every worker instance shares: [`SharedBudget`] grants a client's calls
//! through the domain's `XeroBudgetStore` port (DynamoDB in production), so that all instances
//! together keep within Xero's per-tenant and per-app limits (docs/design.md, "Xero call budget").

use crate::{BudgetFuture, BudgetWait, CallBudget, CallGrant, Remaining};
use chrono::{DateTime, Utc};
use invoicing_domain::{
    model::xero_budget::{Acquire, BudgetLimits, Lease, Remaining as Observed, Used},
    ports::XeroBudgetStore,
};
use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

/// The time the budget counts windows and leases by.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// How long a caller waits when the budget's store cannot be reached: the call is not made
/// (failing closed), and the client waits or hands the wait back as a rate limit.
pub const STORE_UNAVAILABLE_WAIT: Duration = Duration::from_secs(1);

/// A [`CallBudget`] over a shared store.
pub struct SharedBudget<S> {
    store: S,
    limits: BudgetLimits,
    clock: Clock,
}

impl<S> SharedBudget<S> {
    /// A budget of `limits` kept in `store`, on the system clock.
    pub fn new(store: S, limits: BudgetLimits) -> Self {
        Self::with_clock(store, limits, Arc::new(Utc::now))
    }

    /// The same on another clock (tests pin the minute with it).
    pub fn with_clock(store: S, limits: BudgetLimits, clock: Clock) -> Self {
        SharedBudget { store, limits, clock }
    }

    /// Its limits.
    pub fn limits(&self) -> &BudgetLimits {
        &self.limits
    }
}

impl<S: XeroBudgetStore> CallBudget for SharedBudget<S> {
    fn acquire<'a>(&'a self, tenant: &'a str) -> BudgetFuture<'a, Result<CallGrant, BudgetWait>> {
        Box::pin(async move {
            let now = (self.clock)();
            match self.store.try_acquire(tenant, now, &self.limits).await {
                Ok(Acquire::Granted(lease)) => {
                    Ok(CallGrant::new(lease.tenant, lease.slot, lease.lease_id, SystemTime::from(lease.until)))
                }
                Ok(Acquire::Wait { until, reason }) => {
                    Err(BudgetWait { retry_after: (until - now).to_std().unwrap_or(Duration::ZERO), reason })
                }
                Err(error) => {
                    tracing::warn!(error = %error.report(), "the Xero call budget could not be read; not calling");
                    Err(BudgetWait { retry_after: STORE_UNAVAILABLE_WAIT, reason: "budget unavailable".into() })
                }
            }
        })
    }

    fn release<'a>(&'a self, grant: CallGrant, remaining: Remaining) -> BudgetFuture<'a, ()> {
        Box::pin(async move {
            let lease = Lease {
                tenant: grant.tenant,
                slot: grant.slot,
                lease_id: grant.lease_id,
                until: DateTime::<Utc>::from(grant.until),
            };
            if let Err(error) = self.store.release(&lease).await {
                // The lease expires anyway.
                tracing::warn!(error = %error.report(), "a Xero call slot could not be released");
            }
            let observed = Observed { minute: remaining.minute, day: remaining.day, app_minute: remaining.app_minute };
            let used = Used::from_remaining(&self.limits, &observed);
            if !used.is_empty() {
                if let Err(error) = self.store.observe(&lease.tenant, (self.clock)(), &used).await {
                    tracing::warn!(error = %error.report(), "Xero's call counts could not be recorded");
                }
            }
        })
    }

    fn block<'a>(&'a self, tenant: &'a str, until: SystemTime, problem: Option<&'a str>) -> BudgetFuture<'a, ()> {
        Box::pin(async move {
            if let Err(error) = self.store.block(tenant, DateTime::<Utc>::from(until), problem).await {
                tracing::warn!(error = %error.report(), "a Xero rate-limit block could not be recorded");
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use invoicing_domain::memory::InMemoryXeroBudget;

    fn fixed(now: DateTime<Utc>) -> Clock {
        Arc::new(move || now)
    }

    #[tokio::test]
    async fn grants_waits_and_observed_counts_go_through_the_store() {
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 2, 31, 30).unwrap();
        let store = InMemoryXeroBudget::new();
        let limits = BudgetLimits { per_minute: 3, ..BudgetLimits::default() };
        let budget = SharedBudget::with_clock(store.clone(), limits, fixed(now));

        let grant = budget.acquire("t").await.unwrap();
        assert_eq!((grant.tenant.as_str(), grant.slot), ("t", 0));
        assert_eq!(grant.until, SystemTime::from(now + limits.lease));
        // Xero says 1 call remains this minute: 2 were used, ours and one we did not count.
        budget.release(grant, Remaining { minute: Some(1), day: None, app_minute: None }).await;
        assert_eq!(store.calls("t", "2026-11-26T02:31"), 2);

        budget.acquire("t").await.unwrap();
        assert_eq!(
            budget.acquire("t").await.unwrap_err(),
            BudgetWait { retry_after: Duration::from_secs(30), reason: "minute".into() }
        );

        budget.block("u", SystemTime::from(now + chrono::Duration::seconds(2)), Some("daily")).await;
        assert_eq!(
            budget.acquire("u").await.unwrap_err(),
            BudgetWait { retry_after: Duration::from_secs(2), reason: "daily".into() }
        );
    }
}
