//! This device's Signal keys: first-start generation (identity, registration id), the
//! published set (signed prekey, last-resort Kyber prekey, one-time EC and Kyber prekeys),
//! refills when the hub reports low stock, and turning fetched bundles into sessions.

use std::time::SystemTime;

use portico_signal::{
    IdentityKey, IdentityKeyPair, KemKeyType, KemPublicKey, KyberBundleEntry, KyberPreKeyRecord,
    PreKeyBundle, PreKeyRecord, PreKeyStore, ProtocolAddress, PublicKey, SignedPreKeyRecord,
    SignedPreKeyStore, process_prekey_bundle,
};
use portico_stanza::stanza::keys::{Bundle, PreKey, Publish, SignedPreKey};
use rand::rngs::StdRng;

use crate::error::{ClientError, Result};
use crate::store::Store;

/// One-time prekeys of each kind kept published (the hub takes at most 100 per upload).
pub const PREKEY_BATCH: u32 = 100;

/// Creates the identity and registration id on first start; returns the identity.
pub(crate) fn ensure_identity(store: &Store, rng: &mut StdRng) -> Result<IdentityKeyPair> {
    if let Some(id) = store.identity()? {
        return Ok(id);
    }
    let id = IdentityKeyPair::generate(rng);
    let registration_id = (rand::RngCore::next_u32(rng) & 0x3fff).max(1);
    store.set_identity(&id, registration_id)?;
    Ok(id)
}

fn next_id(store: &Store, key: &str, n: u32) -> Result<u32> {
    let first = store.meta_u32(key)?.unwrap_or(1);
    store.set_meta_u32(key, first + n)?;
    Ok(first)
}

fn now_secs() -> u64 {
    crate::store::now_ms() / 1000
}

fn signal_err(
    store: &crate::store::SignalStore<'_>,
    e: portico_signal::SignalError,
) -> ClientError {
    match store.take_error() {
        Some(db) => ClientError::Database(db),
        None => ClientError::Signal(e),
    }
}

fn kyber_entry(r: &KyberPreKeyRecord) -> SignedPreKey {
    SignedPreKey {
        id: r.id(),
        public: r.public_key().serialize(),
        signature: r.signature().to_vec(),
    }
}

/// The full first upload: identity, signed prekey, last-resort Kyber, and a batch of
/// one-time keys of each kind. All private halves are stored before anything is sent.
pub(crate) fn initial_publish(store: &Store, rng: &mut StdRng) -> Result<Publish> {
    let id = ensure_identity(store, rng)?;
    let registration_id = store
        .meta_u32("registration_id")?
        .ok_or_else(|| ClientError::CorruptDatabase("no registration id".into()))?;
    let signal = store.signal();
    let signed_prekey = new_signed_prekey(store, &id, rng)?;
    let lr_id = next_id(store, "next_kyber_prekey", 1)?;
    let last_resort =
        KyberPreKeyRecord::generate(KemKeyType::Kyber1024, lr_id, now_secs(), &id, rng);
    signal
        .save_kyber(&last_resort, true)
        .map_err(|e| signal_err(&signal, e))?;
    let mut publish = refill(store, rng, PREKEY_BATCH, PREKEY_BATCH)?;
    publish.registration_id = Some(registration_id);
    publish.identity = Some(id.identity_key().serialize().to_vec());
    publish.signed_prekey = Some(signed_prekey);
    publish.last_resort_kyber = Some(kyber_entry(&last_resort));
    Ok(publish)
}

fn new_signed_prekey(
    store: &Store,
    id: &IdentityKeyPair,
    rng: &mut StdRng,
) -> Result<SignedPreKey> {
    let mut signal = store.signal();
    let spk_id = next_id(store, "next_signed_prekey", 1)?;
    let spk = SignedPreKeyRecord::generate(spk_id, now_secs(), id, rng);
    signal
        .save_signed_pre_key(spk_id, &spk)
        .map_err(|e| signal_err(&signal, e))?;
    store.set_meta("signed_prekey_at", &crate::store::now_ms().to_be_bytes())?;
    Ok(SignedPreKey {
        id: spk_id,
        public: spk.public_key().serialize().to_vec(),
        signature: spk.signature().to_vec(),
    })
}

/// A new signed prekey as an upload if the current one is older than `max_age` (the old
/// ones stay stored for messages already on their way).
pub(crate) fn rotate_if_old(
    store: &Store,
    rng: &mut StdRng,
    max_age: std::time::Duration,
) -> Result<Option<Publish>> {
    let at = store
        .meta("signed_prekey_at")?
        .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0);
    if crate::store::now_ms().saturating_sub(at) < max_age.as_millis() as u64 {
        return Ok(None);
    }
    let id = ensure_identity(store, rng)?;
    Ok(Some(Publish {
        signed_prekey: Some(new_signed_prekey(store, &id, rng)?),
        ..Publish::default()
    }))
}

/// `ec` new one-time EC prekeys and `kyber` new one-time Kyber prekeys, stored, as an upload.
pub(crate) fn refill(store: &Store, rng: &mut StdRng, ec: u32, kyber: u32) -> Result<Publish> {
    let id = ensure_identity(store, rng)?;
    let mut signal = store.signal();
    let first_ec = next_id(store, "next_prekey", ec)?;
    let first_kyber = next_id(store, "next_kyber_prekey", kyber)?;
    let mut publish = Publish::default();
    store.db.execute_batch("BEGIN")?;
    let result = (|| -> Result<()> {
        for i in 0..ec {
            let r = PreKeyRecord::generate(first_ec + i, rng);
            signal
                .save_pre_key(r.id(), &r)
                .map_err(|e| signal_err(&signal, e))?;
            publish.prekeys.push(PreKey {
                id: r.id(),
                public: r.public_key().serialize().to_vec(),
            });
        }
        for i in 0..kyber {
            let r = KyberPreKeyRecord::generate(
                KemKeyType::Kyber1024,
                first_kyber + i,
                now_secs(),
                &id,
                rng,
            );
            signal
                .save_kyber(&r, false)
                .map_err(|e| signal_err(&signal, e))?;
            publish.kyber_prekeys.push(kyber_entry(&r));
        }
        Ok(())
    })();
    match result {
        Ok(()) => store.db.execute_batch("COMMIT")?,
        Err(e) => {
            let _ = store.db.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    Ok(publish)
}

fn bad_bundle(jid: &str, device: u32, e: portico_signal::SignalError) -> ClientError {
    ClientError::Protocol {
        what: "a key fetch",
        detail: format!("the bundle of {jid}/{device} is invalid: {e}"),
    }
}

/// Starts a session with `jid`'s device from its fetched bundle; returns the devices whose
/// identity key this replaced.
pub(crate) fn process_bundle(
    store: &Store,
    jid: &str,
    b: &Bundle,
    rng: &mut StdRng,
) -> Result<Vec<(String, u32)>> {
    let pk = |bytes: &[u8]| PublicKey::deserialize(bytes).map_err(|e| bad_bundle(jid, b.device, e));
    let bundle = PreKeyBundle {
        registration_id: b.registration_id,
        device_id: b.device,
        pre_key: match &b.prekey {
            Some(p) => Some((p.id, pk(&p.public)?)),
            None => None,
        },
        signed_pre_key_id: b.signed_prekey.id,
        signed_pre_key: pk(&b.signed_prekey.public)?,
        signed_pre_key_signature: b.signed_prekey.signature.clone(),
        identity_key: IdentityKey::deserialize(&b.identity)
            .map_err(|e| bad_bundle(jid, b.device, e))?,
        kyber_pre_key: Some(KyberBundleEntry {
            id: b.kyber_prekey.id,
            public_key: KemPublicKey::deserialize(&b.kyber_prekey.public)
                .map_err(|e| bad_bundle(jid, b.device, e))?,
            signature: b.kyber_prekey.signature.clone(),
        }),
    };
    let mut sessions = store.signal();
    let mut identities = store.signal();
    let address = ProtocolAddress::new(jid, b.device);
    process_prekey_bundle(
        &address,
        &mut sessions,
        &mut identities,
        &bundle,
        SystemTime::now(),
        rng,
    )
    .map_err(
        |e| match sessions.take_error().or(identities.take_error()) {
            Some(db) => ClientError::Database(db),
            None => ClientError::Signal(e),
        },
    )?;
    Ok(identities.take_replaced())
}
