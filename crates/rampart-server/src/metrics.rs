//! Prometheus metrics: one process-wide recorder (the `metrics` facade is
//! global), rendered at `/metrics`, and a middleware that counts and times
//! every request by route pattern (never by raw path, which would let
//! callers create unbounded label values).

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's metrics handle, installing the recorder on first use.
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        metrics_exporter_prometheus::Matcher::Full("rampart_ledger_batch_entries".into()),
                        &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0, 4096.0],
                    )
                })
                .map(|b| b.build_recorder())
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            // Fails only if another recorder was installed first, in which
            // case this handle still renders (empty) output.
            let _ = metrics::set_global_recorder(recorder);
            metrics::describe_counter!("rampart_http_requests_total", "HTTP requests by method, route and status");
            metrics::describe_histogram!("rampart_http_request_duration_seconds", "HTTP request latency");
            metrics::describe_histogram!("rampart_ledger_commit_seconds", "Time to make one ledger batch durable");
            metrics::describe_histogram!("rampart_ledger_batch_entries", "Entries per ledger batch (group commit)");
            crate::ingest::metrics::describe();
            rampart_secops::describe_metrics();
            crate::detect::metrics::describe();
            metrics::gauge!("rampart_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            handle
        })
        .clone()
}

/// Counts and times one request.
pub async fn track(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("rampart_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("rampart_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    resp
}
