//! Routing decisions for e2ee messages (DESIGN.md §4): addressing and the device-set check
//! (missing and stale devices listed), one queued copy per device, the pushes to online
//! devices as soon as the store has ordered the write (delivery does not wait for the disk:
//! see [`crate::store::Store::enqueue_assigned`]), and after the durable write the sender's
//! `<ack/>` (so no sender is told "sent" for a message that could still be lost).
//!
//! Before anything else about the recipient is looked at, the policy check
//! ([`crate::policy::Policy::check`]: blocks, opt-in, new contacts, rate limits) refuses with
//! its specific error, so a refused sender learns neither devices nor existence from a
//! mismatch. The interop stamp: a device receives a copy rebuilt from what was queued (the
//! ciphertext, sender, id), so nothing else a client put in its message (a forged
//! `<interop/>` included) ever reaches anyone; the hub itself records the provider and
//! visible id of a third-party sender with each copy and stamps the delivered stanza.

use std::collections::BTreeSet;
use std::sync::Arc;

use portico_stanza::stanza::{
    Ack, Ciphertext, CiphertextKind, DeviceAddress, DeviceCiphertext, DeviceMismatch, E2ee,
    Interop, Message, MessageType, StanzaCondition, StanzaError,
};
use portico_stanza::{CompactString, Element, Jid, ns};

use super::session::{Bound, message_error};
use super::{Inner, Push};
use crate::store::sqlite::now_ms;
use crate::store::{
    DeviceId, Enqueued, NewMessage, QueueLimits, QueuedMessage, StoreError, StoreFuture,
};

/// Flag byte of a stored payload: which element the ciphertext travels in, and its type.
const FLAG_SELF: u8 = 1;
const FLAG_PREKEY: u8 = 2;
/// The payload carries the hub's interop stamp before the ciphertext: provider length
/// (1 byte), provider, visible id length (2 bytes, big endian), visible id.
const FLAG_INTEROP: u8 = 4;

/// The stored form of one copy: flags, the optional interop stamp, the base64 ciphertext.
pub fn encode_payload(c: &DeviceCiphertext, own: bool, stamp: Option<&Interop>) -> Vec<u8> {
    let mut flags = 0;
    if own {
        flags |= FLAG_SELF;
    }
    if c.kind == CiphertextKind::PreKey {
        flags |= FLAG_PREKEY;
    }
    let stamp = stamp.and_then(|s| {
        let p = u8::try_from(s.provider.len()).ok()?;
        let v = u16::try_from(s.visible.len()).ok()?;
        Some((s, p, v))
    });
    let b64 = c.payload.as_base64().as_bytes();
    let mut out = Vec::with_capacity(1 + b64.len());
    match stamp {
        Some((s, p, v)) => {
            out.push(flags | FLAG_INTEROP);
            out.push(p);
            out.extend_from_slice(s.provider.as_bytes());
            out.extend_from_slice(&v.to_be_bytes());
            out.extend_from_slice(s.visible.as_bytes());
        }
        None => out.push(flags),
    }
    out.extend_from_slice(b64);
    out
}

/// Splits a stored payload's interop stamp off its ciphertext.
fn split_stamp(flags: u8, rest: &[u8]) -> Option<(Option<Interop>, &[u8])> {
    if flags & FLAG_INTEROP == 0 {
        return Some((None, rest));
    }
    let (&plen, rest) = rest.split_first()?;
    let (provider, rest) = rest.split_at_checked(usize::from(plen))?;
    let (vlen, rest) = rest.split_at_checked(2)?;
    let vlen = u16::from_be_bytes([vlen[0], vlen[1]]);
    let (visible, rest) = rest.split_at_checked(usize::from(vlen))?;
    let stamp = Interop {
        provider: std::str::from_utf8(provider).ok()?.into(),
        visible: std::str::from_utf8(visible).ok()?.into(),
    };
    Some((Some(stamp), rest))
}

/// The stanza a device receives for a queued message.
pub fn delivery_stanza(m: &QueuedMessage, to: &Jid, device: DeviceId) -> Option<Message> {
    let (&flags, rest) = m.payload.split_first()?;
    let (interop, b64) = split_stamp(flags, rest)?;
    let payload = Ciphertext::from_base64(std::str::from_utf8(b64).ok()?)?;
    let kind = if flags & FLAG_PREKEY != 0 {
        CiphertextKind::PreKey
    } else {
        CiphertextKind::Message
    };
    let sender = Jid::parse(&m.sender).ok()?;
    let sender_device = sender.resource().and_then(|r| r.parse().ok());
    let c = DeviceCiphertext {
        device,
        kind,
        payload,
    };
    let (to_list, own) = if flags & FLAG_SELF != 0 {
        (Vec::new(), vec![c])
    } else {
        (vec![c], Vec::new())
    };
    let e2ee = E2ee {
        sender_device,
        stanza_id: Some(m.stanza_id.to_string().into()),
        timestamp: Some(m.timestamp_ms),
        to: to_list,
        own,
        extra: Vec::new(),
    };
    Some(Message {
        id: Some(m.msg_id.as_str().into()),
        from: Some(sender),
        to: Some(to.clone()),
        kind: Some(MessageType::Chat),
        e2ee: Some(e2ee),
        interop,
        ..Message::default()
    })
}

/// What [`finish`] answers the sender: usually a plain `<ack/>` message (serialized without
/// an element tree), an element when it carries extra children or is an error.
pub enum Reply {
    /// The plain ack.
    Ack(Box<Message>),
    /// An ack with `<queue-full/>` notices, or an error.
    Element(Element),
}

/// A refusal: where to send it, the message id, and the error.
pub type RouteError = (Jid, Option<CompactString>, StanzaError);

/// A message accepted for queueing: what [`submit`] pushes once the copies are committed,
/// and what [`finish`] needs once the write is durable.
pub struct SendCtx {
    msg_id: CompactString,
    sender: String,
    reply_to: Jid,
    /// Each copy's device and payload, for the pushes (by [`submit`] if the store assigned
    /// the stanza-id at once, else by [`finish`]).
    targets: Vec<(String, DeviceId, Vec<u8>)>,
    /// Third-party devices among the targets: those offline get a push notification through
    /// their provider once the message is durable.
    third_party: Vec<(String, DeviceId)>,
}

/// Checks a message (addressing, device sets) and builds its per-device copies and the
/// queue limits for [`crate::store::Store::enqueue`].
pub async fn prepare(
    inner: &Inner,
    me: &Bound,
    m: Message,
) -> Result<(Vec<NewMessage>, QueueLimits, SendCtx), RouteError> {
    let reply_to = me.jid.clone();
    let id = m.id.clone();
    let fail = |c: StanzaCondition, text: String| {
        (
            reply_to.clone(),
            id.clone(),
            StanzaError::new(c).with_text(text),
        )
    };
    let Some(e2ee) = m.e2ee else {
        return Err(fail(
            StanzaCondition::PolicyViolation,
            "the hub carries only end-to-end encrypted messages (<e2ee xmlns='urn:portico:e2ee:1'>)".into(),
        ));
    };
    let Some(msg_id) = m.id.clone() else {
        return Err(fail(
            StanzaCondition::BadRequest,
            "an e2ee message needs an id".into(),
        ));
    };
    let Some(to) = m.to else {
        return Err(fail(
            StanzaCondition::BadRequest,
            "an e2ee message needs a 'to' address".into(),
        ));
    };
    if to.domain() != inner.config.domain
        && crate::interop::account_of(&to, &inner.config.domain).is_none()
    {
        return Err(fail(
            StanzaCondition::RemoteServerNotFound,
            format!(
                "{} is not served by this hub; only {} is",
                to.domain(),
                inner.config.domain
            ),
        ));
    }
    let Some(recipient) = crate::interop::account_of(&to, &inner.config.domain) else {
        return Err(fail(
            StanzaCondition::BadRequest,
            "address the recipient's bare JID".into(),
        ));
    };
    let store_err = |_| {
        fail(
            StanzaCondition::InternalServerError,
            "the hub's store failed; retry later".into(),
        )
    };
    let recipient_jid = Jid::parse(&crate::interop::bare_jid(&recipient, &inner.config.domain))
        .map_err(|_| fail(StanzaCondition::JidMalformed, "invalid recipient".into()))?;
    let route = crate::policy::shell::Route {
        sender_account: &me.account,
        sender: &me.jid,
        recipient_account: &recipient,
        recipient: &recipient_jid,
        address: me.address,
    };
    let decision = inner
        .policy
        .check(inner.store.as_ref(), &route, now_ms())
        .await
        .map_err(store_err)?;
    if let crate::policy::Decision::Refuse(reason) = decision {
        inner.metrics.reject(reason.metric());
        return Err((reply_to.clone(), id.clone(), reason.to_stanza_error()));
    }
    let stamp = me.third_party.as_ref().map(|t| Interop {
        provider: t.provider.as_str().into(),
        visible: t.visible_id.as_str().into(),
    });
    let recipient_devices = inner.devices(&recipient).await.map_err(store_err)?;
    if recipient_devices.is_empty() {
        let exists = inner
            .store
            .credentials(&recipient)
            .await
            .map_err(store_err)?
            .is_some();
        let text = if exists {
            let jid = crate::interop::bare_jid(&recipient, &inner.config.domain);
            format!("{jid} has no devices yet")
        } else {
            let jid = crate::interop::bare_jid(&recipient, &inner.config.domain);
            format!("no account {jid}")
        };
        return Err(fail(StanzaCondition::ItemNotFound, text));
    }
    let distinct = |list: &[DeviceCiphertext]| {
        list.iter().map(|c| c.device).collect::<BTreeSet<_>>().len() == list.len()
    };
    if !distinct(&e2ee.to) || !distinct(&e2ee.own) {
        return Err(fail(
            StanzaCondition::BadRequest,
            "one ciphertext per device, please".into(),
        ));
    }
    let self_chat = recipient == me.account;
    let own_devices = if self_chat {
        Vec::new()
    } else {
        inner
            .devices(&me.account)
            .await
            .map_err(store_err)?
            .to_vec()
    };
    let bare = |name: &str| Jid::parse(&crate::interop::bare_jid(name, &inner.config.domain)).ok();
    let mut mismatch = DeviceMismatch::default();
    let expected_to: BTreeSet<DeviceId> = recipient_devices
        .iter()
        .copied()
        .filter(|d| !(self_chat && *d == me.device))
        .collect();
    let expected_own: BTreeSet<DeviceId> = own_devices
        .iter()
        .copied()
        .filter(|d| *d != me.device)
        .collect();
    compare(&expected_to, &e2ee.to, bare(&recipient), &mut mismatch);
    compare(&expected_own, &e2ee.own, bare(&me.account), &mut mismatch);
    if !mismatch.missing.is_empty() || !mismatch.stale.is_empty() {
        return Err((reply_to.clone(), id.clone(), mismatch.into_stanza_error()));
    }
    let sender = me.jid.to_string();
    let copies: Vec<NewMessage> = e2ee
        .to
        .iter()
        .map(|c| (recipient.as_str(), c, false))
        .chain(e2ee.own.iter().map(|c| (me.account.as_str(), c, true)))
        .map(|(account, c, own)| NewMessage {
            account: account.to_owned(),
            device: c.device,
            sender: sender.clone(),
            msg_id: msg_id.to_string(),
            payload: encode_payload(c, own, stamp.as_ref()),
        })
        .collect();
    let q = &inner.config.queue;
    let limits = QueueLimits {
        max_per_device: q.max_per_device,
        ttl_ms: u64::from(q.ttl_days) * 86_400_000,
        now_ms: now_ms(),
    };
    let targets: Vec<(String, DeviceId, Vec<u8>)> = copies
        .iter()
        .map(|c| (c.account.clone(), c.device, c.payload.clone()))
        .collect();
    let third_party = copies
        .iter()
        .filter(|c| crate::interop::is_third_party(&c.account))
        .map(|c| (c.account.clone(), c.device))
        .collect();
    let ctx = SendCtx {
        msg_id,
        sender,
        reply_to: me.jid.clone(),
        targets,
        third_party,
    };
    Ok((copies, limits, ctx))
}

/// Hands the copies to the store and, if it assigned the stanza-id at once, pushes each
/// online device its copy now, before the write is durable (the returned future resolves
/// once it is, and [`finish`] then answers the sender). A device whose queue turns out to be
/// full may still get its copy this way; the sender's ack reports the full queue.
pub fn submit(
    inner: &Inner,
    copies: Vec<NewMessage>,
    limits: QueueLimits,
    ctx: &mut SendCtx,
) -> StoreFuture<'static, Enqueued> {
    let (assigned, durable) = inner.store.enqueue_assigned(copies, limits);
    if let Some(stanza_id) = assigned {
        let targets = std::mem::take(&mut ctx.targets);
        push_copies(inner, ctx, stanza_id, limits.now_ms, targets, &[]);
    }
    durable
}

/// Pushes each copy to its device's session, if online (an offline device finds it in its
/// backlog when it connects), skipping the devices in `skip`.
fn push_copies(
    inner: &Inner,
    ctx: &SendCtx,
    stanza_id: u64,
    timestamp_ms: u64,
    targets: Vec<(String, DeviceId, Vec<u8>)>,
    skip: &[(String, DeviceId)],
) {
    for (account, device, payload) in targets {
        if skip.iter().any(|(a, d)| *a == account && *d == device) {
            continue;
        }
        let queued = Arc::new(QueuedMessage {
            stanza_id,
            sender: ctx.sender.clone(),
            msg_id: ctx.msg_id.to_string(),
            timestamp_ms,
            payload,
        });
        inner.router.push(&account, device, Push::Deliver(queued));
    }
}

/// After the durable write: returns the sender's `<ack/>` (with a `<queue-full/>` notice
/// per device whose queue was full) and asks the providers of offline third-party devices
/// for a push notification, or returns the error if the write failed (then the sender is
/// told nothing was sent; a device may have been pushed its copy already, and de-duplicates
/// the sender's retry).
pub fn finish(inner: &Inner, mut ctx: SendCtx, written: Result<Enqueued, StoreError>) -> Reply {
    if let Ok(done) = &written {
        // The store could not assign the id at submission: push now that it is durable.
        let targets = std::mem::take(&mut ctx.targets);
        push_copies(
            inner,
            &ctx,
            done.stanza_id,
            done.timestamp_ms,
            targets,
            &done.overflowed,
        );
    }
    let SendCtx {
        msg_id,
        reply_to,
        third_party,
        ..
    } = ctx;
    let done = match written {
        Ok(done) => done,
        Err(e) => {
            tracing::error!(error = %e, "queue write failed");
            inner.metrics.reject("store-failed");
            let err = StanzaError::new(StanzaCondition::InternalServerError)
                .with_text("the hub could not store the message; it was not sent");
            return Reply::Element(message_error(&reply_to, Some(msg_id), err).into());
        }
    };
    let q = &inner.config.queue;
    for (account, device) in third_party {
        let skipped = done
            .overflowed
            .iter()
            .any(|(a, d)| *a == account && *d == device);
        if !skipped && !inner.router.is_online(&account, device) {
            inner.interop.offline(&account, device);
        }
    }
    let ack = Message {
        from: Jid::parse(&inner.config.domain).ok(),
        to: Some(reply_to),
        ack: Some(Ack {
            id: msg_id,
            stanza_id: done.stanza_id.to_string().into(),
            timestamp: done.timestamp_ms,
        }),
        ..Message::default()
    };
    if done.overflowed.is_empty() {
        return Reply::Ack(Box::new(ack));
    }
    let mut ack: Element = ack.into();
    for (account, device) in &done.overflowed {
        inner.metrics.reject("queue-full");
        ack.push_child(
            Element::new("queue-full", ns::PORTICO_E2EE)
                .with_attr(
                    "jid",
                    crate::interop::bare_jid(account, &inner.config.domain),
                )
                .with_attr("device", device.to_string())
                .with_attr("max", q.max_per_device.to_string()),
        );
    }
    Reply::Element(ack)
}

fn compare(
    expected: &BTreeSet<DeviceId>,
    given: &[DeviceCiphertext],
    jid: Option<Jid>,
    out: &mut DeviceMismatch,
) {
    let Some(jid) = jid else { return };
    let given: BTreeSet<DeviceId> = given.iter().map(|c| c.device).collect();
    for d in expected.difference(&given) {
        out.missing.push(DeviceAddress {
            jid: jid.clone(),
            device: *d,
        });
    }
    for d in given.difference(expected) {
        out.stale.push(DeviceAddress {
            jid: jid.clone(),
            device: *d,
        });
    }
}
