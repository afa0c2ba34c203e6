//! The Lambda runtime loop, kept alive across a failed exchange with the Runtime API.
//!
//! `lambda_runtime` ends its loop, and with it the process, when a call to the Runtime API fails
//! at the transport level (a connection closed under it). On AWS the environment is then replaced
//! after an error; under `cargo lambda watch` (`make run`, the tests) nothing starts the function
//! again, so every later request to it waits forever. Polling `/next` again is what the Runtime API
//! expects of a runtime in either place, so the loop restarts, a few times in a row at most.

use std::{
    future::Future,
    time::{Duration, Instant},
};

/// Restarts in a row (each within `SETTLED` of the one before) before the error ends the process.
const MAX_RESTARTS_IN_A_ROW: u32 = 5;
/// A loop that ran this long before failing starts the count again.
const SETTLED: Duration = Duration::from_secs(10);

/// Runs `runtime_loop` (e.g. `|| lambda_http::run(service.clone())`) until it ends without
/// error; after an error, logs it and runs it again after a short pause growing with each failure
/// in a row, up to `MAX_RESTARTS_IN_A_ROW`.
pub async fn run_restarting<F, Fut, E>(mut runtime_loop: F) -> Result<(), E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut in_a_row = 0u32;
    loop {
        let started = Instant::now();
        let error = match runtime_loop().await {
            Ok(()) => return Ok(()),
            Err(error) => error,
        };
        in_a_row = if started.elapsed() >= SETTLED { 1 } else { in_a_row + 1 };
        if in_a_row > MAX_RESTARTS_IN_A_ROW {
            tracing::error!(error = %error, "the runtime loop failed again; the function exits");
            return Err(error);
        }
        tracing::error!(error = %error, restart = in_a_row, "the runtime loop failed; polling the Runtime API again");
        tokio::time::sleep(Duration::from_millis(50) * in_a_row).await;
    }
}
