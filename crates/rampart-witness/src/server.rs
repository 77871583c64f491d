//! The witness's HTTP front: `POST /add-checkpoint` as c2sp.org/tlog-witness
//! defines it, over plain HTTP. The witness holds no secret a network peer
//! could learn from it and authenticates nothing but the checkpoint
//! signature, so it runs on loopback or behind a TLS-terminating proxy.
//!
//! Bodies over [`MAX_BODY_LEN`] are refused with 413 before they are read in
//! full; every other answer comes from [`Witness::add_checkpoint`] through the
//! status codes of `protocol.rs`.

use std::future::Future;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::{StatusCode, header};
use tokio::net::TcpListener;

use crate::protocol::{ADD_CHECKPOINT_PATH, CONTENT_TYPE_TEXT, MAX_BODY_LEN};
use crate::witness::{Witness, WitnessError};

/// The router: `POST /add-checkpoint`, with the body limit.
pub fn router(witness: Witness) -> Router {
    Router::new()
        .route(ADD_CHECKPOINT_PATH, post(add_checkpoint))
        .layer(DefaultBodyLimit::max(MAX_BODY_LEN))
        .with_state(witness)
}

async fn add_checkpoint(State(witness): State<Witness>, body: Bytes) -> Response {
    match witness.add_checkpoint(&body).await {
        Ok(lines) => (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE_TEXT)], lines).into_response(),
        Err(WitnessError::Rejected(rejection)) => {
            tracing::debug!(%rejection, "add-checkpoint refused");
            (rejection.status(), [(header::CONTENT_TYPE, rejection.content_type())], rejection.body()).into_response()
        }
        Err(err) => {
            // The cause stays in the witness's log: it names paths, which are
            // of no use to the log asking for a cosignature.
            tracing::error!(error = %err, "add-checkpoint failed");
            (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, CONTENT_TYPE_TEXT)], "internal error\n")
                .into_response()
        }
    }
}

/// Serves the witness on `listener` until the process ends.
pub async fn serve(listener: TcpListener, witness: Witness) -> std::io::Result<()> {
    serve_until(listener, witness, std::future::pending()).await
}

/// Serves the witness on `listener` until `shutdown` completes, then stops
/// accepting connections and waits for requests in flight, so that no
/// cosignature is cut off after its head was stored.
pub async fn serve_until(
    listener: TcpListener,
    witness: Witness,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, vkey = %witness.verifier(), "witness listening");
    }
    axum::serve(listener, router(witness)).with_graceful_shutdown(shutdown).await
}
