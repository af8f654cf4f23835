//! The key directory IQs (`urn:portico:keys:1`, DESIGN.md §4): publish, fetch bundles
//! (one one-time key consumed per device, the last-resort Kyber key when none is left),
//! count, signed device lists, and the low-stock notice.

use portico_stanza::stanza::keys::{
    Bundle, Bundles, Count, DeviceList, Fetch, KeyStock, LowStock, PreKey, Publish, SignedPreKey,
};
use portico_stanza::stanza::{Iq, IqKind, Message, StanzaCondition, StanzaError};
use portico_stanza::{Element, Jid, ns};

use super::session::Bound;
use super::{Inner, Push};
use crate::store::{self, DeviceId, KeyUpload, PrekeyCount, StoreError};

fn signed(k: SignedPreKey) -> store::SignedKey {
    store::SignedKey {
        id: k.id,
        public: k.public,
        signature: k.signature,
    }
}

fn to_wire(k: store::SignedKey) -> SignedPreKey {
    SignedPreKey {
        id: k.id,
        public: k.public,
        signature: k.signature,
    }
}

fn stock(c: PrekeyCount) -> KeyStock {
    KeyStock {
        ec: c.ec,
        kyber: c.kyber,
    }
}

fn store_failed(e: StoreError) -> StanzaError {
    tracing::error!(error = %e, "store failure in the key directory");
    StanzaError::new(StanzaCondition::InternalServerError)
        .with_text("the hub's store failed; retry later")
}

/// Answers one key-directory IQ.
pub async fn handle(inner: &Inner, me: &Bound, iq: &Iq) -> Iq {
    let result = match &iq.kind {
        IqKind::Set(p) if p.name() == "publish" => publish(inner, me, p.clone()).await,
        IqKind::Get(p) if p.name() == "fetch" => fetch(inner, me, p.clone()).await,
        IqKind::Get(p) if p.name() == "count" => inner
            .store
            .prekey_count(&me.account, me.device)
            .await
            .map(|c| Some(Count(Some(stock(c))).into()))
            .map_err(store_failed),
        IqKind::Set(p) if p.name() == "devices" => set_device_list(inner, me, p.clone()).await,
        IqKind::Get(p) if p.name() == "devices" => get_device_list(inner, me, p).await,
        _ => Err(StanzaError::new(StanzaCondition::FeatureNotImplemented)
            .with_text("urn:portico:keys:1 knows publish, fetch, count and devices")),
    };
    match result {
        Ok(payload) => iq.result(payload),
        Err(e) => iq.error(e),
    }
}

/// A third-party device enlisted with one identity key (bound by its provider's assertion);
/// it may not publish another, which would let it, or whoever holds its credential, swap the
/// key that the provider vouched for. Enlisting again with the new key is the way to change it.
async fn check_enlisted_identity(
    inner: &Inner,
    me: &Bound,
    identity: &[u8],
) -> Result<(), StanzaError> {
    // Only third-party accounts (named by their whole internal JID) enlist.
    if !me.account.contains('@') {
        return Ok(());
    }
    let enlisted = inner
        .store
        .third_party_devices(&me.account)
        .await
        .map_err(store_failed)?;
    let Some((_, device)) = enlisted.iter().find(|(d, _)| *d == me.device) else {
        return Ok(());
    };
    if device.identity_key.as_slice() == identity {
        return Ok(());
    }
    inner.metrics.reject("identity-not-enlisted");
    Err(StanzaError::new(StanzaCondition::NotAcceptable).with_text(
        "this device enlisted with another identity key; its provider vouched only for that \
         one: enlist again with an assertion for the new key",
    ))
}

async fn publish(inner: &Inner, me: &Bound, el: Element) -> Result<Option<Element>, StanzaError> {
    let max = inner.config.limits.max_prekeys_per_upload as usize;
    let p = Publish::from_element_with_limit(el, max).map_err(|e| {
        inner.metrics.reject("too-many-prekeys");
        StanzaError::new(StanzaCondition::NotAcceptable)
            .with_text(format!("{e} (limits.max_prekeys_per_upload is {max})"))
    })?;
    if let Some(identity) = &p.identity {
        check_enlisted_identity(inner, me, identity).await?;
    }
    let upload = KeyUpload {
        registration_id: p.registration_id,
        identity_key: p.identity,
        signed_prekey: p.signed_prekey.map(signed),
        last_resort_kyber: p.last_resort_kyber.map(signed),
        one_time_ec: p
            .prekeys
            .into_iter()
            .map(|k| store::PreKey {
                id: k.id,
                public: k.public,
            })
            .collect(),
        one_time_kyber: p.kyber_prekeys.into_iter().map(signed).collect(),
    };
    let count = inner
        .store
        .publish_keys(&me.account, me.device, upload)
        .await
        .map_err(store_failed)?;
    Ok(Some(Count(Some(stock(count))).into()))
}

/// The account behind `jid` if the requester may see its keys: `item-not-found` for an
/// unknown account within the requester's network; across the third-party boundary, the
/// policy's refusal for an account without consent and for one that does not exist alike
/// ([`crate::policy::Policy::key_fetch_refusal`]).
async fn consenting_account(inner: &Inner, me: &Bound, jid: &Jid) -> Result<String, StanzaError> {
    let account = crate::interop::account_of(jid, &inner.config.domain);
    let exists = match &account {
        Some(a) => inner
            .store
            .credentials(a)
            .await
            .map_err(store_failed)?
            .is_some(),
        None => false,
    };
    let target = jid.to_bare();
    let refusal = inner
        .policy
        .key_fetch_refusal(
            inner.store.as_ref(),
            &me.account,
            &me.jid,
            &target,
            account.as_deref().filter(|_| exists),
        )
        .await
        .map_err(store_failed)?;
    if let Some(r) = refusal {
        inner.metrics.reject("keys-not-opted-in");
        return Err(r.into_stanza_error());
    }
    match account {
        Some(a) if exists => Ok(a),
        _ => {
            inner.metrics.reject("unknown-jid");
            Err(StanzaError::new(StanzaCondition::ItemNotFound)
                .with_text(format!("no account {target} on this hub")))
        }
    }
}

async fn fetch(inner: &Inner, me: &Bound, el: Element) -> Result<Option<Element>, StanzaError> {
    let f = Fetch::try_from(el)
        .map_err(|e| StanzaError::new(StanzaCondition::BadRequest).with_text(e.to_string()))?;
    let account = consenting_account(inner, me, &f.jid).await?;
    let registered = inner.store.devices(&account).await.map_err(store_failed)?;
    let wanted: Vec<DeviceId> = if f.devices.is_empty() {
        registered
    } else {
        f.devices
            .iter()
            .copied()
            .filter(|d| registered.contains(d))
            .collect()
    };
    let mut bundles = Vec::new();
    for device in wanted {
        let Some(b) = inner
            .store
            .fetch_bundle(&account, device)
            .await
            .map_err(store_failed)?
        else {
            continue;
        };
        bundles.push(Bundle {
            device: b.device,
            registration_id: b.registration_id,
            identity: b.identity_key,
            signed_prekey: to_wire(b.signed_prekey),
            kyber_prekey: to_wire(b.kyber),
            prekey: b.one_time_ec.map(|k| PreKey {
                id: k.id,
                public: k.public,
            }),
        });
        // Tell the device when its stock runs low, if it is online now.
        if let Ok(jid) = Jid::parse(&crate::interop::full_jid(
            &account,
            &inner.config.domain,
            device,
        )) {
            if let Some(notice) = low_stock_notice(inner, &account, device, &jid).await {
                inner
                    .router
                    .push(&account, device, Push::Stanza(Box::new(notice)));
            }
        }
    }
    Ok(Some(
        Bundles {
            jid: f.jid.to_bare(),
            bundles,
        }
        .into(),
    ))
}

/// A low-stock notice for the device if its one-time prekeys fell under the threshold.
pub async fn low_stock_notice(
    inner: &Inner,
    account: &str,
    device: DeviceId,
    to: &Jid,
) -> Option<Element> {
    let count = inner.store.prekey_count(account, device).await.ok()?;
    let threshold = inner.config.limits.low_prekey_threshold;
    if count.ec >= threshold && count.kyber >= threshold {
        return None;
    }
    // Only devices that took part in the key directory at all are told.
    inner.store.identity_key(account, device).await.ok()??;
    let mut msg: Element = Message {
        from: Jid::parse(&inner.config.domain).ok(),
        to: Some(to.clone()),
        ..Message::default()
    }
    .into();
    msg.push_child(LowStock(stock(count)).into());
    Some(msg)
}

async fn set_device_list(
    inner: &Inner,
    me: &Bound,
    el: Element,
) -> Result<Option<Element>, StanzaError> {
    let list = DeviceList::try_from(el.clone())
        .map_err(|e| StanzaError::new(StanzaCondition::BadRequest).with_text(e.to_string()))?;
    if list.jid.to_bare() != me.jid.to_bare() {
        return Err(StanzaError::new(StanzaCondition::Forbidden)
            .with_text("publish only your own account's device list"));
    }
    if let Some(old) = inner
        .store
        .device_list(&me.account)
        .await
        .map_err(store_failed)?
    {
        let old_version = portico_stanza::Element::from_bytes(&old)
            .ok()
            .and_then(|e| DeviceList::try_from(e).ok())
            .map(|l| l.version)
            .unwrap_or(0);
        if list.version <= old_version {
            return Err(StanzaError::new(StanzaCondition::Conflict)
                .with_text(format!("device list version must be above {old_version}")));
        }
    }
    inner
        .store
        .set_device_list(&me.account, Element::from(list).to_bytes())
        .await
        .map_err(store_failed)?;
    Ok(None)
}

async fn get_device_list(
    inner: &Inner,
    me: &Bound,
    el: &Element,
) -> Result<Option<Element>, StanzaError> {
    let not_found = || {
        StanzaError::new(StanzaCondition::ItemNotFound)
            .with_text("no device list published for this account")
    };
    let jid = el
        .attr("jid")
        .and_then(|j| Jid::parse(j).ok())
        .ok_or_else(|| {
            StanzaError::new(StanzaCondition::BadRequest)
                .with_text("<devices/> needs a jid attribute with the account's bare JID")
        })?;
    let account = consenting_account(inner, me, &jid).await?;
    let bytes = inner
        .store
        .device_list(&account)
        .await
        .map_err(store_failed)?
        .ok_or_else(not_found)?;
    let el = Element::from_bytes(&bytes).map_err(|_| not_found())?;
    debug_assert!(el.is("devices", ns::PORTICO_KEYS));
    Ok(Some(el))
}
