//! Sending: encrypt one ciphertext per device of the recipient and of this account's other
//! devices, fetch bundles where no session exists, and on the hub's device-set mismatch
//! fetch the missing devices' keys, drop the stale ones' sessions and send again.

use std::collections::BTreeMap;
use std::time::SystemTime;

use portico_content::{Body, Content, Receipt, ReceiptKind, Text};
use portico_signal::{CiphertextMessageType, ProtocolAddress, SessionStore, message_encrypt};
use portico_stanza::Jid;
use portico_stanza::stanza::keys::{Bundles, Count, Fetch};
use portico_stanza::stanza::{
    Ciphertext, CiphertextKind, DeviceCiphertext, DeviceMismatch, E2ee, Iq, IqKind, Message,
    MessageType,
};

use super::Engine;
use crate::client::Event;
use crate::envelope::{RetryRequest, seal_content, seal_retry};
use crate::error::{ClientError, Result};
use crate::keys;
use crate::store::{Direction, LoggedMessage, Status, now_ms};
use crate::tls::hex;

impl Engine {
    pub(super) fn new_id(&mut self) -> String {
        let mut b = [0u8; 12];
        rand::RngCore::fill_bytes(&mut self.rng, &mut b);
        hex(&b)
    }

    fn jid(text: &str) -> Result<Jid> {
        Jid::parse(text).map_err(|_| ClientError::BadAddress(text.to_owned()))
    }

    pub(super) async fn send_text(&mut self, to: &str, text: String) -> Result<String> {
        let id = self.new_id();
        let sent_at_ms = now_ms();
        let content = Content {
            body: Some(Body::Text(Text {
                body: text.clone(),
                reply_to: None,
            })),
            sent_at_ms,
            group: None,
        };
        let sealed = seal_content(&content, to, &self.limits)?;
        self.store.log_message(&LoggedMessage {
            conversation: to.to_owned(),
            id: id.clone(),
            direction: Direction::Outgoing,
            sender: self.me.clone(),
            body: text,
            status: Status::Sending,
            sent_at_ms,
        })?;
        self.store.outbox_put(&id, to, &sealed)?;
        let sent = self.send_payload(&id, to, &sealed).await;
        self.queued(&id, sent)?;
        Ok(id)
    }

    pub(super) async fn send_receipt(
        &mut self,
        to: &str,
        kind: ReceiptKind,
        ids: Vec<String>,
    ) -> Result<()> {
        let content = Content {
            body: Some(Body::Receipt(Receipt {
                kind: kind as i32,
                message_ids: ids,
            })),
            sent_at_ms: now_ms(),
            group: None,
        };
        let sealed = seal_content(&content, to, &self.limits)?;
        let id = self.new_id();
        self.store.outbox_put(&id, to, &sealed)?;
        let sent = self.send_payload(&id, to, &sealed).await;
        self.queued(&id, sent)
    }

    /// Asks `sender`'s `device` to resend `id`: archives the session with that device,
    /// starts a fresh one from a newly fetched bundle, and sends the request over it.
    pub(super) async fn ask_resend(&mut self, sender: &str, device: u32, id: &str) -> Result<()> {
        if !self
            .asked
            .insert((sender.to_owned(), device, id.to_owned()))
        {
            return Ok(());
        }
        self.archive_session(sender, device)?;
        self.fetch_bundles(sender, &[device]).await?;
        let sealed = seal_retry(RetryRequest {
            id: id.to_owned(),
            device,
        });
        let request_id = self.new_id();
        self.store.outbox_put(&request_id, sender, &sealed)?;
        self.send_payload(&request_id, sender, &sealed).await
    }

    /// Resends `id` after `requester` asked for it (it must have been a recipient).
    pub(super) async fn resend(&mut self, requester: &str, id: &str) -> Result<()> {
        let Some((to, sealed)) = self.store.outbox_get(id)? else {
            tracing::info!("a resend was asked for a message no longer kept");
            return Ok(());
        };
        if to != requester && requester != self.me {
            return Ok(());
        }
        self.attempts.remove(id);
        self.send_payload(id, &to, &sealed).await?;
        self.emit(Event::Resent {
            id: id.to_owned(),
            to: Self::jid(requester)?,
        });
        Ok(())
    }

    fn archive_session(&mut self, jid: &str, device: u32) -> Result<()> {
        let mut sessions = self.store.signal();
        let address = ProtocolAddress::new(jid, device);
        let loaded = sessions.load_session(&address);
        if let Some(mut record) = self.signal_result(&sessions, loaded)? {
            record.archive_current_state();
            let stored = sessions.store_session(&address, &record);
            self.signal_result(&sessions, stored)?;
        }
        Ok(())
    }

    pub(super) fn signal_result<T>(
        &self,
        view: &crate::store::SignalStore<'_>,
        r: std::result::Result<T, portico_signal::SignalError>,
    ) -> Result<T> {
        r.map_err(|e| match view.take_error() {
            Some(db) => ClientError::Database(db),
            None => ClientError::Signal(e),
        })
    }

    /// Fetches bundles for `devices` of `jid` (all if empty) and starts sessions.
    pub(super) async fn fetch_bundles(&mut self, jid: &str, devices: &[u32]) -> Result<()> {
        let fetch = Fetch {
            jid: Self::jid(jid)?,
            devices: devices.to_vec(),
        };
        let reply = self.iq(Iq::get("", fetch.into()), "a key fetch").await?;
        if let IqKind::Error { error, .. } = &reply.kind {
            if let Some(refusal) = crate::policy::refusal_of(error) {
                return Err(ClientError::PolicyRefused {
                    reason: super::recv::describe(error),
                    refusal,
                });
            }
        }
        let payload =
            Self::iq_payload(reply, "a key fetch")?.ok_or_else(|| ClientError::Protocol {
                what: "a key fetch",
                detail: "an empty answer".into(),
            })?;
        let bundles = Bundles::try_from(payload).map_err(|e| ClientError::Protocol {
            what: "a key fetch",
            detail: e.to_string(),
        })?;
        for b in &bundles.bundles {
            match keys::process_bundle(&self.store, jid, b, &mut self.rng) {
                Ok(replaced) => self.identity_changes(replaced),
                Err(e) => {
                    tracing::warn!(error = %e, device = b.device, "skipping a device's bundle")
                }
            }
        }
        Ok(())
    }

    fn encrypt_for(
        &mut self,
        jid: &str,
        device: u32,
        plaintext: &[u8],
    ) -> Result<DeviceCiphertext> {
        let address = ProtocolAddress::new(jid, device);
        let mut sessions = self.store.signal();
        let mut identities = self.store.signal();
        let r = message_encrypt(
            plaintext,
            &address,
            &mut sessions,
            &mut identities,
            SystemTime::now(),
        );
        self.identity_changes(identities.take_replaced());
        let m = match r {
            Ok(m) => m,
            Err(e) => {
                let db = sessions.take_error().or(identities.take_error());
                return Err(db.map_or(ClientError::Signal(e), ClientError::Database));
            }
        };
        let kind = match m.message_type() {
            CiphertextMessageType::PreKey => CiphertextKind::PreKey,
            _ => CiphertextKind::Message,
        };
        Ok(DeviceCiphertext {
            device,
            kind,
            payload: Ciphertext::encode(m.serialize()),
        })
    }

    /// Encrypts for each device, starting a fresh session once for a device whose session
    /// cannot encrypt (stale, unacknowledged, missing).
    async fn encrypt_all(
        &mut self,
        jid: &str,
        devices: &[u32],
        plaintext: &[u8],
    ) -> Result<Vec<DeviceCiphertext>> {
        let mut out = Vec::with_capacity(devices.len());
        for &d in devices {
            match self.encrypt_for(jid, d, plaintext) {
                Ok(c) => out.push(c),
                Err(ClientError::Signal(e)) => {
                    tracing::info!(error = %e, device = d, "fresh session for a device");
                    self.store.delete_session(jid, d)?;
                    self.fetch_bundles(jid, &[d]).await?;
                    match self.encrypt_for(jid, d, plaintext) {
                        Ok(c) => out.push(c),
                        Err(e) => tracing::warn!(error = %e, device = d, "device skipped"),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Encrypts `plaintext` for every known device of `to` and this account's other
    /// devices and writes the message.
    pub(super) async fn send_payload(
        &mut self,
        id: &str,
        to: &str,
        plaintext: &[u8],
    ) -> Result<()> {
        let self_chat = to == self.me;
        let mut to_devices = self.store.session_devices(to)?;
        if self_chat {
            to_devices.retain(|d| *d != self.device);
        } else if to_devices.is_empty() {
            self.fetch_bundles(to, &[]).await?;
            to_devices = self.store.session_devices(to)?;
        }
        let mut own_devices = Vec::new();
        if !self_chat {
            own_devices = self.store.session_devices(&self.me)?;
            own_devices.retain(|d| *d != self.device);
        }
        let to_cts = self.encrypt_all(to, &to_devices, plaintext).await?;
        let me = self.me.clone();
        let own_cts = self.encrypt_all(&me, &own_devices, plaintext).await?;
        let message = Message {
            id: Some(id.into()),
            to: Some(Self::jid(to)?),
            kind: Some(MessageType::Chat),
            e2ee: Some(E2ee {
                to: to_cts,
                own: own_cts,
                ..E2ee::default()
            }),
            ..Message::default()
        };
        *self.attempts.entry(id.to_owned()).or_insert(0) += 1;
        self.conn.send(message)
    }

    /// The hub refused a message because its device set is not current.
    pub(super) async fn on_mismatch(&mut self, id: &str, m: DeviceMismatch) -> Result<()> {
        let tries = self.attempts.get(id).copied().unwrap_or(1);
        if tries >= self.config.max_send_attempts {
            self.attempts.remove(id);
            self.store.outbox_acked(id)?;
            self.store.set_failed(id)?;
            self.emit(Event::SendFailed {
                id: id.to_owned(),
                reason: ClientError::DeviceSetUnsettled {
                    id: id.to_owned(),
                    tries,
                }
                .to_string(),
            });
            return Ok(());
        }
        for s in &m.stale {
            self.store
                .delete_session(&s.jid.to_bare().to_string(), s.device)?;
        }
        let mut missing: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for d in &m.missing {
            missing
                .entry(d.jid.to_bare().to_string())
                .or_default()
                .push(d.device);
        }
        for (jid, devices) in missing {
            self.fetch_bundles(&jid, &devices).await?;
        }
        if let Some((to, sealed)) = self.store.outbox_get(id)? {
            self.send_payload(id, &to, &sealed).await?;
        }
        Ok(())
    }

    /// Sends again everything written to the hub but never acknowledged (after a restart or
    /// a reconnect); recipients drop duplicates by id.
    pub(super) async fn resend_unacked(&mut self) -> Result<()> {
        self.store
            .prune(self.config.keep_sent.as_millis() as u64, 30 * 86_400_000)?;
        for id in self.store.outbox_unacked()? {
            if let Some((to, sealed)) = self.store.outbox_get(&id)? {
                let sent = self.send_payload(&id, &to, &sealed).await;
                if let Err(e) = self.queued(&id, sent) {
                    self.emit(Event::SendFailed {
                        id: id.clone(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// The hub says the one-time prekey stock is low: upload enough to refill it.
    pub(super) async fn refill(&mut self, ec: u32, kyber: u32) -> Result<()> {
        let want_ec = keys::PREKEY_BATCH.saturating_sub(ec);
        let want_kyber = keys::PREKEY_BATCH.saturating_sub(kyber);
        if want_ec == 0 && want_kyber == 0 {
            return Ok(());
        }
        let publish = keys::refill(&self.store, &mut self.rng, want_ec, want_kyber)?;
        let answer = self
            .iq_ok(Iq::set("", publish.into()), "the key refill")
            .await?;
        if let Some(Ok(Count(Some(stock)))) = answer.map(Count::try_from) {
            tracing::debug!(ec = stock.ec, kyber = stock.kyber, "prekeys refilled");
        }
        self.emit(Event::KeysRefilled {
            ec: want_ec,
            kyber: want_kyber,
        });
        Ok(())
    }

    /// Asks the hub how many one-time prekeys of this device are left.
    pub(super) async fn key_stock(&mut self) -> Result<(u32, u32)> {
        let answer = self
            .iq_ok(Iq::get("", Count(None).into()), "the key count")
            .await?;
        match answer.map(Count::try_from) {
            Some(Ok(Count(Some(stock)))) => Ok((stock.ec, stock.kyber)),
            other => Err(ClientError::Protocol {
                what: "the key count",
                detail: format!("{other:?}"),
            }),
        }
    }
}
