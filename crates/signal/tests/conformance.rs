//! 1:1 sessions against libsignal 0.72.1 in Node, bytes only: libsignal initiates to a Rust
//! bundle, Rust initiates to a libsignal bundle, both initiate at once; then 1 000+ messages
//! each way with random interleaving, reordering and drops (seeded), and equal safety numbers.
//! Needs `bash scripts/test` (npm ci) first; fails, never skips, without it.

mod support;

use std::collections::VecDeque;

use portico_signal::fingerprint::{DEFAULT_ITERATIONS, Fingerprint};
use portico_signal::{IdentityKey, ProtocolAddress, SignalError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use support::party::RustParty;
use support::peer::Peer;
use support::{b64, unb64};

/// Messages each side sends in the long conversations.
const MESSAGES_EACH_WAY: usize = 1000;
/// A message in flight may be overtaken this many times before it is delivered (or dropped),
/// which keeps reordering within libsignal's five kept receiving chains.
const MAX_OVERTAKES: u32 = 3;

struct InFlight {
    kind: u8,
    body: Vec<u8>,
    plaintext: Vec<u8>,
    overtaken: u32,
}

#[derive(Default)]
struct Tally {
    sent: [usize; 2],
    delivered: [usize; 2],
    dropped: [usize; 2],
    prekey_messages: [usize; 2],
}

/// Picks the next message for one direction: usually the oldest few, out of order, but never
/// one that has been overtaken too often.
fn take(queue: &mut VecDeque<InFlight>, rng: &mut StdRng) -> InFlight {
    let at = if queue[0].overtaken >= MAX_OVERTAKES {
        0
    } else {
        rng.random_range(0..queue.len().min(4))
    };
    for m in queue.iter_mut().take(at) {
        m.overtaken += 1;
    }
    queue.remove(at).expect("index within the queue")
}

fn text(rng: &mut StdRng, from: &str, n: usize) -> Vec<u8> {
    let mut t = format!("{from} #{n} ").into_bytes();
    t.extend((0..rng.random_range(0..200)).map(|_| rng.random::<u8>()));
    t
}

/// Runs a random conversation until each side has sent `each_way` more messages, then
/// delivers everything still in flight. Index 0 is Rust, 1 is libsignal.
fn converse(
    rust: &mut RustParty,
    node: &mut Peer,
    node_addr: &ProtocolAddress,
    each_way: usize,
    rng: &mut StdRng,
) -> Tally {
    let rust_name = rust.address.name().to_owned();
    let rust_device = rust.address.device_id();
    let mut to_node: VecDeque<InFlight> = VecDeque::new();
    let mut to_rust: VecDeque<InFlight> = VecDeque::new();
    let mut t = Tally::default();
    loop {
        let done_sending = t.sent[0] >= each_way && t.sent[1] >= each_way;
        if done_sending && to_node.is_empty() && to_rust.is_empty() {
            return t;
        }
        match rng.random_range(0..100) {
            0..25 if t.sent[0] < each_way => {
                let plaintext = text(rng, "rust", t.sent[0]);
                let (kind, body) = rust.encrypt(node_addr, &plaintext);
                to_node.push_back(InFlight {
                    kind,
                    body,
                    plaintext,
                    overtaken: 0,
                });
                t.sent[0] += 1;
            }
            25..50 if t.sent[1] < each_way => {
                let plaintext = text(rng, "libsignal", t.sent[1]);
                let (kind, body) = node.encrypt(&rust_name, rust_device, &plaintext);
                to_rust.push_back(InFlight {
                    kind,
                    body,
                    plaintext,
                    overtaken: 0,
                });
                t.sent[1] += 1;
            }
            50..97 => {
                // Deliver one message in a random direction that has any.
                let towards_node = if to_node.is_empty() {
                    false
                } else if to_rust.is_empty() {
                    true
                } else {
                    rng.random_bool(0.5)
                };
                if towards_node {
                    let m = take(&mut to_node, rng);
                    let got = node
                        .decrypt(&rust_name, rust_device, m.kind, &m.body)
                        .unwrap_or_else(|e| {
                            panic!(
                                "libsignal cannot decrypt our type-{} message: {e:?}",
                                m.kind
                            )
                        });
                    assert_eq!(got, m.plaintext);
                    t.delivered[0] += 1;
                    t.prekey_messages[0] += usize::from(m.kind == 3);
                } else if !to_rust.is_empty() {
                    let m = take(&mut to_rust, rng);
                    let got = rust
                        .decrypt(node_addr, m.kind, &m.body, rng)
                        .unwrap_or_else(|e| {
                            panic!("cannot decrypt libsignal's type-{} message: {e}", m.kind)
                        });
                    assert_eq!(got, m.plaintext);
                    t.delivered[1] += 1;
                    t.prekey_messages[1] += usize::from(m.kind == 3);
                }
            }
            97..100 => {
                // Drop a message that is not the oldest in flight (the network lost it).
                let (queue, side) = if rng.random_bool(0.5) {
                    (&mut to_node, 0)
                } else {
                    (&mut to_rust, 1)
                };
                if queue.len() > 1 {
                    let at = rng.random_range(1..queue.len());
                    queue.remove(at);
                    t.dropped[side] += 1;
                }
            }
            _ => {}
        }
    }
}

fn assert_busy(t: &Tally, each_way: usize) {
    for side in 0..2 {
        assert!(t.sent[side] >= each_way);
        assert_eq!(t.delivered[side] + t.dropped[side], t.sent[side]);
        assert!(t.dropped[side] > 0, "no drops exercised: {:?}", t.dropped);
        assert!(
            t.delivered[side] > each_way * 85 / 100,
            "too few delivered: {:?}",
            t.delivered
        );
    }
}

#[test]
fn libsignal_initiates_to_a_rust_bundle() {
    let mut rng = StdRng::seed_from_u64(0xa11ce);
    let mut bob = RustParty::new("bob", 2, 2002, &mut rng);
    let (mut alice, _) = Peer::start("alice", 1, 1001);
    let alice_addr = ProtocolAddress::new("alice", 1);
    let bundle = bob.bundle_json(Some(31), 42, 53, &mut rng);
    alice
        .process_bundle("bob", 2, bundle)
        .expect("libsignal accepts our bundle");
    let (kind, first) = alice.encrypt("bob", 2, b"hello from libsignal");
    assert_eq!(kind, 3, "the first message is a PreKeySignalMessage");
    assert_eq!(
        bob.decrypt(&alice_addr, kind, &first, &mut rng)
            .expect("PQXDH responder"),
        b"hello from libsignal"
    );
    let t = converse(
        &mut bob,
        &mut alice,
        &alice_addr,
        MESSAGES_EACH_WAY,
        &mut rng,
    );
    assert_busy(&t, MESSAGES_EACH_WAY);
    // The same prekey message again is a replay: refused.
    assert!(bob.decrypt(&alice_addr, kind, &first, &mut rng).is_err());
}

#[test]
fn rust_initiates_to_a_libsignal_bundle() {
    let mut rng = StdRng::seed_from_u64(0xb0b);
    let mut alice = RustParty::new("alice", 1, 1001, &mut rng);
    let (mut bob, _) = Peer::start("bob", 2, 2002);
    let bob_addr = ProtocolAddress::new("bob", 2);
    let bundle = bob.bundle(Some(7), 8, 9);
    alice
        .process_bundle(&bob_addr, &bundle, &mut rng)
        .expect("libsignal bundle verifies");
    let (kind, first) = alice.encrypt(&bob_addr, b"hello from rust");
    assert_eq!(kind, 3);
    assert_eq!(
        bob.decrypt("alice", 1, kind, &first)
            .expect("libsignal responder"),
        b"hello from rust"
    );
    let t = converse(&mut alice, &mut bob, &bob_addr, MESSAGES_EACH_WAY, &mut rng);
    assert_busy(&t, MESSAGES_EACH_WAY);
    assert!(
        bob.decrypt("alice", 1, kind, &first).is_err(),
        "libsignal refuses the replay"
    );
}

#[test]
fn rust_initiates_to_a_bundle_without_one_time_prekey() {
    let mut rng = StdRng::seed_from_u64(5);
    let mut alice = RustParty::new("alice", 1, 1001, &mut rng);
    let (mut bob, _) = Peer::start("bob", 2, 2002);
    let bob_addr = ProtocolAddress::new("bob", 2);
    let bundle = bob.bundle(None, 8, 9);
    alice
        .process_bundle(&bob_addr, &bundle, &mut rng)
        .expect("bundle");
    let (kind, first) = alice.encrypt(&bob_addr, b"no one-time prekey");
    assert_eq!(kind, 3);
    let got = bob.decrypt("alice", 1, kind, &first).expect("libsignal");
    assert_eq!(got, b"no one-time prekey");
    let t = converse(&mut alice, &mut bob, &bob_addr, 100, &mut rng);
    assert!(t.prekey_messages[0] > 0);
}

#[test]
fn simultaneous_initiation_converges() {
    let mut rng = StdRng::seed_from_u64(0x51);
    let mut alice = RustParty::new("alice", 1, 1001, &mut rng);
    let (mut bob, _) = Peer::start("bob", 2, 2002);
    let bob_addr = ProtocolAddress::new("bob", 2);
    let alice_bundle = alice.bundle_json(Some(1), 2, 3, &mut rng);
    let bob_bundle = bob.bundle(Some(4), 5, 6);
    alice
        .process_bundle(&bob_addr, &bob_bundle, &mut rng)
        .expect("bundle");
    bob.process_bundle("alice", 1, alice_bundle)
        .expect("bundle");
    // Both send before either hears from the other; the messages cross.
    let (ak, a1) = alice.encrypt(&bob_addr, b"alice first");
    let (bk, b1) = bob.encrypt("alice", 1, b"bob first");
    assert_eq!((ak, bk), (3, 3));
    assert_eq!(
        bob.decrypt("alice", 1, ak, &a1).expect("libsignal"),
        b"alice first"
    );
    assert_eq!(
        alice.decrypt(&bob_addr, bk, &b1, &mut rng).expect("rust"),
        b"bob first"
    );
    // Talk in turns until both send plain SignalMessages that the other reads.
    let mut converged = false;
    for round in 0..10 {
        let (ak, a) = alice.encrypt(&bob_addr, format!("alice {round}").as_bytes());
        assert_eq!(
            bob.decrypt("alice", 1, ak, &a).expect("libsignal"),
            format!("alice {round}").as_bytes()
        );
        let (bk, b) = bob.encrypt("alice", 1, format!("bob {round}").as_bytes());
        assert_eq!(
            alice.decrypt(&bob_addr, bk, &b, &mut rng).expect("rust"),
            format!("bob {round}").as_bytes()
        );
        if ak == 2 && bk == 2 {
            converged = true;
            break;
        }
    }
    assert!(
        converged,
        "sessions did not converge on one state within 10 rounds"
    );
    let t = converse(&mut alice, &mut bob, &bob_addr, 200, &mut rng);
    assert_eq!(
        t.prekey_messages,
        [0, 0],
        "after convergence no side falls back to prekey messages"
    );
}

#[test]
fn safety_numbers_of_a_session_are_equal() {
    let mut rng = StdRng::seed_from_u64(77);
    let alice = RustParty::new("alice", 1, 1001, &mut rng);
    let (mut bob, bob_identity) = Peer::start("bob", 2, 2002);
    let bob_identity = IdentityKey::deserialize(&bob_identity).expect("libsignal identity");
    let alice_identity = *alice.identity.identity_key();
    let (alice_id, bob_id) = (b"+14155550101".to_vec(), b"+14155550102".to_vec());
    let ours = Fingerprint::new(
        1,
        DEFAULT_ITERATIONS,
        &alice_id,
        &alice_identity,
        &bob_id,
        &bob_identity,
    )
    .expect("fp");
    let theirs = bob.ok(
        "fingerprint",
        json!({"iterations": DEFAULT_ITERATIONS, "version": 1,
               "localId": b64(&bob_id), "localKey": b64(&bob_identity.serialize()),
               "remoteId": b64(&alice_id), "remoteKey": b64(&alice_identity.serialize())}),
    );
    assert_eq!(
        ours.displayable.to_string(),
        theirs["displayable"].as_str().expect("digits")
    );
    assert_eq!(
        ours.scannable.compare(&unb64(&theirs, "scannable")),
        Ok(true)
    );
    let back = bob.ok(
        "compareScannable",
        json!({"ours": theirs["scannable"], "theirs": b64(&ours.scannable.to_bytes())}),
    );
    assert_eq!(back["matches"], json!(true));
}

#[test]
fn altered_libsignal_messages_get_specific_errors() {
    let mut rng = StdRng::seed_from_u64(0xbad);
    let mut alice = RustParty::new("alice", 1, 1001, &mut rng);
    let (mut bob, _) = Peer::start("bob", 2, 2002);
    let bob_addr = ProtocolAddress::new("bob", 2);
    let bundle = bob.bundle(Some(7), 8, 9);
    alice
        .process_bundle(&bob_addr, &bundle, &mut rng)
        .expect("bundle");
    let (kind, first) = alice.encrypt(&bob_addr, b"hi");
    bob.decrypt("alice", 1, kind, &first).expect("libsignal");
    let (kind, good) = bob.encrypt("alice", 1, b"a reply long enough to alter");
    assert_eq!(kind, 2);
    let mut mac = good.clone();
    *mac.last_mut().expect("non-empty") ^= 1;
    let err = alice
        .decrypt(&bob_addr, kind, &mac, &mut rng)
        .expect_err("altered MAC");
    assert_eq!(err, SignalError::InvalidMac, "altered MAC: {err}");
    let mut body = good.clone();
    let at = body.len() - 12;
    body[at] ^= 1;
    let err = alice
        .decrypt(&bob_addr, kind, &body, &mut rng)
        .expect_err("altered ciphertext");
    assert_eq!(err, SignalError::InvalidMac, "altered ciphertext: {err}");
    let err = alice
        .decrypt(&bob_addr, kind, &good[..20], &mut rng)
        .expect_err("truncated");
    assert!(
        matches!(err, SignalError::InvalidMessage { .. }),
        "truncated: {err}"
    );
    // The untouched message still decrypts, and only once.
    assert_eq!(
        alice
            .decrypt(&bob_addr, kind, &good, &mut rng)
            .expect("decrypt"),
        b"a reply long enough to alter"
    );
    let err = alice
        .decrypt(&bob_addr, kind, &good, &mut rng)
        .expect_err("replay");
    assert!(
        matches!(err, SignalError::DuplicatedMessage { .. }),
        "replay: {err}"
    );
    // And libsignal refuses our altered message too.
    let (kind, ours) = alice.encrypt(&bob_addr, b"to be altered");
    let mut bad = ours.clone();
    *bad.last_mut().expect("non-empty") ^= 1;
    assert!(bob.decrypt("alice", 1, kind, &bad).is_err());
    assert_eq!(
        bob.decrypt("alice", 1, kind, &ours).expect("libsignal"),
        b"to be altered"
    );
}
