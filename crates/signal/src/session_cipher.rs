//! Encrypting and decrypting one-to-one messages over a session (libsignal's
//! `message_encrypt` / `message_decrypt`), including the Double Ratchet's DH steps, skipped
//! message keys, the forward-jump limit and simultaneous-initiation handling (a message that
//! an archived state decrypts makes that state current again).
//!
//! A failed decrypt changes no stored state: every attempt runs on a copy of the state.

use std::time::{SystemTime, UNIX_EPOCH};

use aes::Aes256;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use rand_core::CryptoRng;

use crate::address::ProtocolAddress;
use crate::consts::Limits;
use crate::error::{Result, SignalError};
use crate::keys::PublicKey;
use crate::messages::{CiphertextMessage, KyberPayload, PreKeySignalMessage, SignalMessage};
use crate::ratchet::{MessageKeys, new_ratchet_key};
use crate::session_builder::process_prekey_message;
use crate::state::{SenderChain, SessionRecord, SessionState};
use crate::storage::{
    Direction, IdentityKeyStore, KyberPreKeyStore, PreKeyStore, SessionStore, SignedPreKeyStore,
};

fn aes_cbc_encrypt(keys: &MessageKeys, plaintext: &[u8]) -> Vec<u8> {
    cbc::Encryptor::<Aes256>::new(&keys.cipher_key.into(), &keys.iv.into())
        .encrypt_padded_vec_mut::<Pkcs7>(plaintext)
}

fn aes_cbc_decrypt(keys: &MessageKeys, ciphertext: &[u8]) -> Result<Vec<u8>> {
    if ciphertext.is_empty() || ciphertext.len() % 16 != 0 {
        return Err(SignalError::DecryptionFailed);
    }
    cbc::Decryptor::<Aes256>::new(&keys.cipher_key.into(), &keys.iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
        .map_err(|_| SignalError::DecryptionFailed)
}

/// Encrypts `plaintext` for `address` with the current session: a
/// [`CiphertextMessage::PreKeySignalMessage`] until the peer has answered, a
/// [`CiphertextMessage::SignalMessage`] after. `now` dates the check that an unanswered
/// session is not older than
/// [`MAX_UNACKNOWLEDGED_SESSION_AGE_SECS`](crate::consts::MAX_UNACKNOWLEDGED_SESSION_AGE_SECS).
pub fn message_encrypt(
    plaintext: &[u8],
    address: &ProtocolAddress,
    session_store: &mut dyn SessionStore,
    identity_store: &mut dyn IdentityKeyStore,
    now: SystemTime,
) -> Result<CiphertextMessage> {
    message_encrypt_with_limits(
        plaintext,
        address,
        session_store,
        identity_store,
        now,
        &Limits::default(),
    )
}

/// [`message_encrypt`] with explicit [`Limits`].
pub fn message_encrypt_with_limits(
    plaintext: &[u8],
    address: &ProtocolAddress,
    session_store: &mut dyn SessionStore,
    identity_store: &mut dyn IdentityKeyStore,
    now: SystemTime,
    limits: &Limits,
) -> Result<CiphertextMessage> {
    if plaintext.len() > limits.max_plaintext_len {
        return Err(SignalError::PlaintextTooLarge(
            plaintext.len(),
            limits.max_plaintext_len,
        ));
    }
    let mut record = session_store
        .load_session(address)?
        .ok_or_else(|| SignalError::SessionNotFound(address.clone()))?;
    let state = record
        .current
        .as_mut()
        .ok_or_else(|| SignalError::SessionNotFound(address.clone()))?;

    if let Some(pending) = &state.pending_pre_key {
        let now_secs = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if now_secs.saturating_sub(pending.timestamp) > limits.max_unacknowledged_session_age_secs {
            return Err(SignalError::StaleUnacknowledgedSession(address.clone()));
        }
    }

    let their_identity = state.remote_identity;
    if !identity_store.is_trusted_identity(address, &their_identity, Direction::Sending)? {
        return Err(SignalError::UntrustedIdentity(address.clone()));
    }

    let chain_key = state.sender_chain.chain_key.clone();
    let keys = chain_key.message_keys();
    let ciphertext = aes_cbc_encrypt(&keys, plaintext);
    let message = SignalMessage::new(
        state.version,
        &keys.mac_key,
        state.sender_chain.ratchet_key.public_key,
        chain_key.index(),
        state.previous_counter,
        ciphertext,
        &state.local_identity,
        &state.remote_identity,
    );
    let out = match &state.pending_pre_key {
        Some(pending) => CiphertextMessage::PreKeySignalMessage(PreKeySignalMessage::new(
            state.version,
            state.local_registration_id,
            pending.pre_key_id,
            pending.signed_pre_key_id,
            pending.kyber.as_ref().map(|(id, ct)| KyberPayload {
                pre_key_id: *id,
                ciphertext: ct.clone(),
            }),
            pending.base_key,
            state.local_identity,
            message,
        )),
        None => CiphertextMessage::SignalMessage(message),
    };
    state.sender_chain.chain_key = chain_key.next();

    identity_store.save_identity(address, &their_identity)?;
    session_store.store_session(address, &record)?;
    Ok(out)
}

/// Decrypts either kind of message from `address` (see [`message_decrypt_signal`] and
/// [`message_decrypt_prekey`]).
#[allow(clippy::too_many_arguments)]
pub fn message_decrypt<R: CryptoRng + ?Sized>(
    ciphertext: &CiphertextMessage,
    address: &ProtocolAddress,
    session_store: &mut dyn SessionStore,
    identity_store: &mut dyn IdentityKeyStore,
    pre_key_store: &mut dyn PreKeyStore,
    signed_pre_key_store: &dyn SignedPreKeyStore,
    kyber_pre_key_store: &mut dyn KyberPreKeyStore,
    rng: &mut R,
) -> Result<Vec<u8>> {
    message_decrypt_with_limits(
        ciphertext,
        address,
        session_store,
        identity_store,
        pre_key_store,
        signed_pre_key_store,
        kyber_pre_key_store,
        rng,
        &Limits::default(),
    )
}

/// [`message_decrypt`] with explicit [`Limits`].
#[allow(clippy::too_many_arguments)]
pub fn message_decrypt_with_limits<R: CryptoRng + ?Sized>(
    ciphertext: &CiphertextMessage,
    address: &ProtocolAddress,
    session_store: &mut dyn SessionStore,
    identity_store: &mut dyn IdentityKeyStore,
    pre_key_store: &mut dyn PreKeyStore,
    signed_pre_key_store: &dyn SignedPreKeyStore,
    kyber_pre_key_store: &mut dyn KyberPreKeyStore,
    rng: &mut R,
    limits: &Limits,
) -> Result<Vec<u8>> {
    match ciphertext {
        CiphertextMessage::SignalMessage(m) => {
            decrypt_signal(m, address, session_store, identity_store, rng, limits)
        }
        CiphertextMessage::PreKeySignalMessage(m) => decrypt_prekey(
            m,
            address,
            session_store,
            identity_store,
            pre_key_store,
            signed_pre_key_store,
            kyber_pre_key_store,
            rng,
            limits,
        ),
    }
}

/// Decrypts a [`SignalMessage`] from `address`.
///
/// Errors name the cause: [`SignalError::InvalidMac`], [`SignalError::DuplicatedMessage`],
/// [`SignalError::TooFarInFuture`], [`SignalError::UntrustedIdentity`],
/// [`SignalError::SessionNotFound`], …
pub fn message_decrypt_signal<R: CryptoRng + ?Sized>(
    message: &SignalMessage,
    address: &ProtocolAddress,
    session_store: &mut dyn SessionStore,
    identity_store: &mut dyn IdentityKeyStore,
    rng: &mut R,
) -> Result<Vec<u8>> {
    decrypt_signal(
        message,
        address,
        session_store,
        identity_store,
        rng,
        &Limits::default(),
    )
}

fn decrypt_signal<R: CryptoRng + ?Sized>(
    message: &SignalMessage,
    address: &ProtocolAddress,
    session_store: &mut dyn SessionStore,
    identity_store: &mut dyn IdentityKeyStore,
    rng: &mut R,
    limits: &Limits,
) -> Result<Vec<u8>> {
    let mut record = session_store
        .load_session(address)?
        .ok_or_else(|| SignalError::SessionNotFound(address.clone()))?;
    let plaintext = decrypt_with_record(&mut record, message, address, rng, limits)?;
    finish_decrypt(address, &record, session_store, identity_store)?;
    Ok(plaintext)
}

/// Decrypts a [`PreKeySignalMessage`] from `address`, setting up the responder's session
/// first if this handshake is new. The one-time prekey is removed and the Kyber prekey
/// marked used only once the message has decrypted.
///
/// Errors include [`SignalError::InvalidPreKeyId`] (an unknown or already-used one-time
/// prekey), [`SignalError::InvalidSignedPreKeyId`], [`SignalError::InvalidKyberPreKeyId`],
/// [`SignalError::UntrustedIdentity`] and every error of [`message_decrypt_signal`].
#[allow(clippy::too_many_arguments)]
pub fn message_decrypt_prekey<R: CryptoRng + ?Sized>(
    message: &PreKeySignalMessage,
    address: &ProtocolAddress,
    session_store: &mut dyn SessionStore,
    identity_store: &mut dyn IdentityKeyStore,
    pre_key_store: &mut dyn PreKeyStore,
    signed_pre_key_store: &dyn SignedPreKeyStore,
    kyber_pre_key_store: &mut dyn KyberPreKeyStore,
    rng: &mut R,
) -> Result<Vec<u8>> {
    decrypt_prekey(
        message,
        address,
        session_store,
        identity_store,
        pre_key_store,
        signed_pre_key_store,
        kyber_pre_key_store,
        rng,
        &Limits::default(),
    )
}

#[allow(clippy::too_many_arguments)]
fn decrypt_prekey<R: CryptoRng + ?Sized>(
    message: &PreKeySignalMessage,
    address: &ProtocolAddress,
    session_store: &mut dyn SessionStore,
    identity_store: &mut dyn IdentityKeyStore,
    pre_key_store: &mut dyn PreKeyStore,
    signed_pre_key_store: &dyn SignedPreKeyStore,
    kyber_pre_key_store: &mut dyn KyberPreKeyStore,
    rng: &mut R,
    limits: &Limits,
) -> Result<Vec<u8>> {
    let mut record = session_store
        .load_session(address)?
        .unwrap_or_else(SessionRecord::new_fresh);
    let used = process_prekey_message(
        message,
        address,
        &mut record,
        &*identity_store,
        &*pre_key_store,
        signed_pre_key_store,
        &*kyber_pre_key_store,
    )?;
    let plaintext = decrypt_with_record(&mut record, message.message(), address, rng, limits)?;
    finish_decrypt(address, &record, session_store, identity_store)?;
    if let Some(id) = used.one_time {
        pre_key_store.remove_pre_key(id)?;
    }
    if let Some(id) = used.kyber {
        kyber_pre_key_store.mark_kyber_pre_key_used(id)?;
    }
    Ok(plaintext)
}

fn finish_decrypt(
    address: &ProtocolAddress,
    record: &SessionRecord,
    session_store: &mut dyn SessionStore,
    identity_store: &mut dyn IdentityKeyStore,
) -> Result<()> {
    let state = record
        .current
        .as_ref()
        .ok_or_else(|| SignalError::SessionNotFound(address.clone()))?;
    let their_identity = state.remote_identity;
    if !identity_store.is_trusted_identity(address, &their_identity, Direction::Receiving)? {
        return Err(SignalError::UntrustedIdentity(address.clone()));
    }
    identity_store.save_identity(address, &their_identity)?;
    session_store.store_session(address, record)
}

/// Tries the current state, then archived ones; the state that decrypts becomes current.
/// The current state's error is reported when none succeeds, except that a duplicate
/// detected by any state is reported as such.
fn decrypt_with_record<R: CryptoRng + ?Sized>(
    record: &mut SessionRecord,
    message: &SignalMessage,
    address: &ProtocolAddress,
    rng: &mut R,
    limits: &Limits,
) -> Result<Vec<u8>> {
    let mut first_error = None;
    if let Some(current) = &record.current {
        let mut state = current.clone();
        match decrypt_with_state(&mut state, message, rng, limits) {
            Ok(plaintext) => {
                record.current = Some(state);
                return Ok(plaintext);
            }
            Err(e @ SignalError::DuplicatedMessage { .. }) => return Err(e),
            Err(e) => first_error = Some(e),
        }
    }
    for index in 0..record.previous.len() {
        let mut state = record.previous[index].clone();
        match decrypt_with_state(&mut state, message, rng, limits) {
            Ok(plaintext) => {
                record.promote_previous(index, state);
                return Ok(plaintext);
            }
            Err(e @ SignalError::DuplicatedMessage { .. }) => return Err(e),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| SignalError::NoSessionForMessage(address.clone())))
}

fn decrypt_with_state<R: CryptoRng + ?Sized>(
    state: &mut SessionState,
    message: &SignalMessage,
    rng: &mut R,
    limits: &Limits,
) -> Result<Vec<u8>> {
    if message.message_version() != state.version {
        return Err(SignalError::InvalidMessage {
            what: "SignalMessage",
            reason: "version differs from the session's",
        });
    }
    let their_ephemeral = message.sender_ratchet_key();
    let chain_index = get_or_create_receiver_chain(state, their_ephemeral, rng);
    let keys = get_or_create_message_keys(state, chain_index, message.counter(), limits)?;
    if !message.verify_mac(&state.remote_identity, &state.local_identity, &keys.mac_key) {
        return Err(SignalError::InvalidMac);
    }
    let plaintext = aes_cbc_decrypt(&keys, message.body())?;
    state.pending_pre_key = None;
    Ok(plaintext)
}

/// The receiving chain for `their_ephemeral`, running a DH ratchet step if it is new.
fn get_or_create_receiver_chain<R: CryptoRng + ?Sized>(
    state: &mut SessionState,
    their_ephemeral: &PublicKey,
    rng: &mut R,
) -> usize {
    if let Some(index) = state.receiver_chain_index(their_ephemeral) {
        return index;
    }
    let (receiving_root, receiving_chain) = state
        .root_key
        .create_chain(their_ephemeral, &state.sender_chain.ratchet_key.private_key);
    let our_new_key = new_ratchet_key(rng);
    let (sending_root, sending_chain) =
        receiving_root.create_chain(their_ephemeral, &our_new_key.private_key);
    state.root_key = sending_root;
    state.add_receiver_chain(*their_ephemeral, receiving_chain);
    state.previous_counter = state.sender_chain.chain_key.index().saturating_sub(1);
    state.sender_chain = SenderChain {
        ratchet_key: our_new_key,
        chain_key: sending_chain,
    };
    state.receiver_chains.len() - 1
}

fn get_or_create_message_keys(
    state: &mut SessionState,
    chain_index: usize,
    counter: u32,
    limits: &Limits,
) -> Result<MessageKeys> {
    let chain = &mut state.receiver_chains[chain_index];
    let chain_key = chain.chain_key.clone();
    let index = chain_key.index();
    if index > counter {
        let position = chain
            .message_keys
            .iter()
            .position(|k| k.counter == counter)
            .ok_or(SignalError::DuplicatedMessage {
                chain_index: index,
                counter,
            })?;
        return chain
            .message_keys
            .remove(position)
            .ok_or(SignalError::DuplicatedMessage {
                chain_index: index,
                counter,
            });
    }
    let jump = counter - index;
    if jump > limits.max_forward_jumps {
        return Err(SignalError::TooFarInFuture {
            jump,
            limit: limits.max_forward_jumps,
        });
    }
    let mut chain_key = chain_key;
    while chain_key.index() < counter {
        SessionState::store_message_keys(chain, chain_key.message_keys(), limits.max_message_keys);
        chain_key = chain_key.next();
    }
    let keys = chain_key.message_keys();
    chain.chain_key = chain_key.next();
    Ok(keys)
}
