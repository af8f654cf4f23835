//! Durability of the SQLite store under SIGKILL: a child process enqueues messages from many
//! tasks and prints each stanza-id as soon as its write is acknowledged; the parent kills it
//! mid-stream and checks that every acknowledged message is in the reopened database.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use portico_hub::store::sqlite::SqliteStore;
use portico_hub::store::{NewMessage, QueueLimits, Store};

const CHILD_ENV: &str = "PORTICO_TEST_STORE_CRASH_DB";

#[test]
fn every_acknowledged_write_survives_sigkill() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        child(&path);
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("crash.sqlite3");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "every_acknowledged_write_survives_sigkill",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("piped");
    let mut acked = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some(rest) = line.strip_prefix("ACK ") {
            let (id, msg) = rest.split_once(' ').expect("ACK <stanza-id> <msg-id>");
            acked.push((id.parse::<u64>().expect("number"), msg.to_owned()));
            if acked.len() == 3000 {
                child.kill().expect("SIGKILL");
                break;
            }
        }
    }
    let _ = child.wait();
    assert_eq!(
        acked.len(),
        3000,
        "the child acknowledged writes before it was killed"
    );

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = SqliteStore::open(&db, 64).expect("reopen after SIGKILL");
        let mut found = std::collections::HashMap::new();
        for device in 0..4 {
            for m in store
                .pending("victim", device, 0, 1_000_000, 2)
                .await
                .expect("pending")
            {
                found.insert(m.msg_id.clone(), m.stanza_id);
            }
        }
        for (stanza_id, msg_id) in &acked {
            assert_eq!(
                found.get(msg_id),
                Some(stanza_id),
                "acknowledged message {msg_id} was lost"
            );
        }
        assert!(found.len() >= acked.len());
    });
}

fn child(path: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = Arc::new(SqliteStore::open(std::path::Path::new(path), 256).expect("open"));
        let limits = QueueLimits {
            max_per_device: u32::MAX,
            ttl_ms: 1 << 40,
            now_ms: 1,
        };
        let mut tasks = Vec::new();
        for task in 0..32u32 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0.. {
                    let msg_id = format!("{task}-{i}");
                    let copy = NewMessage {
                        account: "victim".into(),
                        device: task % 4,
                        sender: "sender@localhost/1".into(),
                        msg_id: msg_id.clone(),
                        payload: vec![0xAB; 256],
                    };
                    let done = store.enqueue(vec![copy], limits).await.expect("enqueue");
                    println!("ACK {} {msg_id}", done.stanza_id);
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
}
