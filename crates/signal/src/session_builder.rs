//! Starting sessions: the initiator processes a [`PreKeyBundle`]; the responder processes
//! the handshake part of a [`PreKeySignalMessage`].

use std::time::{SystemTime, UNIX_EPOCH};

use rand_core::CryptoRng;

use crate::address::ProtocolAddress;
use crate::bundle::PreKeyBundle;
use crate::error::{Result, SignalError};
use crate::keys::KeyPair;
use crate::messages::PreKeySignalMessage;
use crate::pqxdh::{
    AliceParameters, BobParameters, initialize_alice_session, initialize_bob_session,
};
use crate::state::{PendingPreKey, SessionRecord};
use crate::storage::{
    Direction, IdentityKeyStore, KyberPreKeyStore, PreKeyStore, SessionStore, SignedPreKeyStore,
};

/// Starts a session with `address` from its prekey bundle (PQXDH when the bundle has a Kyber
/// prekey, X3DH otherwise). Messages sent before the peer answers are prekey messages.
///
/// Errors: [`SignalError::UntrustedIdentity`] when the identity store refuses the bundle's
/// identity; [`SignalError::InvalidSignedPreKeySignature`] /
/// [`SignalError::InvalidKyberPreKeySignature`] when a prekey signature does not verify.
pub fn process_prekey_bundle<R: CryptoRng + ?Sized>(
    address: &ProtocolAddress,
    session_store: &mut dyn SessionStore,
    identity_store: &mut dyn IdentityKeyStore,
    bundle: &PreKeyBundle,
    now: SystemTime,
    rng: &mut R,
) -> Result<()> {
    let their_identity = &bundle.identity_key;
    if !identity_store.is_trusted_identity(address, their_identity, Direction::Sending)? {
        return Err(SignalError::UntrustedIdentity(address.clone()));
    }
    if !their_identity.verify_signature(
        &bundle.signed_pre_key.serialize(),
        &bundle.signed_pre_key_signature,
    ) {
        return Err(SignalError::InvalidSignedPreKeySignature);
    }
    if let Some(kyber) = &bundle.kyber_pre_key {
        if !their_identity.verify_signature(&kyber.public_key.serialize(), &kyber.signature) {
            return Err(SignalError::InvalidKyberPreKeySignature);
        }
    }

    let our_identity = identity_store.identity_key_pair()?;
    let our_base_key = KeyPair::generate(rng);
    let params = AliceParameters {
        our_identity: &our_identity,
        our_base_key: &our_base_key,
        their_identity,
        their_signed_pre_key: &bundle.signed_pre_key,
        their_one_time_pre_key: bundle.pre_key.as_ref().map(|(_, k)| k),
        their_kyber_pre_key: bundle.kyber_pre_key.as_ref().map(|k| &k.public_key),
    };
    let (mut state, kyber_ciphertext) = initialize_alice_session(&params, rng);
    state.pending_pre_key = Some(PendingPreKey {
        pre_key_id: bundle.pre_key.as_ref().map(|(id, _)| *id),
        signed_pre_key_id: bundle.signed_pre_key_id,
        base_key: our_base_key.public_key,
        timestamp: now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        kyber: bundle
            .kyber_pre_key
            .as_ref()
            .zip(kyber_ciphertext)
            .map(|(k, ct)| (k.id, ct)),
    });
    state.local_registration_id = identity_store.local_registration_id()?;
    state.remote_registration_id = bundle.registration_id;

    let mut record = session_store
        .load_session(address)?
        .unwrap_or_else(SessionRecord::new_fresh);
    record.promote_state(state);
    identity_store.save_identity(address, their_identity)?;
    session_store.store_session(address, &record)?;
    Ok(())
}

/// Prekeys a processed prekey message used, to consume once its message decrypted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct UsedPreKeys {
    pub(crate) one_time: Option<u32>,
    pub(crate) kyber: Option<u32>,
}

/// Sets up the responder's session for `message` inside `record` (unless a state with the
/// same base key exists, i.e. this is a repeat of an already-processed handshake).
/// Touches no store except to read prekeys.
pub(crate) fn process_prekey_message(
    message: &PreKeySignalMessage,
    address: &ProtocolAddress,
    record: &mut SessionRecord,
    identity_store: &dyn IdentityKeyStore,
    pre_key_store: &dyn PreKeyStore,
    signed_pre_key_store: &dyn SignedPreKeyStore,
    kyber_pre_key_store: &dyn KyberPreKeyStore,
) -> Result<UsedPreKeys> {
    let their_identity = message.identity_key();
    if !identity_store.is_trusted_identity(address, their_identity, Direction::Receiving)? {
        return Err(SignalError::UntrustedIdentity(address.clone()));
    }
    if record.has_session_state(message.message_version(), message.base_key()) {
        return Ok(UsedPreKeys::default());
    }

    let signed_pre_key = signed_pre_key_store
        .get_signed_pre_key(message.signed_pre_key_id())?
        .ok_or(SignalError::InvalidSignedPreKeyId(
            message.signed_pre_key_id(),
        ))?;
    let kyber_record = match message.kyber_payload() {
        Some(k) => Some(
            kyber_pre_key_store
                .get_kyber_pre_key(k.pre_key_id)?
                .ok_or(SignalError::InvalidKyberPreKeyId(k.pre_key_id))?,
        ),
        None => None,
    };
    let one_time = match message.pre_key_id() {
        Some(id) => Some(
            pre_key_store
                .get_pre_key(id)?
                .ok_or(SignalError::InvalidPreKeyId(id))?,
        ),
        None => None,
    };

    let our_identity = identity_store.identity_key_pair()?;
    let params = BobParameters {
        our_identity: &our_identity,
        our_signed_pre_key: signed_pre_key.key_pair(),
        our_one_time_pre_key: one_time.as_ref().map(|r| r.key_pair()),
        our_kyber_pre_key: kyber_record.as_ref().map(|r| r.key_pair()),
        their_identity,
        their_base_key: message.base_key(),
        their_kyber_ciphertext: message.kyber_payload().map(|k| k.ciphertext.as_slice()),
    };
    let mut state = initialize_bob_session(&params)?;
    state.local_registration_id = identity_store.local_registration_id()?;
    state.remote_registration_id = message.registration_id();
    record.promote_state(state);
    Ok(UsedPreKeys {
        one_time: message.pre_key_id(),
        kyber: message.kyber_payload().map(|k| k.pre_key_id),
    })
}
