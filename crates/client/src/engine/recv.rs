//! Receiving: hub acks and refusals for what this device sent, low-stock notices, and e2ee
//! messages — decrypt, de-duplicate by (sender, device, id), store, then ack to the hub, then
//! tell the application; delivery receipts go back encrypted. A message that does not
//! decrypt is acked too (so the hub stops redelivering it) and its sender asked to resend.

use portico_content::{Body, Content, ReceiptKind};
use portico_signal::{
    CiphertextMessage, CiphertextMessageType, ProtocolAddress, SignalError, message_decrypt,
};
use portico_stanza::stanza::keys::LowStock;
use portico_stanza::stanza::{
    CiphertextKind, DeviceMismatch, Message, MessageType, Received, StanzaError,
};
use portico_stanza::{Element, Jid, ns};

use super::Engine;
use crate::client::Event;
use crate::envelope::{Plain, open};
use crate::error::{ClientError, Result};
use crate::store::{Direction, LoggedMessage, Status};

/// Who sent an e2ee message, and which copy this device got.
struct Origin {
    sender: String,
    device: u32,
    id: String,
    stanza_id: Option<String>,
    /// The hub's stamp on a third-party sender's message.
    third_party: Option<crate::thirdparty::ThirdPartyOrigin>,
}

impl Engine {
    pub(super) async fn on_stanza(&mut self, el: Element) -> Result<()> {
        if el.name() != "message" {
            return Ok(());
        }
        if let Some(low) = el.get_child("low-stock", ns::PORTICO_KEYS) {
            if let Ok(LowStock(stock)) = LowStock::try_from(low.clone()) {
                return self.refill(stock.ec, stock.kyber).await;
            }
        }
        let m = Message::try_from(el).map_err(|e| ClientError::Protocol {
            what: "a message",
            detail: e.to_string(),
        })?;
        if let Some(ack) = &m.ack {
            let id = ack.id.to_string();
            self.attempts.remove(&id);
            let first_ack = self.store.outbox_acked(&id)?;
            self.store.raise_status(&id, Status::SentToHub)?;
            // Once per message, on its first ack, even if a recipient's receipt came first
            // (the hub pushes to online devices before its durable write is acknowledged):
            // the event says the hub holds it; the logged status never goes down.
            if first_ack && self.store.outgoing_status(&id)?.is_some() {
                self.emit(Event::Sent { id });
            }
            return Ok(());
        }
        if m.kind == Some(MessageType::Error) {
            return self.on_refusal(m).await;
        }
        if m.e2ee.is_some() {
            return self.on_e2ee(m).await;
        }
        Ok(())
    }

    async fn on_refusal(&mut self, m: Message) -> Result<()> {
        let Some(id) = m.id.map(|i| i.to_string()) else {
            return Ok(());
        };
        let Some(error) = m.error else {
            return Ok(());
        };
        if let Some(Ok(mismatch)) = DeviceMismatch::from_stanza_error(&error) {
            return self.on_mismatch(&id, mismatch).await;
        }
        self.attempts.remove(&id);
        self.store.outbox_acked(&id)?;
        self.store.set_failed(&id)?;
        self.emit(Event::SendFailed {
            id,
            reason: describe(&error),
        });
        Ok(())
    }

    fn ack_hub(&self, origin: &Origin) -> Result<()> {
        match &origin.stanza_id {
            Some(s) => self.conn.send(Received {
                stanza_id: s.as_str().into(),
            }),
            None => Ok(()),
        }
    }

    async fn on_e2ee(&mut self, m: Message) -> Result<()> {
        let (Some(from), Some(id), Some(e2ee)) = (m.from, m.id, m.e2ee) else {
            return Ok(());
        };
        let device = from
            .resource()
            .and_then(|r| r.parse().ok())
            .or(e2ee.sender_device);
        let Some(device) = device else {
            return Ok(());
        };
        let third_party =
            crate::thirdparty::ThirdPartyOrigin::from_stamp(m.interop, &from, &self.config.domain);
        if let Some(t) = &third_party {
            self.store
                .remember_third_party(&from.to_bare().to_string(), t)?;
        }
        let origin = Origin {
            sender: from.to_bare().to_string(),
            device,
            id: id.to_string(),
            stanza_id: e2ee.stanza_id.map(|s| s.to_string()),
            third_party,
        };
        let mine = e2ee
            .to
            .iter()
            .chain(e2ee.own.iter())
            .find(|c| c.device == self.device);
        let Some(ct) = mine else {
            return self.ack_hub(&origin);
        };
        if self
            .store
            .was_seen(&origin.sender, origin.device, &origin.id)?
        {
            return self.ack_hub(&origin);
        }
        let kind = match ct.kind {
            CiphertextKind::PreKey => CiphertextMessageType::PreKey,
            CiphertextKind::Message => CiphertextMessageType::Whisper,
        };
        let decrypted = match ct.payload.decode() {
            Ok(bytes) => self.decrypt(&origin, kind, &bytes),
            Err(_) => Err(ClientError::Signal(SignalError::DecryptionFailed)),
        };
        match decrypted {
            Ok(plaintext) => {
                let opened = open(&plaintext, &self.limits);
                self.on_plain(origin, opened).await
            }
            Err(ClientError::Signal(SignalError::DuplicatedMessage { .. })) => {
                self.ack_hub(&origin)
            }
            Err(ClientError::Signal(SignalError::UntrustedIdentity(_))) => {
                self.ack_hub(&origin)?;
                self.emit(Event::IdentityUntrusted {
                    jid: from.to_bare(),
                    device,
                    id: origin.id.clone(),
                });
                Ok(())
            }
            Err(ClientError::Signal(e)) => {
                tracing::info!(error = %e, device, "a message did not decrypt; asking for a resend");
                self.ack_hub(&origin)?;
                self.emit(Event::DecryptionFailed {
                    from: from.to_bare(),
                    device,
                    id: origin.id.clone(),
                });
                self.ask_resend(&origin.sender, device, &origin.id).await
            }
            Err(other) => Err(other),
        }
    }

    fn decrypt(
        &mut self,
        origin: &Origin,
        kind: CiphertextMessageType,
        bytes: &[u8],
    ) -> Result<Vec<u8>> {
        let message = CiphertextMessage::deserialize(kind, bytes)?;
        let address = ProtocolAddress::new(origin.sender.as_str(), origin.device);
        let mut sessions = self.store.signal();
        let mut identities = self.store.signal();
        let mut prekeys = self.store.signal();
        let signed = self.store.signal();
        let mut kyber = self.store.signal();
        let r = message_decrypt(
            &message,
            &address,
            &mut sessions,
            &mut identities,
            &mut prekeys,
            &signed,
            &mut kyber,
            &mut self.rng,
        );
        let replaced = identities.take_replaced();
        self.identity_changes(replaced);
        r.map_err(|e| {
            let db = [&sessions, &identities, &prekeys, &signed, &kyber]
                .into_iter()
                .find_map(|v| v.take_error());
            db.map_or(ClientError::Signal(e), ClientError::Database)
        })
    }

    pub(super) fn identity_changes(&self, replaced: Vec<(String, u32)>) {
        for (jid, device) in replaced {
            if let Ok(jid) = Jid::parse(&jid) {
                self.emit(Event::IdentityChanged { jid, device });
            }
        }
    }

    async fn on_plain(&mut self, origin: Origin, opened: Result<Plain>) -> Result<()> {
        let from_me = origin.sender == self.me;
        match opened {
            Err(e) => {
                tracing::info!(error = %e, "dropping content this client cannot read");
                self.store
                    .mark_seen(&origin.sender, origin.device, &origin.id)?;
                self.ack_hub(&origin)
            }
            Ok(Plain::Retry(r)) => {
                self.store
                    .mark_seen(&origin.sender, origin.device, &origin.id)?;
                self.ack_hub(&origin)?;
                if r.device == self.device {
                    self.resend(&origin.sender, &r.id).await?;
                }
                Ok(())
            }
            Ok(Plain::Content { content, sync_to }) => {
                let conversation = match (from_me, sync_to) {
                    (true, Some(to)) => to,
                    (true, None) => origin.sender.clone(),
                    (false, _) => origin.sender.clone(),
                };
                self.on_content(origin, conversation, from_me, content)
                    .await
            }
        }
    }

    async fn on_content(
        &mut self,
        origin: Origin,
        conversation: String,
        from_me: bool,
        content: Box<Content>,
    ) -> Result<()> {
        let jid = |s: &str| Jid::parse(s).map_err(|_| ClientError::BadAddress(s.to_owned()));
        let mut events = Vec::new();
        let mut deliver_receipt = false;
        match &content.body {
            Some(Body::Receipt(r)) => {
                if !from_me {
                    for id in &r.message_ids {
                        let (status, ev) = match ReceiptKind::try_from(r.kind) {
                            Ok(ReceiptKind::Read) => (
                                Status::Read,
                                Event::Read {
                                    id: id.clone(),
                                    by: jid(&origin.sender)?,
                                },
                            ),
                            _ => (
                                Status::Delivered,
                                Event::Delivered {
                                    id: id.clone(),
                                    by: jid(&origin.sender)?,
                                },
                            ),
                        };
                        if self.store.raise_status(id, status)? {
                            events.push(ev);
                        }
                    }
                }
            }
            body => {
                // Texts, and attachments as a line naming the file (the message log keeps
                // text; the attachment itself comes with the event).
                let logged = match body {
                    Some(Body::Text(t)) => Some(t.body.clone()),
                    Some(Body::Attachment(a)) => Some(crate::media::log_line(a)),
                    _ => None,
                };
                if let Some(text) = logged {
                    self.store.log_message(&LoggedMessage {
                        conversation: conversation.clone(),
                        id: origin.id.clone(),
                        direction: if from_me {
                            Direction::Outgoing
                        } else {
                            Direction::Incoming
                        },
                        sender: origin.sender.clone(),
                        body: text,
                        status: if from_me {
                            Status::SentToHub
                        } else {
                            Status::Received
                        },
                        sent_at_ms: content.sent_at_ms,
                    })?;
                    deliver_receipt = !from_me;
                }
                events.push(Event::Message {
                    conversation: jid(&conversation)?,
                    from: jid(&origin.sender)?,
                    device: origin.device,
                    id: origin.id.clone(),
                    content: content.clone(),
                    third_party: origin.third_party.clone(),
                });
            }
        }
        self.store
            .mark_seen(&origin.sender, origin.device, &origin.id)?;
        self.ack_hub(&origin)?;
        for ev in events {
            self.emit(ev);
        }
        if deliver_receipt {
            self.send_receipt(&origin.sender, ReceiptKind::Delivered, vec![origin.id])
                .await?;
        }
        Ok(())
    }
}

pub(super) fn describe(e: &StanzaError) -> String {
    match &e.text {
        Some(t) => format!("{}: {t}", e.condition.as_str()),
        None => e.condition.as_str().to_owned(),
    }
}
