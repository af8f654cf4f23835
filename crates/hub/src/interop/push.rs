//! Push for offline third-party devices: when a message is queued for a device that has no
//! session, the hub calls its provider's `POST /push` (signed; no content and no sender,
//! only visible id, jid, device id, push id and the count of messages waiting). One push per
//! device is in flight at a time; messages queued meanwhile are coalesced into one more push
//! after it. Failed pushes are retried with exponential backoff
//! (`interop.push_backoff_initial_ms` doubling up to `interop.push_backoff_max_ms`, at most
//! `interop.push_max_attempts` attempts), and calls go through the provider's circuit breaker.

use std::sync::Arc;
use std::time::Duration;

use portico_interop::api::PushRequest;
use portico_interop::keys::b64url_encode;

use super::Gateway;
use super::client::CallError;
use crate::store::DeviceId;
use crate::store::interop::ProviderStatus;

/// Push bookkeeping of one device.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    /// A push task is running for the device.
    in_flight: bool,
    /// Messages were queued since the running push was built.
    dirty: bool,
    /// Messages queued since the device was last online.
    pending: u32,
}

impl Gateway {
    /// Called when a message was durably queued for `account`'s `device` and the device has no
    /// session: wakes it through its provider if it is a third-party device.
    pub fn offline(self: &Arc<Self>, account: &str, device: DeviceId) {
        if !super::is_third_party(account) {
            return;
        }
        let start = {
            let Ok(mut slots) = self.push_slots.lock() else {
                return;
            };
            let slot = slots.entry((account.to_owned(), device)).or_default();
            slot.pending = slot.pending.saturating_add(1);
            slot.dirty = true;
            !std::mem::replace(&mut slot.in_flight, true)
        };
        if start {
            let gw = self.clone();
            let account = account.to_owned();
            tokio::spawn(async move { gw.push_task(account, device).await });
        } else {
            self.metrics.interop("push", "coalesced");
        }
    }

    /// The device logged in: nothing is waiting for a push any more.
    pub(crate) fn device_online(&self, account: &str, device: DeviceId) {
        if let Ok(mut slots) = self.push_slots.lock() {
            let key = (account.to_owned(), device);
            if let Some(slot) = slots.get_mut(&key) {
                slot.pending = 0;
                slot.dirty = false;
                if !slot.in_flight {
                    slots.remove(&key);
                }
            }
        }
    }

    async fn push_task(self: Arc<Self>, account: String, device: DeviceId) {
        let key = (account.clone(), device);
        loop {
            let pending = {
                let Ok(mut slots) = self.push_slots.lock() else {
                    return;
                };
                let Some(slot) = slots.get_mut(&key) else {
                    return;
                };
                if !slot.dirty || slot.pending == 0 {
                    slots.remove(&key);
                    return;
                }
                slot.dirty = false;
                slot.pending
            };
            self.push_once(&account, device, pending).await;
        }
    }

    /// One push with its retries.
    async fn push_once(&self, account: &str, device: DeviceId, pending: u32) {
        let Ok(Some(user)) = self.store.third_party_user(account).await else {
            self.metrics.interop("push", "unknown-user");
            return;
        };
        let mut id = [0u8; 16];
        let _ = getrandom::fill(&mut id);
        let request = PushRequest {
            visible_id: user.visible_id.clone(),
            jid: account.to_owned(),
            device_id: device,
            push_id: b64url_encode(&id),
            pending,
        };
        let Ok(body) = serde_json::to_vec(&request) else {
            return;
        };
        let knobs = &self.config.interop;
        let mut backoff = u64::from(knobs.push_backoff_initial_ms);
        for attempt in 1..=knobs.push_max_attempts {
            let provider = match self.store.provider(&user.provider).await {
                Ok(Some(p)) if p.status == ProviderStatus::Active => p,
                Ok(_) => {
                    self.metrics.interop("push", "provider-inactive");
                    return;
                }
                Err(_) => {
                    self.metrics.interop("push", "store-failed");
                    return;
                }
            };
            let outcome = self.call(&provider, "/push", body.clone()).await;
            match outcome {
                Ok((status, _)) if (200..300).contains(&status) => {
                    self.metrics.interop("push", "delivered");
                    return;
                }
                Ok((status, answer)) if (400..500).contains(&status) && status != 429 => {
                    // The provider refused this push: retrying the same request cannot help.
                    tracing::warn!(provider = %provider.id, status, detail = %super::client::answer_detail(&answer), "provider refused a push");
                    self.metrics.interop("push", "refused");
                    return;
                }
                Ok((status, _)) => {
                    self.metrics.interop("push", "retry");
                    tracing::debug!(provider = %provider.id, status, attempt, "push failed; retrying");
                }
                Err(CallError::CircuitOpen(_)) => {
                    self.metrics.interop("push", "circuit-open");
                }
                Err(e) => {
                    self.metrics.interop("push", "retry");
                    tracing::debug!(provider = %provider.id, error = %e, attempt, "push failed; retrying");
                }
            }
            if attempt < knobs.push_max_attempts {
                tokio::time::sleep(Duration::from_millis(backoff)).await;
                backoff = (backoff * 2).min(u64::from(knobs.push_backoff_max_ms));
            }
        }
        tracing::warn!(provider = %user.provider, "push given up after interop.push_max_attempts attempts");
        self.metrics.interop("push", "given-up");
    }
}
