//! PQXDH (<https://signal.org/docs/specifications/pqxdh/>) and, for peers whose bundle has no
//! Kyber prekey, X3DH (<https://signal.org/docs/specifications/x3dh/>): the key agreement that
//! yields a session's first root and chain keys.
//!
//! `SK = HKDF-SHA256(salt = 0, F || DH1 || DH2 || DH3 [|| DH4] [|| SS])` with `F` = 32 `0xFF`
//! bytes, `DH1 = DH(IK_A, SPK_B)`, `DH2 = DH(EK_A, IK_B)`, `DH3 = DH(EK_A, SPK_B)`,
//! `DH4 = DH(EK_A, OPK_B)` and `SS` the KEM shared secret; info
//! `"WhisperText_X25519_SHA-256_CRYSTALS-KYBER-1024"` for PQXDH, `"WhisperText"` for X3DH.
//! The responder's signed prekey doubles as its first ratchet key, as in libsignal.

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::consts::{SESSION_VERSION_PQXDH, SESSION_VERSION_X3DH};
use crate::error::Result;
use crate::identity::{IdentityKey, IdentityKeyPair};
use crate::kem::{KemKeyPair, KemPublicKey};
use crate::keys::{KeyPair, PublicKey};
use crate::ratchet::{derive_initial_keys, new_ratchet_key};
use crate::state::{SenderChain, SessionState};

/// What the initiator (Alice) knows when she starts a session.
pub(crate) struct AliceParameters<'a> {
    pub(crate) our_identity: &'a IdentityKeyPair,
    pub(crate) our_base_key: &'a KeyPair,
    pub(crate) their_identity: &'a IdentityKey,
    pub(crate) their_signed_pre_key: &'a PublicKey,
    pub(crate) their_one_time_pre_key: Option<&'a PublicKey>,
    pub(crate) their_kyber_pre_key: Option<&'a KemPublicKey>,
}

/// What the responder (Bob) knows when a prekey message arrives.
pub(crate) struct BobParameters<'a> {
    pub(crate) our_identity: &'a IdentityKeyPair,
    pub(crate) our_signed_pre_key: &'a KeyPair,
    pub(crate) our_one_time_pre_key: Option<&'a KeyPair>,
    pub(crate) our_kyber_pre_key: Option<&'a KemKeyPair>,
    pub(crate) their_identity: &'a IdentityKey,
    pub(crate) their_base_key: &'a PublicKey,
    pub(crate) their_kyber_ciphertext: Option<&'a [u8]>,
}

fn secret_input_prefix(capacity: usize) -> Zeroizing<Vec<u8>> {
    let mut v = Zeroizing::new(Vec::with_capacity(capacity));
    v.extend_from_slice(&[0xFFu8; 32]);
    v
}

/// Runs the initiator's side: returns the session state and, for PQXDH, the KEM ciphertext
/// to send.
pub(crate) fn initialize_alice_session<R: CryptoRng + ?Sized>(
    params: &AliceParameters<'_>,
    rng: &mut R,
) -> (SessionState, Option<Vec<u8>>) {
    let mut secrets = secret_input_prefix(32 * 6);
    let base = &params.our_base_key.private_key;
    secrets.extend_from_slice(
        params
            .our_identity
            .private_key()
            .calculate_agreement(params.their_signed_pre_key)
            .as_ref(),
    );
    secrets.extend_from_slice(
        base.calculate_agreement(params.their_identity.public_key())
            .as_ref(),
    );
    secrets.extend_from_slice(
        base.calculate_agreement(params.their_signed_pre_key)
            .as_ref(),
    );
    if let Some(otpk) = params.their_one_time_pre_key {
        secrets.extend_from_slice(base.calculate_agreement(otpk).as_ref());
    }
    let kyber_ciphertext = params.their_kyber_pre_key.map(|kem| {
        let (ss, ct) = kem.encapsulate(rng);
        secrets.extend_from_slice(ss.as_ref());
        ct
    });
    let with_kyber = kyber_ciphertext.is_some();
    let (root_key, chain_key) = derive_initial_keys(&secrets, with_kyber);

    // Alice's first ratchet step against Bob's signed prekey (his first ratchet key).
    let sending_ratchet_key = new_ratchet_key(rng);
    let (sending_root, sending_chain) = root_key.create_chain(
        params.their_signed_pre_key,
        &sending_ratchet_key.private_key,
    );

    let mut state = SessionState {
        version: if with_kyber {
            SESSION_VERSION_PQXDH
        } else {
            SESSION_VERSION_X3DH
        },
        local_identity: *params.our_identity.identity_key(),
        remote_identity: *params.their_identity,
        root_key: sending_root,
        previous_counter: 0,
        sender_chain: SenderChain {
            ratchet_key: sending_ratchet_key,
            chain_key: sending_chain,
        },
        receiver_chains: Vec::new(),
        pending_pre_key: None,
        remote_registration_id: 0,
        local_registration_id: 0,
        alice_base_key: params.our_base_key.public_key,
    };
    state.add_receiver_chain(*params.their_signed_pre_key, chain_key);
    (state, kyber_ciphertext)
}

/// Runs the responder's side.
pub(crate) fn initialize_bob_session(params: &BobParameters<'_>) -> Result<SessionState> {
    let mut secrets = secret_input_prefix(32 * 6);
    let spk = &params.our_signed_pre_key.private_key;
    secrets.extend_from_slice(
        spk.calculate_agreement(params.their_identity.public_key())
            .as_ref(),
    );
    secrets.extend_from_slice(
        params
            .our_identity
            .private_key()
            .calculate_agreement(params.their_base_key)
            .as_ref(),
    );
    secrets.extend_from_slice(spk.calculate_agreement(params.their_base_key).as_ref());
    if let Some(otpk) = params.our_one_time_pre_key {
        secrets.extend_from_slice(
            otpk.private_key
                .calculate_agreement(params.their_base_key)
                .as_ref(),
        );
    }
    let with_kyber = match (params.our_kyber_pre_key, params.their_kyber_ciphertext) {
        (Some(kem), Some(ct)) => {
            let ss = kem.secret_key.decapsulate(ct)?;
            secrets.extend_from_slice(ss.as_ref());
            true
        }
        _ => false,
    };
    let (root_key, chain_key) = derive_initial_keys(&secrets, with_kyber);
    Ok(SessionState {
        version: if with_kyber {
            SESSION_VERSION_PQXDH
        } else {
            SESSION_VERSION_X3DH
        },
        local_identity: *params.our_identity.identity_key(),
        remote_identity: *params.their_identity,
        root_key,
        previous_counter: 0,
        sender_chain: SenderChain {
            ratchet_key: params.our_signed_pre_key.clone(),
            chain_key,
        },
        receiver_chains: Vec::new(),
        pending_pre_key: None,
        remote_registration_id: 0,
        local_registration_id: 0,
        alice_base_key: *params.their_base_key,
    })
}
