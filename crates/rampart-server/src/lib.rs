//! Rampart's HTTPS front door: the data directory and its TLS material, the
//! axum router with its authentication, authorisation and audit middleware,
//! RFC 9457 problem responses, the OpenAPI document, metrics, the syslog
//! listeners and source registry of the log platform ([`ingest`]), the
//! streaming detection stage ([`detect`]), and the
//! server's lifecycle (start, graceful shutdown).
//!
//! Handlers here are thin: they parse the request, call a service
//! (`rampart-auth` today, the KMS and others later) and shape the answer. No
//! handler decides policy, and no route exists without a declared permission
//! (see [`routes`]).

pub mod api;
pub mod audit;
pub mod datadir;
pub mod detect;
pub mod extract;
pub mod ingest;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod routes;
pub mod server;
pub mod tls;
pub mod witness;

pub use routes::{Access, RouteSpec};
pub use server::{AppState, Running, start};
