//! Interoperability with a standard XMPP client library: slixmpp (PyPI) connects with
//! STARTTLS, authenticates with SCRAM-SHA-256, binds, answers the hub's pings and receives a
//! message routed from a Portico client. `bash scripts/test` provides the interpreter.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::xmpp::{Client, ack_of, e2ee_message, expect, login};
use common::{Hub, admin};

fn next_line(lines: &mpsc::Receiver<String>, prefix: &str, timeout: Duration) -> String {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.starts_with(prefix) => return line,
            Ok(line) => assert!(
                !line.starts_with("FAILED") && line != "DISCONNECTED",
                "slixmpp: {line}"
            ),
            Err(_) => panic!("slixmpp did not print {prefix} in time"),
        }
    }
}

#[tokio::test]
async fn slixmpp_logs_in_with_scram_binds_answers_pings_and_receives_a_routed_message() {
    let Ok(python) = std::env::var("PORTICO_SLIXMPP_PYTHON") else {
        panic!(
            "PORTICO_SLIXMPP_PYTHON is not set: run the tests with `bash scripts/test`, which creates \
             a virtual environment with slixmpp and sets it"
        );
    };
    let dir = tempfile::tempdir().expect("tempdir");
    for user in ["alice", "bob"] {
        assert!(admin(dir.path(), &["add", user, "--password", "interop-password"]).0);
    }
    let hub = Hub::start(
        dir.path(),
        &[
            ("PORTICO_LIMITS_PING_INTERVAL_SECS", "1"),
            ("PORTICO_LIMITS_PING_TIMEOUT_SECS", "2"),
        ],
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/slixmpp_client.py");
    let mut child = Command::new(&python)
        .arg(script)
        .args([
            "127.0.0.1",
            &hub.starttls.port().to_string(),
            "bob@localhost",
            "interop-password",
            "30",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let stdout = child.stdout.take().expect("stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            eprintln!("slixmpp: {line}");
            let _ = tx.send(line);
        }
    });

    let bound = next_line(&lines, "BOUND ", Duration::from_secs(30));
    let device: u32 = bound
        .rsplit('/')
        .next()
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("bound to a device id: {bound}"));
    next_line(&lines, "PINGED", Duration::from_secs(10));
    // Longer than the ping timeout: had slixmpp not answered, the hub would have closed it.
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let mut alice = Client::connect(&login(&hub, "alice", "interop-password"))
        .await
        .expect("alice");
    alice
        .send(e2ee_message(
            "bob@localhost",
            "hello-slixmpp",
            &[device],
            &[],
            b"ciphertext",
        ))
        .await
        .expect("send");
    expect(&mut alice, Duration::from_secs(10), "ack", |e| {
        ack_of(e).is_some()
    })
    .await;
    let received = next_line(&lines, "RECEIVED ", Duration::from_secs(10));
    assert_eq!(received, "RECEIVED hello-slixmpp alice@localhost/1");
    let status = child.wait().expect("exit");
    assert!(status.success(), "slixmpp exited with {status:?}");
}
