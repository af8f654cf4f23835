//! Property tests of Sender Keys over random action sequences: send, deliver (in any order),
//! drop, replay and restart the receiver from its serialized record.

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;

#[derive(Clone, Debug)]
enum Action {
    Send,
    Deliver(usize),
    Drop(usize),
    Replay(usize),
    Restart,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => Just(Action::Send),
        4 => any::<usize>().prop_map(Action::Deliver),
        1 => any::<usize>().prop_map(Action::Drop),
        1 => any::<usize>().prop_map(Action::Replay),
        1 => Just(Action::Restart),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_delivery_order_decrypts_each_message_exactly_once(
        seed in any::<u64>(),
        actions in proptest::collection::vec(action(), 1..120),
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let alice = ProtocolAddress::new("alice", 1);
        let id = DistributionId::random(&mut rng);
        let mut sender = InMemSenderKeyStore::new();
        let mut receiver = InMemSenderKeyStore::new();
        let skdm = create_distribution_message(&mut sender, &alice, id, &mut rng).expect("create");
        process_distribution_message(&mut receiver, &alice, &skdm).expect("process");
        let mut in_flight: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut delivered: Vec<Vec<u8>> = Vec::new();
        let mut n = 0u32;
        for action in actions {
            match action {
                Action::Send => {
                    let text = n.to_be_bytes().repeat(usize::try_from(n % 7).expect("small"));
                    n += 1;
                    let m = group_encrypt(&mut sender, &alice, id, &text, &mut rng).expect("encrypt");
                    in_flight.push((text, m.serialized().to_vec()));
                }
                Action::Deliver(i) if !in_flight.is_empty() => {
                    let (text, bytes) = in_flight.remove(i % in_flight.len());
                    prop_assert_eq!(group_decrypt(&mut receiver, &alice, &bytes).expect("decrypt"), text);
                    delivered.push(bytes);
                }
                Action::Drop(i) if !in_flight.is_empty() => {
                    in_flight.remove(i % in_flight.len());
                }
                Action::Replay(i) if !delivered.is_empty() => {
                    let bytes = &delivered[i % delivered.len()];
                    let replay = group_decrypt(&mut receiver, &alice, bytes);
                    prop_assert!(
                        matches!(replay, Err(SenderKeyError::DuplicatedMessage { .. })),
                        "replay gave {:?}",
                        replay
                    );
                }
                Action::Restart => {
                    let record = receiver.load_sender_key(&alice, id).expect("load").expect("record");
                    let record = SenderKeyRecord::deserialize(&record.serialize()).expect("reload");
                    receiver = InMemSenderKeyStore::new();
                    receiver.store_sender_key(&alice, id, &record).expect("store");
                }
                _ => {}
            }
        }
    }
}
