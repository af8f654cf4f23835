//! Media hosting for the provider's own users (DESIGN.md §7: third parties host the media
//! their users send): a logged-in user asks for an upload slot, PUTs the encrypted file, and
//! shares the GET URL inside the end-to-end encrypted message. The hub's media proxy fetches
//! it for first-party recipients.
//!
//! - `POST /v1/media/slot` (`Authorization: Bearer <session token>`), body
//!   `{"size": <bytes>, "content_type": "…"}` → `{"put_url", "get_url", "expires"}`.
//! - `PUT /v1/media/upload/{token}`: the slot's one upload, exactly `size` bytes, streamed to a
//!   temporary file and renamed into place (never held in memory) by
//!   [`portico_media::upload::receive`], as the hub's upload slots do.
//! - `GET /v1/media/blob/{id}`: public; the 128-bit random id is the capability (the content is
//!   ciphertext whose key only the message's recipients have).
//!
//! Limits: `MAX_FILE_BYTES` per file and `QUOTA_BYTES_PER_USER` of uploads per user since the
//! provider started (the reference provider keeps no media index across restarts and never
//! deletes blobs: an operator's cron job or a fuller implementation does).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use portico_media::blob::{BlobId, BlobStore, DiskBlobStore};
use portico_media::upload::{self, UploadError};
use serde::{Deserialize, Serialize};

use crate::problem::ApiProblem;
use crate::routes::{AppState, now_unix};

/// Largest file one slot accepts.
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;
/// Bytes one user may upload (since the provider started).
pub const QUOTA_BYTES_PER_USER: u64 = 2 * 1024 * 1024 * 1024;
/// Seconds a slot stays usable.
pub const SLOT_TTL_SECS: u64 = 600;

/// Body of `POST /v1/media/slot`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SlotRequest {
    /// Exact bytes the PUT will carry.
    pub size: u64,
    /// Declared content type (informative).
    #[serde(default)]
    pub content_type: String,
}

/// Answer of `POST /v1/media/slot`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SlotResponse {
    /// Where to PUT the file.
    pub put_url: String,
    /// Where it can be fetched afterwards.
    pub get_url: String,
    /// Unix seconds after which the PUT URL stops working.
    pub expires: u64,
}

struct Slot {
    user: String,
    blob: BlobId,
    size: u64,
    expires: u64,
}

struct Media {
    app: AppState,
    blobs: DiskBlobStore,
    slots: Mutex<HashMap<String, Slot>>,
    used: Mutex<HashMap<String, u64>>,
}

/// The media routes; merged into the provider's router.
pub fn router(app: AppState) -> Router {
    let blobs = match DiskBlobStore::open(app.config().data_dir.join("media")) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "media storage unavailable; media routes disabled");
            return Router::new();
        }
    };
    let media = Arc::new(Media {
        app,
        blobs,
        slots: Mutex::default(),
        used: Mutex::default(),
    });
    Router::new()
        .route("/v1/media/slot", post(slot))
        .route("/v1/media/upload/{token}", put(upload))
        .route("/v1/media/blob/{id}", get(download))
        .with_state(media)
}

fn problem(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Response {
    ApiProblem::new(status, slug, title, detail).into_response()
}

async fn slot(
    State(media): State<Arc<Media>>,
    headers: HeaderMap,
    Json(req): Json<SlotRequest>,
) -> Response {
    let user = match media.app.bearer_user(&headers).await {
        Ok(u) => u,
        Err(p) => return p.into_response(),
    };
    if req.size > MAX_FILE_BYTES {
        return problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "File too large",
            format!("this provider takes files of at most {MAX_FILE_BYTES} bytes"),
        );
    }
    {
        let Ok(mut used) = media.used.lock() else {
            return problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                "retry",
            );
        };
        let u = used.entry(user.clone()).or_default();
        if u.saturating_add(req.size) > QUOTA_BYTES_PER_USER {
            return problem(
                StatusCode::INSUFFICIENT_STORAGE,
                "quota-exceeded",
                "Media quota exceeded",
                format!("you uploaded {u} bytes; the limit is {QUOTA_BYTES_PER_USER}"),
            );
        }
        *u += req.size;
    }
    let (Ok(blob), Ok(token)) = (BlobId::random(), BlobId::random()) else {
        return problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "no randomness; retry",
        );
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let expires = now_unix() + SLOT_TTL_SECS;
    let resp = SlotResponse {
        put_url: format!("https://{host}/v1/media/upload/{token}"),
        get_url: format!("https://{host}/v1/media/blob/{blob}"),
        expires,
    };
    if let Ok(mut slots) = media.slots.lock() {
        slots.retain(|_, s| s.expires >= now_unix());
        slots.insert(
            token.to_string(),
            Slot {
                user,
                blob,
                size: req.size,
                expires,
            },
        );
    }
    (StatusCode::CREATED, Json(resp)).into_response()
}

async fn upload(
    State(media): State<Arc<Media>>,
    Path(token): Path<String>,
    body: Body,
) -> Response {
    let slot = media.slots.lock().ok().and_then(|mut s| s.remove(&token));
    let Some(slot) = slot.filter(|s| s.expires >= now_unix()) else {
        return problem(
            StatusCode::FORBIDDEN,
            "slot-unknown",
            "No such upload slot",
            "the slot is unknown, used or expired; ask for a new one",
        );
    };
    let r = upload::receive(&media.blobs, &slot.blob, slot.size, body).await;
    match r {
        Ok(_) => StatusCode::CREATED.into_response(),
        Err(e) => {
            if let UploadError::Storage(err) = &e {
                tracing::warn!(error = %err, "media blob write failed");
            }
            if let Ok(mut used) = media.used.lock() {
                if let Some(u) = used.get_mut(&slot.user) {
                    *u = u.saturating_sub(slot.size);
                }
            }
            problem(
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
                e.slug(),
                e.title(),
                e.detail(),
            )
        }
    }
}

async fn download(State(media): State<Arc<Media>>, Path(id): Path<String>) -> Response {
    let not_found = || {
        problem(
            StatusCode::NOT_FOUND,
            "blob-gone",
            "No such media",
            "no file under this URL",
        )
    };
    let Ok(blob) = BlobId::parse(&id) else {
        return not_found();
    };
    match media.blobs.open(&blob).await {
        Ok(Some((len, reader))) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                (header::CONTENT_LENGTH, len.to_string()),
            ],
            Body::new(upload::reader_body(reader)),
        )
            .into_response(),
        Ok(None) => not_found(),
        Err(_) => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage-failed",
            "Read failed",
            "retry later",
        ),
    }
}
