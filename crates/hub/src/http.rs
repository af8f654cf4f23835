//! The HTTPS listener: `/healthz`, `/metrics`, and RFC 9457 problem documents for every
//! error. Served by hyper over tokio-rustls, one task per connection.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::metrics::Metrics;
use crate::shutdown::Shutdown;
use crate::store::Store;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize)]
pub struct Problem {
    /// URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short human summary of the kind.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What happened this time and what to do.
    pub detail: String,
}

impl Problem {
    /// A problem with the given status, kind slug, title and detail.
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:portico:problem:{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_string(&self).unwrap_or_default();
        (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response()
    }
}

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct HttpState {
    /// Hub metrics.
    pub metrics: Arc<Metrics>,
    /// The store, for the health check.
    pub store: Arc<dyn Store>,
}

/// The hub's HTTP routes.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(state)
}

async fn healthz(State(state): State<HttpState>) -> Response {
    match state.store.queue_depth().await {
        Ok(depth) => {
            state.metrics.queue_depth.set(depth as i64);
            (
                [(header::CONTENT_TYPE, "application/json")],
                format!("{{\"status\":\"ok\",\"queue_depth\":{depth}}}"),
            )
                .into_response()
        }
        Err(e) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store-unavailable",
            "The message store is not available",
            format!("{e}; check the data dir's disk and the hub log"),
        )
        .into_response(),
    }
}

async fn metrics(State(state): State<HttpState>) -> Response {
    if let Ok(depth) = state.store.queue_depth().await {
        state.metrics.queue_depth.set(depth as i64);
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn not_found(uri: axum::http::Uri) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "No such endpoint",
        format!(
            "{} is not served here; try /healthz or /metrics",
            uri.path()
        ),
    )
}

/// Accepts HTTPS connections on `listener` until `shutdown` fires.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    mut shutdown: Shutdown,
) {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = shutdown.wait() => break,
        };
        let Ok((tcp, peer)) = accepted else { continue };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
            else {
                return;
            };
            // The client address, for per-address limits (`/v1/enlist`).
            let app =
                tower_layer::Layer::layer(&axum::Extension(axum::extract::ConnectInfo(peer)), app);
            let service = TowerToHyperService::new(app);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}
