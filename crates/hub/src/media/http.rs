//! The media routes on the hub's HTTPS port: `PUT /v1/media/upload/{token}` (streams the
//! body to a temporary file, checking the size as it goes) and `GET /v1/media/blob/{id}`
//! (signed URL; streams the file). Every refusal is a problem+json document.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use portico_media::blob::{BlobId, BlobStore};
use portico_media::upload::{self, UploadError};

use super::Media;
use crate::http::Problem;

/// The media routes (upload, download, proxy).
pub fn router(media: Arc<Media>) -> Router {
    Router::new()
        .route("/v1/media/upload/{token}", put(upload))
        .route("/v1/media/blob/{id}", get(download))
        .route("/v1/media/proxy", get(super::proxy::proxy))
        .with_state(media)
}

/// The problem type of a refusal, kept in the response's extensions so the handlers' callers
/// can count refusals by type.
#[derive(Debug, Clone)]
pub(crate) struct ProblemSlug(pub(crate) String);

/// A problem+json refusal, tagged with its [`ProblemSlug`].
pub(crate) fn problem(
    status: StatusCode,
    slug: &str,
    title: &str,
    detail: impl Into<String>,
) -> Response {
    let mut resp = Problem::new(status, slug, title, detail).into_response();
    resp.extensions_mut().insert(ProblemSlug(slug.to_owned()));
    resp
}

/// `PUT /v1/media/upload/{token}`, counted by outcome.
async fn upload(
    State(media): State<Arc<Media>>,
    Path(token): Path<String>,
    body: Body,
) -> Response {
    let resp = upload_into_slot(&media, &token, body).await;
    match resp.extensions().get::<ProblemSlug>() {
        Some(ProblemSlug(slug)) => media.metrics.upload(slug),
        None => media.metrics.upload("stored"),
    }
    resp
}

async fn upload_into_slot(media: &Media, token: &str, body: Body) -> Response {
    let Some(slot) = media.take_slot(token) else {
        return problem(
            StatusCode::FORBIDDEN,
            "slot-unknown",
            "No such upload slot",
            "the upload slot is unknown, used already or expired; ask for a new slot",
        );
    };
    let result = upload::receive(&media.blobs, &slot.blob, slot.size, body).await;
    if let Err(UploadError::Storage(e)) = &result {
        tracing::warn!(error = %e, "media blob write failed");
    }
    if let Err(e) = media.settle(&slot, result.is_ok()) {
        tracing::warn!(error = %e, "media metadata write failed");
        return problem(
            StatusCode::INSUFFICIENT_STORAGE,
            "storage-failed",
            "The upload could not be stored",
            "the hub could not record the upload; try again later",
        );
    }
    match result {
        Ok(_) => StatusCode::CREATED.into_response(),
        Err(e) => problem(
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
            e.slug(),
            e.title(),
            e.detail(),
        ),
    }
}

async fn download(
    State(media): State<Arc<Media>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let denied = || {
        problem(
            StatusCode::FORBIDDEN,
            "url-invalid",
            "Invalid or expired media URL",
            "this download URL is not signed by this hub or has expired",
        )
    };
    let Ok(blob) = BlobId::parse(&id) else {
        return denied();
    };
    let (Some(exp), Some(sig)) = (q.get("exp"), q.get("sig")) else {
        return denied();
    };
    if media.check_get(&blob, exp, sig).is_none() {
        return denied();
    }
    match media.blobs.open(&blob).await {
        Ok(Some((len, reader))) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                (header::CONTENT_LENGTH, len.to_string()),
                (header::CACHE_CONTROL, "private, max-age=86400".to_owned()),
            ],
            stream_body(reader),
        )
            .into_response(),
        Ok(None) => problem(
            StatusCode::NOT_FOUND,
            "blob-gone",
            "Media not found",
            "the file was deleted (expired) or never uploaded",
        ),
        Err(e) => {
            tracing::warn!(error = %e, "media blob read failed");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "storage-failed",
                "The file could not be read",
                "the hub could not read the file; try again later",
            )
        }
    }
}

/// A response body fed from `reader` in 64 KiB pieces (constant memory).
pub(crate) fn stream_body(reader: Box<dyn tokio::io::AsyncRead + Send + Unpin>) -> Body {
    Body::new(upload::reader_body(reader))
}
