//! The HTTP edge every API function shares (docs/contract.md, sections 2 and 3), implemented once:
//! `Sequence-Version`, credentials, body limits, `Idempotency-Key`, error bodies and JSON logs.
//! Handlers only see an authenticated [`RequestContext`] and return an [`ApiResponse`] or an error.
#![warn(missing_docs)]

mod auth;
mod errors;
mod gateway;
mod request;
mod runtime;
mod telemetry;

pub use errors::{error_response, ErrorStyle};
pub use gateway::{run, run_with_store, ApiResponse, Gateway, RequestContext, Route};
pub use request::{
    own_url, parse_borrowed_json_object, parse_json, parse_json_object, parse_optional_json_object, path_param,
    query_param, query_params,
};
pub use runtime::run_restarting;
pub use telemetry::init_tracing;

pub use lambda_http::{Body, Request, Response};
