//! The shared Xero call budget against moto: acquire and release of in-flight slots, the
//! minute, day and app-minute limits, blocks, and counts raised to what Xero observed. Every
//! call names its `now`, so windows are exact.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use invoicing_domain::{
    model::xero_budget::{Acquire, BudgetLimits, Lease, Used},
    ports::XeroBudgetStore,
};
use invoicing_dynamodb::DynamoStore;
use invoicing_test_support::MotoServer;
use std::time::Duration;

const TENANT: &str = "tenant-1";

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, h, m, s).unwrap()
}

fn limits() -> BudgetLimits {
    BudgetLimits { per_minute: 10, per_day: 25, in_flight: 3, app_per_minute: 1_000, lease: Duration::from_secs(40) }
}

async fn granted(store: &DynamoStore, tenant: &str, now: DateTime<Utc>, limits: &BudgetLimits) -> Lease {
    match store.try_acquire(tenant, now, limits).await.unwrap() {
        Acquire::Granted(lease) => lease,
        other => panic!("expected a grant, got {other:?}"),
    }
}

async fn waits(
    store: &DynamoStore,
    tenant: &str,
    now: DateTime<Utc>,
    limits: &BudgetLimits,
) -> (DateTime<Utc>, String) {
    match store.try_acquire(tenant, now, limits).await.unwrap() {
        Acquire::Wait { until, reason } => (until, reason),
        other => panic!("expected a wait, got {other:?}"),
    }
}

/// The `calls` counter of an item, 0 when absent.
async fn calls(store: &DynamoStore, pk: &str, sk: &str) -> u64 {
    let item = store
        .client()
        .get_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S(sk.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item;
    item.and_then(|i| i.get("calls").and_then(|c| c.as_n().ok()).map(|c| c.parse().unwrap())).unwrap_or(0)
}

#[tokio::test]
async fn slots_are_leased_counted_and_released() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let now = at(2, 31, 10);

    let mut leases = Vec::new();
    for _ in 0..3 {
        leases.push(granted(&store, TENANT, now, &limits()).await);
    }
    let mut slots: Vec<u32> = leases.iter().map(|l| l.slot).collect();
    slots.sort();
    assert_eq!(slots, vec![0, 1, 2]);
    assert!(leases.iter().all(|l| l.until == now + ChronoDuration::seconds(40) && l.tenant == TENANT));

    // All three slots taken: a short wait, and nothing counted for it.
    let (until, reason) = waits(&store, TENANT, now, &limits()).await;
    assert_eq!(reason, "concurrent");
    assert!(until >= now + ChronoDuration::milliseconds(250) && until <= now + ChronoDuration::seconds(1));
    assert_eq!(calls(&store, "XERO#tenant-1", "MINUTE#2026-11-26T02:31").await, 3);
    assert_eq!(calls(&store, "XERO#tenant-1", "DAY#2026-11-26").await, 3);
    assert_eq!(calls(&store, "XERO#app", "MINUTE#2026-11-26T02:31").await, 3);

    // A released slot is granted again; another tenant has slots of its own.
    store.release(&leases[1]).await.unwrap();
    let again = granted(&store, TENANT, now, &limits()).await;
    assert_eq!(again.slot, leases[1].slot);
    granted(&store, "tenant-2", now, &limits()).await;
    assert_eq!(calls(&store, "XERO#app", "MINUTE#2026-11-26T02:31").await, 5);

    // Releasing a lease that expired and was taken over leaves the new holder's slot alone.
    store.release(&leases[1]).await.unwrap();
    assert_eq!(waits(&store, TENANT, now, &limits()).await.1, "concurrent");

    // Leases expire: after 40 s every slot is free again.
    let later = now + ChronoDuration::seconds(41);
    for _ in 0..3 {
        granted(&store, TENANT, later, &limits()).await;
    }
}

#[tokio::test]
async fn the_minute_limit_waits_for_the_next_minute() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let now = at(2, 31, 10);

    for _ in 0..10 {
        let lease = granted(&store, TENANT, now, &limits()).await;
        store.release(&lease).await.unwrap();
    }

    assert_eq!(waits(&store, TENANT, now, &limits()).await, (at(2, 32, 0), "minute".to_string()));
    assert_eq!(calls(&store, "XERO#tenant-1", "MINUTE#2026-11-26T02:31").await, 10);
    assert_eq!(calls(&store, "XERO#tenant-1", "DAY#2026-11-26").await, 10);
    // Another tenant's minute is its own; the next minute starts at 0.
    granted(&store, "tenant-2", now, &limits()).await;
    granted(&store, TENANT, at(2, 32, 0), &limits()).await;
    assert_eq!(calls(&store, "XERO#tenant-1", "MINUTE#2026-11-26T02:32").await, 1);
}

#[tokio::test]
async fn the_day_limit_waits_for_the_next_utc_day() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;

    for minute in 0..3 {
        for _ in 0..limits().per_minute {
            let now = at(10, minute, 0);
            if calls(&store, "XERO#tenant-1", "DAY#2026-11-26").await == 25 {
                break;
            }
            let lease = granted(&store, TENANT, now, &limits()).await;
            store.release(&lease).await.unwrap();
        }
    }

    assert_eq!(calls(&store, "XERO#tenant-1", "DAY#2026-11-26").await, 25);
    let now = at(10, 5, 0);
    assert_eq!(
        waits(&store, TENANT, now, &limits()).await,
        (at(0, 0, 0) + ChronoDuration::days(1), "daily".to_string())
    );
    // The minute was not counted for the refused call.
    assert_eq!(calls(&store, "XERO#tenant-1", "MINUTE#2026-11-26T10:05").await, 0);
    granted(&store, TENANT, at(0, 0, 0) + ChronoDuration::days(1), &limits()).await;
}

#[tokio::test]
async fn the_app_minute_limit_counts_every_tenant() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let limits = BudgetLimits { app_per_minute: 4, ..limits() };
    let now = at(2, 31, 10);

    for tenant in ["a", "b", "c", "d"] {
        granted(&store, tenant, now, &limits).await;
    }

    assert_eq!(waits(&store, "e", now, &limits).await, (at(2, 32, 0), "appminute".to_string()));
}

#[tokio::test]
async fn blocks_hold_every_caller_until_they_end() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let now = at(2, 31, 10);
    let until = now + ChronoDuration::seconds(2);

    store.block(TENANT, until, Some("daily")).await.unwrap();
    // An earlier block does not shorten it.
    store.block(TENANT, now + ChronoDuration::seconds(1), Some("minute")).await.unwrap();

    assert_eq!(waits(&store, TENANT, now, &limits()).await, (until, "daily".to_string()));
    assert_eq!(waits(&store, TENANT, until, &limits()).await, (until, "daily".to_string()));
    assert_eq!(calls(&store, "XERO#tenant-1", "MINUTE#2026-11-26T02:31").await, 0);
    granted(&store, "tenant-2", now, &limits()).await;
    granted(&store, TENANT, until + ChronoDuration::milliseconds(1), &limits()).await;

    // `appminute` blocks the whole app.
    let app_until = now + ChronoDuration::seconds(30);
    store.block(TENANT, app_until, Some("appminute")).await.unwrap();
    assert_eq!(waits(&store, "tenant-3", now, &limits()).await, (app_until, "appminute".to_string()));
    // A block without a problem is a minute's.
    store.block("tenant-4", at(3, 0, 0), None).await.unwrap();
    assert_eq!(waits(&store, "tenant-4", at(2, 59, 0), &limits()).await, (at(3, 0, 0), "minute".to_string()));
}

#[tokio::test]
async fn observed_counts_raise_ours_and_never_lower_them() {
    let moto = MotoServer::start();
    let store = moto.fresh_store().await;
    let now = at(2, 31, 10);
    for _ in 0..2 {
        granted(&store, TENANT, now, &limits()).await;
    }

    // Xero counted more this minute (another app) and less today (our count stands).
    store.observe(TENANT, now, &Used { minute: Some(8), day: Some(1), app_minute: None }).await.unwrap();

    assert_eq!(calls(&store, "XERO#tenant-1", "MINUTE#2026-11-26T02:31").await, 8);
    assert_eq!(calls(&store, "XERO#tenant-1", "DAY#2026-11-26").await, 2);
    assert_eq!(calls(&store, "XERO#app", "MINUTE#2026-11-26T02:31").await, 2);
    // One slot is still free: two more calls fill the minute of 10.
    let lease = granted(&store, TENANT, now, &limits()).await;
    store.release(&lease).await.unwrap();
    granted(&store, TENANT, now, &limits()).await;
    assert_eq!(waits(&store, TENANT, now, &limits()).await.1, "minute");
}
