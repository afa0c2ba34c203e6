//! Optimistic concurrency: a write that lost a race (`ErrorKind::Contended`) is retried from a
//! fresh read, with jittered backoff, so that concurrent writers never lose each other's changes.

use crate::{Error, ErrorKind, Result};
use rand::Rng;
use std::{future::Future, time::Duration};

/// Enough for dozens of writers racing on one item (each round, one of them wins).
pub const MAX_ATTEMPTS: u32 = 60;

/// Runs `operation` until it does not lose a race, waiting a little longer (with jitter) each time; a lost race after `MAX_ATTEMPTS` is a contention answer ("retry shortly").
pub async fn retry_on_contention<T, F, Fut>(mut operation: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    for attempt in 0..MAX_ATTEMPTS {
        match operation().await {
            Err(error) if error.kind() == ErrorKind::Contended => tokio::time::sleep(backoff(attempt)).await,
            other => return other,
        }
    }
    Err(Error::contended("the resource is being changed by other requests; retry shortly"))
}

/// Full jitter: a random wait up to 5 ms x 2^attempt, at most 250 ms.
fn backoff(attempt: u32) -> Duration {
    let ceiling = (5u64 << attempt.min(6)).min(250);
    Duration::from_millis(rand::rng().random_range(0..=ceiling))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[tokio::test]
    async fn retries_contention_and_passes_other_results_through() {
        let calls = Cell::new(0);
        let result = retry_on_contention(|| {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                if n < 3 {
                    Err(Error::contended("lost"))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(result.unwrap(), 3);

        let calls = Cell::new(0);
        let result: Result<()> = retry_on_contention(|| {
            calls.set(calls.get() + 1);
            async { Err(Error::conflict("not a draft")) }
        })
        .await;
        assert_eq!(result.unwrap_err().kind(), ErrorKind::Conflict);
        assert_eq!(calls.get(), 1);
    }
}
