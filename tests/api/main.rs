//! End-to-end: real HTTP requests to the deployed routes, served by `cargo lambda watch`, with the
//! functions on moto_server and xero-local. One stack serves every test; it starts with the first
//! test that runs and stops when the run ends. One module per area; `helpers` holds the stack.

mod events;
mod hardening;
mod helpers;
mod invoices;
mod lines;
mod payments;
mod reconcile;
mod totals;
mod webhooks;
mod xero_connect;
mod xero_sync;

use events::*;
use hardening::*;
use helpers::Stack;
use invoices::*;
use libtest_mimic::{Arguments, Failed, Trial};
use lines::*;
use payments::*;
use reconcile::*;
use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, OnceLock},
};
use totals::*;
use webhooks::*;
use xero_connect::*;
use xero_sync::*;

type Scenario = for<'a> fn(&'a Stack) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

macro_rules! scenarios {
    ($($name:ident),+ $(,)?) => {
        &[$((stringify!($name), (|stack| Box::pin($name(stack))) as Scenario)),+]
    };
}

fn main() {
    let arguments = Arguments::from_args();
    let runtime = Arc::new(tokio::runtime::Runtime::new().unwrap());
    let stack: Arc<OnceLock<Stack>> = Arc::new(OnceLock::new());
    let all: &[(&str, Scenario)] = scenarios![
        create_answers_201_with_the_full_shape_and_get_returns_it,
        another_account_gets_404_for_the_invoice,
        missing_or_wrong_credentials_get_401,
        bad_input_gets_400_naming_the_problem,
        idempotency_key_replays_and_refuses_reuse,
        fifty_concurrent_identical_requests_create_one_invoice,
        list_filters_and_pages_with_a_cursor,
        every_event_file_works_with_cargo_lambda_invoke,
        invoices_totals_over_http,
        line_items_keep_totals_and_the_lifecycle_guards_them,
        slash_reconcile_and_unreconcile_over_http,
        reconcile_with_xero_end_to_end,
        reconcile_every_invoice_of_an_account,
        reconcile_counts_only_sales_invoices_and_never_picks_between_two,
        reconcile_requests_are_validated,
        unparseable_messages_reach_the_dead_letter_queue,
        extreme_values_are_refused_where_they_arrive,
        stored_extremes_never_make_a_route_panic,
        keys_and_credentials_are_checked_by_shape,
        replays_are_labelled_with_the_version_that_served_them,
        connect_reconcile_disconnect_and_reconnect_through_xeros_authorization_code_flow,
        callback_refusals_change_nothing_and_redirects_carry_the_outcome,
        custom_connections_show_as_such_and_stay_an_operators,
        webhook_endpoints_are_managed_over_http_and_stay_in_their_account,
        committed_changes_reach_a_receiver_signed_retried_and_once_each,
        finalized_invoices_reach_xero_and_voids_follow_them,
        payments_made_in_xero_reach_our_invoice_through_signed_webhooks,
    ];
    let trials = all
        .iter()
        .map(|&(name, scenario)| {
            let (runtime, stack) = (Arc::clone(&runtime), Arc::clone(&stack));
            Trial::test(name, move || {
                let stack = stack.get_or_init(|| Stack::start(&runtime));
                runtime.block_on(scenario(stack));
                Ok::<(), Failed>(())
            })
        })
        .collect();
    let conclusion = libtest_mimic::run(&arguments, trials);
    // Stop the stack before exiting: `exit` would skip its destructors.
    if let Some(stack) = Arc::try_unwrap(stack).ok().and_then(OnceLock::into_inner) {
        if conclusion.has_failed() {
            eprintln!("cargo lambda watch log: {}", stack.log.display());
        }
        drop(stack);
    }
    conclusion.exit();
}
