//! The shared store test suite: every backend runs these against a fresh, empty store.

use super::*;

fn creds(tag: u8) -> StoredCredentials {
    StoredCredentials {
        salt: vec![tag; 16],
        iterations: 4096,
        stored_key: vec![tag; 32],
        server_key: vec![tag.wrapping_add(1); 32],
    }
}

fn limits(max_per_device: u32, now_ms: u64) -> QueueLimits {
    QueueLimits {
        max_per_device,
        ttl_ms: 1000,
        now_ms,
    }
}

fn msg(account: &str, device: DeviceId, id: &str) -> NewMessage {
    NewMessage {
        account: account.into(),
        device,
        sender: "alice@localhost/1".into(),
        msg_id: id.into(),
        payload: id.as_bytes().to_vec(),
    }
}

/// Accounts: create, duplicate, credentials, reset, list, remove.
pub async fn accounts(store: &dyn Store) {
    store
        .create_account("alice", creds(1))
        .await
        .expect("create");
    assert!(matches!(
        store.create_account("alice", creds(2)).await,
        Err(StoreError::AccountExists(_))
    ));
    assert_eq!(
        store.credentials("alice").await.expect("read"),
        Some(creds(1))
    );
    assert_eq!(store.credentials("bob").await.expect("read"), None);
    store
        .set_credentials("alice", creds(3))
        .await
        .expect("reset");
    assert_eq!(
        store.credentials("alice").await.expect("read"),
        Some(creds(3))
    );
    assert!(matches!(
        store.set_credentials("bob", creds(3)).await,
        Err(StoreError::UnknownAccount(_))
    ));
    store.create_account("bob", creds(4)).await.expect("create");
    let names: Vec<String> = store
        .list_accounts()
        .await
        .expect("list")
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    store.remove_account("bob").await.expect("remove");
    assert!(matches!(
        store.remove_account("bob").await,
        Err(StoreError::UnknownAccount(_))
    ));
    assert_eq!(store.list_accounts().await.expect("list").len(), 1);
}

/// Devices: ids count up, the cap holds, removal frees a slot.
pub async fn devices(store: &dyn Store) {
    store
        .create_account("carol", creds(1))
        .await
        .expect("create");
    assert_eq!(store.register_device("carol", 2).await.expect("first"), 1);
    assert_eq!(store.register_device("carol", 2).await.expect("second"), 2);
    assert!(matches!(
        store.register_device("carol", 2).await,
        Err(StoreError::DeviceCapReached { max: 2 })
    ));
    assert!(matches!(
        store.register_device("nobody", 2).await,
        Err(StoreError::UnknownAccount(_))
    ));
    assert_eq!(store.devices("carol").await.expect("list"), [1, 2]);
    assert!(store.remove_device("carol", 1).await.expect("remove"));
    assert!(!store.remove_device("carol", 1).await.expect("again"));
    assert_eq!(
        store.register_device("carol", 2).await.expect("slot freed"),
        3
    );
}

/// Key directory: publish, fetch consumes one one-time key each, last resort, count.
pub async fn keys(store: &dyn Store) {
    store
        .create_account("dave", creds(1))
        .await
        .expect("create");
    let dev = store.register_device("dave", 6).await.expect("device");
    assert!(matches!(
        store.publish_keys("dave", 99, KeyUpload::default()).await,
        Err(StoreError::UnknownDevice { device: 99, .. })
    ));
    assert_eq!(store.fetch_bundle("dave", dev).await.expect("fetch"), None);
    let sk = |id: u32| SignedKey {
        id,
        public: vec![id as u8; 4],
        signature: vec![9; 4],
    };
    let upload = KeyUpload {
        registration_id: Some(4711),
        identity_key: Some(vec![7; 33]),
        signed_prekey: Some(sk(1)),
        last_resort_kyber: Some(sk(1000)),
        one_time_ec: (1..=2)
            .map(|id| PreKey {
                id,
                public: vec![id as u8],
            })
            .collect(),
        one_time_kyber: vec![sk(2000)],
    };
    let count = store
        .publish_keys("dave", dev, upload)
        .await
        .expect("publish");
    assert_eq!(count, PrekeyCount { ec: 2, kyber: 1 });
    let b1 = store
        .fetch_bundle("dave", dev)
        .await
        .expect("fetch")
        .expect("bundle");
    assert_eq!(b1.identity_key, vec![7; 33]);
    assert_eq!(b1.registration_id, 4711);
    assert_eq!(b1.one_time_ec.as_ref().map(|k| k.id), Some(1));
    assert_eq!((b1.kyber.id, b1.kyber_is_last_resort), (2000, false));
    let b2 = store
        .fetch_bundle("dave", dev)
        .await
        .expect("fetch")
        .expect("bundle");
    assert_eq!(b2.one_time_ec.as_ref().map(|k| k.id), Some(2));
    assert_eq!((b2.kyber.id, b2.kyber_is_last_resort), (1000, true));
    let b3 = store
        .fetch_bundle("dave", dev)
        .await
        .expect("fetch")
        .expect("bundle");
    assert_eq!(b3.one_time_ec, None);
    assert_eq!(
        store.prekey_count("dave", dev).await.expect("count"),
        PrekeyCount::default()
    );
    // A new identity key voids the old one-time keys.
    let more = KeyUpload {
        one_time_ec: vec![PreKey {
            id: 5,
            public: vec![5],
        }],
        ..KeyUpload::default()
    };
    store
        .publish_keys("dave", dev, more)
        .await
        .expect("publish");
    let new_identity = KeyUpload {
        identity_key: Some(vec![8; 33]),
        ..KeyUpload::default()
    };
    let count = store
        .publish_keys("dave", dev, new_identity)
        .await
        .expect("publish");
    assert_eq!(count.ec, 0);
    store
        .set_device_list("dave", b"signed".to_vec())
        .await
        .expect("list");
    assert_eq!(
        store.device_list("dave").await.expect("read"),
        Some(b"signed".to_vec())
    );
}

/// Queues: order, delivery deletes, cap with overflow report, expiry, depth.
pub async fn queues(store: &dyn Store) {
    let now = 1_000_000;
    let a = store
        .enqueue(
            vec![msg("erin", 1, "m1"), msg("erin", 2, "m1")],
            limits(2, now),
        )
        .await
        .expect("enqueue");
    assert!(a.overflowed.is_empty());
    let b = store
        .enqueue(vec![msg("erin", 1, "m2")], limits(2, now))
        .await
        .expect("enqueue");
    assert!(b.stanza_id > a.stanza_id, "stanza-ids increase");
    let c = store
        .enqueue(
            vec![msg("erin", 1, "m3"), msg("erin", 2, "m3")],
            limits(2, now),
        )
        .await
        .expect("enqueue");
    assert_eq!(c.overflowed, [("erin".to_owned(), 1)], "device 1 is full");
    assert_eq!(store.queue_depth().await.expect("depth"), 4);
    let pending = store.pending("erin", 1, 0, 10, now).await.expect("pending");
    let ids: Vec<&str> = pending.iter().map(|m| m.msg_id.as_str()).collect();
    assert_eq!(ids, ["m1", "m2"]);
    assert_eq!(pending[0].payload, b"m1");
    assert_eq!(pending[0].timestamp_ms, now);
    let after_first = store
        .pending("erin", 1, pending[0].stanza_id, 10, now)
        .await
        .expect("pending");
    assert_eq!(after_first.len(), 1);
    let n = store
        .delete_delivered("erin", 1, vec![pending[0].stanza_id, 424242])
        .await
        .expect("delete");
    assert_eq!(n, 1);
    let d = store
        .enqueue(vec![msg("erin", 1, "m4")], limits(2, now))
        .await
        .expect("room again");
    assert!(d.overflowed.is_empty());
    // A detached delete is ordered before any later write: the queue has room at once.
    store.forget_delivered("erin", 1, vec![pending[1].stanza_id]);
    let e = store
        .enqueue(vec![msg("erin", 1, "m5")], limits(2, now))
        .await
        .expect("room after the detached delete");
    assert!(e.overflowed.is_empty(), "the detached delete made room");
    let left: Vec<String> = store
        .pending("erin", 1, 0, 10, now)
        .await
        .expect("pending")
        .into_iter()
        .map(|m| m.msg_id)
        .collect();
    assert_eq!(left, ["m4", "m5"]);
    assert!(
        store
            .pending("erin", 2, 0, 10, now + 1000)
            .await
            .expect("pending")
            .is_empty(),
        "expired messages are not delivered"
    );
    assert_eq!(store.expire(now + 1000).await.expect("expire"), 4);
    assert_eq!(store.queue_depth().await.expect("depth"), 0);
}

/// Stanza-ids assigned at submission: `enqueue_assigned` returns the id the durable write
/// reports, ids increase in submission order, and a `pending_ordered` read submitted after
/// the call sees the message before the write was awaited (a device registering for pushes
/// after an early push finds the message in its backlog).
pub async fn enqueue_assigned(store: &dyn Store) {
    let now = 2_000_000;
    let mut writes = Vec::new();
    for id in ["e1", "e2", "e3"] {
        writes.push(store.enqueue_assigned(vec![msg("fay", 1, id)], limits(2, now)));
    }
    let ordered = store
        .pending_ordered("fay", 1, 10, now)
        .await
        .expect("read");
    let ids: Vec<&str> = ordered.iter().map(|m| m.msg_id.as_str()).collect();
    let mut assigned = Vec::new();
    let mut durable = Vec::new();
    for (id, write) in writes {
        assigned.push(id);
        durable.push(write.await.expect("durable"));
    }
    if assigned.iter().all(Option::is_some) {
        assert_eq!(
            ids,
            ["e1", "e2"],
            "an ordered read sees what was submitted before"
        );
        let reported: Vec<Option<u64>> = durable.iter().map(|d| Some(d.stanza_id)).collect();
        assert_eq!(assigned, reported, "the assigned id is the stored one");
    } else {
        assert!(assigned.iter().all(Option::is_none), "all or none");
    }
    assert!(durable[0].stanza_id < durable[1].stanza_id);
    assert_eq!(durable[2].overflowed, [("fay".to_owned(), 1)]);
}
