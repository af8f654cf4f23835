//! Property test: random two-party action sequences (send, deliver in any order, drop,
//! restart from serialized state) always decrypt to what was sent, except messages whose
//! receiving chain the receiver has evicted (libsignal keeps 5), which must fail cleanly.

mod common;

use common::{Party, rng};
use portico_signal::consts::MAX_RECEIVER_CHAINS;
use portico_signal::{CiphertextMessage, ProtocolAddress, PublicKey, SessionRecord, SessionStore};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Action {
    AliceSends,
    BobSends,
    DeliverToBob(usize),
    DeliverToAlice(usize),
    DropToBob(usize),
    DropToAlice(usize),
    RestartAlice,
    RestartBob,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => Just(Action::AliceSends),
        4 => Just(Action::BobSends),
        5 => any::<usize>().prop_map(Action::DeliverToBob),
        5 => any::<usize>().prop_map(Action::DeliverToAlice),
        1 => any::<usize>().prop_map(Action::DropToBob),
        1 => any::<usize>().prop_map(Action::DropToAlice),
        1 => Just(Action::RestartAlice),
        1 => Just(Action::RestartBob),
    ]
}

fn ratchet_key(m: &CiphertextMessage) -> PublicKey {
    match m {
        CiphertextMessage::SignalMessage(s) => *s.sender_ratchet_key(),
        CiphertextMessage::PreKeySignalMessage(p) => *p.message().sender_ratchet_key(),
    }
}

/// The receiver's receiving chains as the protocol keeps them: keys in order of first
/// receipt, the oldest evicted past the limit.
#[derive(Default)]
struct ChainModel {
    live: Vec<PublicKey>,
    evicted: Vec<PublicKey>,
}

impl ChainModel {
    /// Whether a message on `key` must decrypt, updating the model as the receiver would.
    fn expect_ok(&mut self, key: PublicKey) -> bool {
        if self.live.contains(&key) {
            return true;
        }
        if self.evicted.contains(&key) {
            return false;
        }
        self.live.push(key);
        if self.live.len() > MAX_RECEIVER_CHAINS {
            self.evicted.push(self.live.remove(0));
        }
        true
    }
}

fn restart(party: &mut Party, peer: &ProtocolAddress) {
    if let Some(record) = party.store.session_store.load_session(peer).expect("load") {
        let restored = SessionRecord::deserialize(&record.serialize()).expect("own record parses");
        party
            .store
            .session_store
            .store_session(peer, &restored)
            .expect("store");
    }
}

fn run(actions: Vec<Action>, seed: u64) -> Result<(), TestCaseError> {
    let mut r = rng(seed);
    let mut alice = Party::new("alice", &mut r);
    let mut bob = Party::new("bob", &mut r);
    let (a, b) = (alice.address.clone(), bob.address.clone());
    let bundle = bob.bundle(Some(3), true, &mut r);
    alice.process_bundle(&b, &bundle, &mut r).expect("bundle");

    let mut to_bob: Vec<(CiphertextMessage, Vec<u8>)> = Vec::new();
    let mut to_alice: Vec<(CiphertextMessage, Vec<u8>)> = Vec::new();
    let mut bob_model = ChainModel::default();
    let mut alice_model = ChainModel {
        live: vec![bundle.signed_pre_key],
        evicted: Vec::new(),
    };
    let mut counter = 0u32;
    for act in actions {
        match act {
            Action::AliceSends => {
                counter += 1;
                let pt = format!("a{counter}").into_bytes();
                to_bob.push((alice.encrypt(&b, &pt).expect("alice encrypts"), pt));
            }
            Action::BobSends => {
                if bob
                    .store
                    .session_store
                    .load_session(&a)
                    .expect("load")
                    .is_none()
                {
                    continue;
                }
                counter += 1;
                let pt = format!("b{counter}").into_bytes();
                to_alice.push((bob.encrypt(&a, &pt).expect("bob encrypts"), pt));
            }
            Action::DeliverToBob(i) if !to_bob.is_empty() => {
                let (m, pt) = to_bob.remove(i % to_bob.len());
                let wire = CiphertextMessage::deserialize(m.message_type(), m.serialize())
                    .expect("parses");
                let got = bob.decrypt(&a, &wire, &mut r);
                if bob_model.expect_ok(ratchet_key(&m)) {
                    prop_assert_eq!(got.expect("bob decrypts"), pt);
                } else {
                    prop_assert!(got.is_err());
                }
            }
            Action::DeliverToAlice(i) if !to_alice.is_empty() => {
                let (m, pt) = to_alice.remove(i % to_alice.len());
                let wire = CiphertextMessage::deserialize(m.message_type(), m.serialize())
                    .expect("parses");
                let got = alice.decrypt(&b, &wire, &mut r);
                if alice_model.expect_ok(ratchet_key(&m)) {
                    prop_assert_eq!(got.expect("alice decrypts"), pt);
                } else {
                    prop_assert!(got.is_err());
                }
            }
            Action::DropToBob(i) if !to_bob.is_empty() => {
                to_bob.remove(i % to_bob.len());
            }
            Action::DropToAlice(i) if !to_alice.is_empty() => {
                to_alice.remove(i % to_alice.len());
            }
            Action::RestartAlice => restart(&mut alice, &b),
            Action::RestartBob => restart(&mut bob, &a),
            _ => {}
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_two_party_sequences_decrypt(actions in proptest::collection::vec(action(), 1..150), seed in any::<u64>()) {
        run(actions, seed)?;
    }
}
