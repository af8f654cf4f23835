//! Upload slots and the blob index: the IQ hook (slot requests and proxy tokens), the
//! per-user quota, the blob metadata kept beside the blobs, and expiry.
//!
//! A slot reserves its size against the user's quota until it is used or expires; an
//! uploaded blob counts until it expires (`media.blob_ttl_days`) and is then deleted with its
//! metadata. A slot never used, or an upload that failed half-way, leaves nothing behind
//! (partial uploads live in a temporary file that is removed).

use std::collections::HashMap;
use std::path::Path;

use base64::Engine;
use portico_media::blob::{BlobId, BlobStore};
use portico_stanza::Element;
use portico_stanza::stanza::upload::{
    MediaToken, NS_HTTP_UPLOAD, NS_PORTICO_MEDIA, UploadRequest, UploadSlot,
};
use portico_stanza::stanza::{Iq, IqKind, StanzaCondition, StanzaError};
use serde::{Deserialize, Serialize};

use super::{Media, WindowCounter, unix_now};

/// Seconds a proxy token is valid.
pub const TOKEN_TTL_SECS: u64 = 3600;

/// What is known of one uploaded blob (kept as `meta/<id>.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlobMeta {
    /// The account that uploaded it.
    pub owner: String,
    /// Its length in bytes.
    pub size: u64,
    /// The content type the uploader declared.
    pub content_type: String,
    /// Unix seconds of upload.
    pub created: u64,
    /// Unix seconds after which it is deleted.
    pub expires: u64,
}

/// A granted, not yet used upload slot.
#[derive(Debug, Clone)]
pub struct Slot {
    /// The uploader.
    pub owner: String,
    /// The blob it will create.
    pub blob: BlobId,
    /// Exact bytes the PUT must carry.
    pub size: u64,
    /// Declared content type.
    pub content_type: String,
    /// Unix seconds after which the slot is void.
    pub expires: u64,
    /// Unix seconds after which the blob is deleted.
    pub blob_expires: u64,
}

/// The in-memory index.
#[derive(Debug, Default)]
pub struct State {
    pub(crate) slots: HashMap<String, Slot>,
    pub(crate) blobs: HashMap<String, BlobMeta>,
    pub(crate) used: HashMap<String, u64>,
    pub(crate) reserved: HashMap<String, u64>,
    pub(crate) slot_requests: WindowCounter,
}

impl State {
    /// Reads every `meta/*.json`.
    pub(crate) fn load(meta_dir: &Path) -> Self {
        let mut s = State::default();
        if let Ok(dir) = std::fs::read_dir(meta_dir) {
            for entry in dir.flatten() {
                let path = entry.path();
                let Some(id) = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .filter(|s| BlobId::parse(s).is_ok())
                else {
                    continue;
                };
                let Ok(bytes) = std::fs::read(&path) else {
                    continue;
                };
                let Ok(meta) = serde_json::from_slice::<BlobMeta>(&bytes) else {
                    continue;
                };
                *s.used.entry(meta.owner.clone()).or_default() += meta.size;
                s.blobs.insert(id.to_owned(), meta);
            }
        }
        s
    }

    /// Bytes `user` holds (uploaded and reserved).
    pub fn usage(&self, user: &str) -> u64 {
        self.used.get(user).copied().unwrap_or(0) + self.reserved.get(user).copied().unwrap_or(0)
    }

    fn unreserve(&mut self, user: &str, size: u64) {
        if let Some(r) = self.reserved.get_mut(user) {
            *r = r.saturating_sub(size);
        }
    }
}

/// Whether the IQ hook handles requests in namespace `ns`.
pub fn handles(ns: &str) -> bool {
    ns == NS_HTTP_UPLOAD || ns == NS_PORTICO_MEDIA
}

/// The c2s hook: answers an upload-slot or media-token request from `account`.
pub fn handle(media: &Media, account: &str, iq: &Iq) -> Iq {
    let payload = match &iq.kind {
        IqKind::Get(p) => p.clone(),
        _ => {
            return iq.error(
                StanzaError::new(StanzaCondition::BadRequest)
                    .with_text("upload slots and media tokens are asked for with type='get'"),
            );
        }
    };
    if account.contains('@') {
        return iq.error(
            StanzaError::new(StanzaCondition::NotAllowed)
                .with_text("third-party users upload to their provider and fetch media directly"),
        );
    }
    let answer = if payload.ns() == NS_PORTICO_MEDIA {
        MediaToken::try_from(payload).map(|_| Element::from(media.proxy_token(account)))
    } else {
        match UploadRequest::try_from(payload) {
            Ok(req) => match media.grant_slot(account, req) {
                Ok(slot) => Ok(Element::from(slot)),
                Err(e) => return iq.error(*e),
            },
            Err(e) => Err(e),
        }
    };
    match answer {
        Ok(el) => iq.result(Some(el)),
        Err(e) => iq.error(StanzaError::new(StanzaCondition::BadRequest).with_text(e.to_string())),
    }
}

impl Media {
    /// A bearer token for the proxy, valid for an hour.
    pub fn proxy_token(&self, account: &str) -> MediaToken {
        let exp = unix_now() + TOKEN_TTL_SECS;
        let user = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(account);
        let exp_s = exp.to_string();
        let sig = self.sign("proxy", &[account, &exp_s]);
        MediaToken {
            token: Some(format!("pmt1.{user}.{exp}.{sig}").into()),
            expires: Some(exp),
            proxy: Some(format!("{}/v1/media/proxy", self.base_url).into()),
        }
    }

    /// The account a proxy token was issued to, if it is genuine and not expired.
    pub fn check_proxy_token(&self, token: &str) -> Option<String> {
        let mut parts = token.split('.');
        let (Some("pmt1"), Some(user), Some(exp), Some(sig), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let account = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(user)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())?;
        let expires: u64 = exp.parse().ok()?;
        (expires > unix_now() && self.verify("proxy", &[&account, exp], sig)).then_some(account)
    }

    /// Grants a slot, or says why not.
    pub fn grant_slot(
        &self,
        account: &str,
        req: UploadRequest,
    ) -> Result<UploadSlot, Box<StanzaError>> {
        let now = unix_now();
        if req.size > self.cfg.max_file_bytes {
            let mut app = Element::new("file-too-large", NS_HTTP_UPLOAD);
            app.push_child(
                Element::new("max-file-size", NS_HTTP_UPLOAD)
                    .with_text(self.cfg.max_file_bytes.to_string()),
            );
            let mut e = StanzaError::new(StanzaCondition::NotAcceptable).with_text(format!(
                "the file is {} bytes; this hub takes at most {} (media.max_file_bytes)",
                req.size, self.cfg.max_file_bytes
            ));
            e.app = Some(app);
            return Err(Box::new(e));
        }
        let no_random = || {
            Box::new(
                StanzaError::new(StanzaCondition::InternalServerError)
                    .with_text("no randomness for a slot; try again"),
            )
        };
        let blob = BlobId::random().map_err(|_| no_random())?;
        let token = BlobId::random().map_err(|_| no_random())?.to_string() + blob.as_str();
        let mut st = self
            .state
            .lock()
            .map_err(|_| Box::new(StanzaError::new(StanzaCondition::InternalServerError)))?;
        if !st
            .slot_requests
            .allow(account, now, 3600, self.cfg.slots_per_hour)
        {
            self.metrics.quota_refusal("upload-rate");
            return Err(Box::new(
                StanzaError::new(StanzaCondition::ResourceConstraint).with_text(format!(
                    "more than {} upload slots this hour (media.slots_per_hour); wait and retry",
                    self.cfg.slots_per_hour
                )),
            ));
        }
        let usage = st.usage(account);
        if usage.saturating_add(req.size) > self.cfg.quota_bytes_per_user {
            self.metrics.quota_refusal("upload-quota");
            return Err(Box::new(
                StanzaError::new(StanzaCondition::ResourceConstraint).with_text(format!(
                    "quota exceeded: you hold {usage} bytes of media and this file is {} bytes; \
                 the limit is {} (media.quota_bytes_per_user); old uploads expire after {} days",
                    req.size, self.cfg.quota_bytes_per_user, self.cfg.blob_ttl_days
                )),
            ));
        }
        *st.reserved.entry(account.to_owned()).or_default() += req.size;
        let blob_expires = now + self.cfg.blob_ttl_days * 86_400;
        let exp = blob_expires.to_string();
        let sig = self.sign("get", &[blob.as_str(), &exp]);
        let slot = UploadSlot {
            put_url: format!("{}/v1/media/upload/{token}", self.base_url).into(),
            put_headers: Vec::new(),
            get_url: format!("{}/v1/media/blob/{blob}?exp={exp}&sig={sig}", self.base_url).into(),
        };
        st.slots.insert(
            token,
            Slot {
                owner: account.to_owned(),
                blob,
                size: req.size,
                content_type: req
                    .content_type
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "application/octet-stream".into()),
                expires: now + self.cfg.slot_ttl_secs,
                blob_expires,
            },
        );
        Ok(slot)
    }

    /// Takes the slot for `token` out of the table (one PUT per slot).
    pub(crate) fn take_slot(&self, token: &str) -> Option<Slot> {
        let mut st = self.state.lock().ok()?;
        let slot = st.slots.remove(token)?;
        if slot.expires < unix_now() {
            st.unreserve(&slot.owner, slot.size);
            return None;
        }
        Some(slot)
    }

    /// Records a finished upload (or releases the reservation of a failed one).
    pub(crate) fn settle(&self, slot: &Slot, stored: bool) -> std::io::Result<()> {
        if stored {
            let meta = BlobMeta {
                owner: slot.owner.clone(),
                size: slot.size,
                content_type: slot.content_type.clone(),
                created: unix_now(),
                expires: slot.blob_expires,
            };
            let path = self.meta_dir.join(format!("{}.json", slot.blob));
            let json = serde_json::to_vec(&meta).map_err(std::io::Error::other)?;
            std::fs::write(&path, json)?;
            if let Ok(mut st) = self.state.lock() {
                st.unreserve(&slot.owner, slot.size);
                *st.used.entry(slot.owner.clone()).or_default() += slot.size;
                st.blobs.insert(slot.blob.to_string(), meta);
            }
            self.metrics.uploaded_bytes.inc_by(slot.size);
            self.metrics
                .stored(i64::try_from(slot.size).unwrap_or(i64::MAX));
        } else if let Ok(mut st) = self.state.lock() {
            st.unreserve(&slot.owner, slot.size);
        }
        Ok(())
    }

    /// Whether `id` is a live blob and `exp`/`sig` a valid signature for it.
    pub(crate) fn check_get(&self, id: &BlobId, exp: &str, sig: &str) -> Option<BlobMeta> {
        let expires: u64 = exp.parse().ok()?;
        if expires <= unix_now() || !self.verify("get", &[id.as_str(), exp], sig) {
            return None;
        }
        self.state.lock().ok()?.blobs.get(id.as_str()).cloned()
    }

    /// Drops expired slots and deletes expired blobs; returns how many blobs went.
    pub async fn expire(&self, now: u64) -> usize {
        let doomed: Vec<(String, BlobMeta)> = {
            let Ok(mut st) = self.state.lock() else {
                return 0;
            };
            let dead: Vec<String> = st
                .slots
                .iter()
                .filter(|(_, s)| s.expires < now)
                .map(|(t, _)| t.clone())
                .collect();
            for t in dead {
                if let Some(s) = st.slots.remove(&t) {
                    st.unreserve(&s.owner, s.size);
                }
            }
            st.blobs
                .iter()
                .filter(|(_, m)| m.expires <= now)
                .map(|(id, m)| (id.clone(), m.clone()))
                .collect()
        };
        let mut n = 0;
        for (id, meta) in doomed {
            let Ok(blob) = BlobId::parse(&id) else {
                continue;
            };
            if self.blobs.delete(&blob).await.is_err() {
                continue;
            }
            let _ = std::fs::remove_file(self.meta_dir.join(format!("{id}.json")));
            if let Ok(mut st) = self.state.lock() {
                st.blobs.remove(&id);
                if let Some(u) = st.used.get_mut(&meta.owner) {
                    *u = u.saturating_sub(meta.size);
                }
            }
            self.metrics
                .stored(-i64::try_from(meta.size).unwrap_or(i64::MAX));
            n += 1;
        }
        n
    }
}

/// Runs [`Media::expire`] every minute until shutdown.
pub async fn expire_loop(media: std::sync::Arc<Media>, mut shutdown: crate::shutdown::Shutdown) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.wait() => return,
        }
        let n = media.expire(unix_now()).await;
        if n > 0 {
            tracing::info!(deleted = n, "deleted expired media blobs");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::media::StaticOrigins;

    fn media(dir: &Path, quota: u64) -> Arc<Media> {
        let mut config = crate::config::Config::load(None, Vec::new(), Some(dir)).expect("config");
        config.media.quota_bytes_per_user = quota;
        Media::open(
            &config,
            "127.0.0.1:8443".parse().expect("addr"),
            Arc::new(StaticOrigins::default()),
            crate::media::metrics::MediaMetrics::default(),
        )
        .expect("media")
    }

    fn req(size: u64) -> UploadRequest {
        UploadRequest {
            filename: "f".into(),
            size,
            content_type: None,
        }
    }

    #[tokio::test]
    async fn quota_counts_reservations_and_uploads_and_expiry_frees_both() {
        let dir = tempfile::tempdir().expect("tempdir");
        let m = media(dir.path(), 100);
        let slot = m.grant_slot("alice", req(60)).expect("first slot");
        assert!(
            slot.put_url
                .starts_with("https://localhost:8443/v1/media/upload/")
        );
        let refused = m.grant_slot("alice", req(50)).expect_err("over quota");
        assert!(
            refused
                .text
                .as_deref()
                .unwrap_or("")
                .contains("quota exceeded")
        );
        assert!(m.grant_slot("bob", req(50)).is_ok(), "quotas are per user");

        // Upload into the slot: the reservation becomes usage, kept across a restart.
        let token = slot.put_url.rsplit('/').next().expect("token").to_owned();
        let s = m.take_slot(&token).expect("slot");
        assert!(m.take_slot(&token).is_none(), "one PUT per slot");
        let mut w = m.blobs.create(&s.blob).await.expect("create");
        w.write(&[0u8; 60]).await.expect("write");
        w.commit().await.expect("commit");
        m.settle(&s, true).expect("settle");
        assert_eq!(m.state.lock().expect("state").usage("alice"), 60);
        drop(m);
        let m = media(dir.path(), 100);
        assert_eq!(m.state.lock().expect("state").usage("alice"), 60);

        // The signed GET URL works; a changed signature or id does not.
        let q = slot.get_url.split_once('?').expect("query").1;
        let (exp, sig) = q.split_once("&sig=").expect("sig");
        let exp = exp.trim_start_matches("exp=");
        assert!(m.check_get(&s.blob, exp, sig).is_some());
        assert!(m.check_get(&s.blob, exp, &format!("x{sig}")).is_none());
        let other = BlobId::random().expect("id");
        assert!(m.check_get(&other, exp, sig).is_none());

        // Past its TTL the blob is deleted and the quota freed.
        let later = unix_now() + 31 * 86_400;
        assert_eq!(m.expire(later).await, 1);
        assert!(m.blobs.open(&s.blob).await.expect("open").is_none());
        assert_eq!(m.state.lock().expect("state").usage("alice"), 0);
    }

    #[tokio::test]
    async fn unused_slots_expire_and_release_their_reservation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let m = media(dir.path(), 100);
        let slot = m.grant_slot("alice", req(80)).expect("slot");
        assert_eq!(m.state.lock().expect("state").usage("alice"), 80);
        assert_eq!(m.expire(unix_now() + 3600).await, 0);
        assert_eq!(m.state.lock().expect("state").usage("alice"), 0);
        let token = slot.put_url.rsplit('/').next().expect("token").to_owned();
        assert!(m.take_slot(&token).is_none(), "the slot is gone");
    }

    #[tokio::test]
    async fn too_large_files_are_refused_with_the_xep_0363_child() {
        let dir = tempfile::tempdir().expect("tempdir");
        let m = media(dir.path(), u64::MAX);
        let e = m.grant_slot("alice", req(u64::MAX)).expect_err("too large");
        assert_eq!(e.condition, StanzaCondition::NotAcceptable);
        assert!(
            e.app
                .as_ref()
                .is_some_and(|a| a.is("file-too-large", NS_HTTP_UPLOAD))
        );
    }

    #[tokio::test]
    async fn proxy_tokens_name_their_user_and_resist_tampering() {
        let dir = tempfile::tempdir().expect("tempdir");
        let m = media(dir.path(), 100);
        let t = m.proxy_token("alice").token.expect("token").to_string();
        assert_eq!(m.check_proxy_token(&t).as_deref(), Some("alice"));
        let forged = t.replacen(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("alice"),
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("bob"),
            1,
        );
        assert_eq!(m.check_proxy_token(&forged), None);
        assert_eq!(m.check_proxy_token("pmt1.x.1.y"), None);
    }
}
