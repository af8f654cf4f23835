//! The media routes on the hub's HTTPS port: `PUT /v1/media/upload/{token}` (streams the
//! body to a temporary file, checking the size as it goes) and `GET /v1/media/blob/{id}`
//! (signed URL; streams the file). Every refusal is a problem+json document.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use bytes::Bytes;
use http_body_util::BodyExt;
use portico_media::blob::{BlobId, BlobStore};
use tokio::io::AsyncReadExt;

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
    headers: HeaderMap,
    body: Body,
) -> Response {
    let resp = upload_into_slot(&media, &token, &headers, body).await;
    match resp.extensions().get::<ProblemSlug>() {
        Some(ProblemSlug(slug)) => media.metrics.upload(slug),
        None => media.metrics.upload("stored"),
    }
    resp
}

async fn upload_into_slot(media: &Media, token: &str, headers: &HeaderMap, body: Body) -> Response {
    let Some(slot) = media.take_slot(token) else {
        return problem(
            StatusCode::FORBIDDEN,
            "slot-unknown",
            "No such upload slot",
            "the upload slot is unknown, used already or expired; ask for a new slot",
        );
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared {
        if n != slot.size {
            media.settle(&slot, false).ok();
            return problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                if n > slot.size {
                    "too-large"
                } else {
                    "size-mismatch"
                },
                "Body size differs from the slot",
                format!(
                    "the slot is for {} bytes; the request declares {n}",
                    slot.size
                ),
            );
        }
    }
    let result = store(media, &slot, body).await;
    let stored = result.is_ok();
    if let Err(e) = media.settle(&slot, stored) {
        tracing::warn!(error = %e, "media metadata write failed");
        return problem(
            StatusCode::INSUFFICIENT_STORAGE,
            "storage-failed",
            "The upload could not be stored",
            "the hub could not record the upload; try again later",
        );
    }
    match result {
        Ok(()) => StatusCode::CREATED.into_response(),
        Err(r) => r,
    }
}

async fn store(media: &Media, slot: &super::slots::Slot, mut body: Body) -> Result<(), Response> {
    let storage_failed = |e: portico_media::blob::BlobError| {
        tracing::warn!(error = %e, "media blob write failed");
        problem(
            StatusCode::INSUFFICIENT_STORAGE,
            "storage-failed",
            "The upload could not be stored",
            "the hub could not store the upload; try again later",
        )
    };
    let mut writer = media
        .blobs
        .create(&slot.blob)
        .await
        .map_err(storage_failed)?;
    let mut got: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            problem(
                StatusCode::BAD_REQUEST,
                "upload-interrupted",
                "The upload was interrupted",
                format!("reading the body failed ({e}); ask for a new slot and upload again"),
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        got += data.len() as u64;
        if got > slot.size {
            return Err(problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "Body larger than the slot",
                format!("the slot is for {} bytes; more arrived", slot.size),
            ));
        }
        writer.write(&data).await.map_err(storage_failed)?;
    }
    if got != slot.size {
        return Err(problem(
            StatusCode::BAD_REQUEST,
            "size-mismatch",
            "Body shorter than the slot",
            format!("the slot is for {} bytes; {got} arrived", slot.size),
        ));
    }
    writer.commit().await.map_err(storage_failed)?;
    Ok(())
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
pub(crate) fn stream_body(mut reader: Box<dyn tokio::io::AsyncRead + Send + Unpin>) -> Body {
    let (mut tx, body) = portico_media::net::channel_body(4);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    if tx
                        .send_data(Bytes::copy_from_slice(&buf[..n]))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                Err(e) => {
                    tx.abort(e);
                    break;
                }
            }
        }
    });
    Body::new(body)
}
