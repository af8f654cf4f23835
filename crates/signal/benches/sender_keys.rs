//! Criterion benches of Sender Keys: group encrypt, and group decrypt of the next message on
//! an established chain (signature check, one chain step, AES-256-CBC), for a 1 KiB message.

#![allow(missing_docs)]

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use portico_signal::ProtocolAddress;
use portico_signal::sender_keys::{
    DistributionId, InMemSenderKeyStore, create_distribution_message, group_decrypt, group_encrypt,
    process_distribution_message,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

const PLAINTEXT: [u8; 1024] = [0x5a; 1024];

fn group() -> (
    StdRng,
    ProtocolAddress,
    DistributionId,
    InMemSenderKeyStore,
    InMemSenderKeyStore,
) {
    let mut rng = StdRng::seed_from_u64(1);
    let sender = ProtocolAddress::new("alice", 1);
    let id = DistributionId::random(&mut rng);
    let mut ours = InMemSenderKeyStore::new();
    let mut theirs = InMemSenderKeyStore::new();
    let skdm = create_distribution_message(&mut ours, &sender, id, &mut rng).expect("create");
    process_distribution_message(&mut theirs, &sender, &skdm).expect("process");
    (rng, sender, id, ours, theirs)
}

fn bench(c: &mut Criterion) {
    let (mut rng, sender, id, mut ours, _) = group();
    c.bench_function("sender_keys/group_encrypt_1KiB", |b| {
        b.iter(|| group_encrypt(&mut ours, &sender, id, &PLAINTEXT, &mut rng).expect("encrypt"))
    });
    // A fresh group: the receiver starts where the sender is.
    let (mut rng, sender, id, mut ours, mut theirs) = group();
    c.bench_function("sender_keys/group_decrypt_1KiB", |b| {
        b.iter_batched(
            || {
                group_encrypt(&mut ours, &sender, id, &PLAINTEXT, &mut rng)
                    .expect("encrypt")
                    .serialized()
                    .to_vec()
            },
            |message| group_decrypt(&mut theirs, &sender, &message).expect("decrypt"),
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
