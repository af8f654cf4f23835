//! `portico chat` driven in tmux like a person would: a real hub (`portico serve`), two
//! accounts made with `portico admin user add`, two 80x24 chat sessions; alice types a
//! message, bob's screen shows it and alice's screen shows it delivered.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_portico");

/// Kills the hub and the tmux server when the test ends, pass or fail.
struct Cleanup {
    hub: Child,
    socket: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-S", &self.socket, "kill-server"])
            .status();
        let _ = self.hub.kill();
        let _ = self.hub.wait();
    }
}

fn tmux(socket: &str, args: &[&str]) -> String {
    let out = Command::new("tmux")
        .args(["-S", socket])
        .args(args)
        .env("LC_ALL", "C.UTF-8")
        .output()
        .expect("run tmux");
    assert!(
        out.status.success(),
        "tmux {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn screen(socket: &str, session: &str) -> String {
    tmux(socket, &["capture-pane", "-p", "-t", session])
}

/// Waits until `session`'s screen satisfies `pred`; panics with the screen otherwise.
fn wait_screen(socket: &str, session: &str, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = screen(socket, session);
        if pred(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what} on {session}'s screen:\n{s}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn add_user(data: &Path, name: &str) {
    let out = Command::new(BIN)
        .args(["admin", "user", "add", name, "--password", "pw-of-test"])
        .arg("--data")
        .arg(data)
        .output()
        .expect("run portico admin");
    assert!(
        out.status.success(),
        "admin user add {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn two_chat_sessions_in_tmux_show_unread_delivered_read_and_equal_safety_numbers() {
    if Command::new("tmux").arg("-V").output().is_err() {
        panic!("tmux is required for this test (apt-get install tmux)");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("hub");
    add_user(&data, "alice");
    add_user(&data, "bob");
    let mut hub = Command::new(BIN)
        .arg("serve")
        .arg("--data")
        .arg(&data)
        .env("PORTICO_C2S_STARTTLS_ADDR", "127.0.0.1:0")
        .env("PORTICO_C2S_TLS_ADDR", "127.0.0.1:0")
        .env("PORTICO_HTTP_ADDR", "127.0.0.1:0")
        .env("PORTICO_DOMAIN", "localhost")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start portico serve");
    let stdout = hub.stdout.take().expect("hub stdout");
    // A private tmux server whose socket goes away with the temporary directory.
    let socket = dir.path().join("tmux.sock").display().to_string();
    let cleanup = Cleanup { hub, socket };
    let socket = cleanup.socket.as_str();
    let mut ready = String::new();
    BufReader::new(stdout)
        .read_line(&mut ready)
        .expect("hub ready line");
    let addr = ready
        .split_whitespace()
        .find_map(|w| w.strip_prefix("c2s_tls="))
        .unwrap_or_else(|| panic!("no c2s_tls= in {ready:?}"))
        .to_owned();
    let pin = portico_client::fingerprint_of_pem(&data.join("tls-cert.pem")).expect("pin");

    // Bob lists carol first, so alice's message arrives in a conversation he is not
    // looking at: it shows as unread, and alice sees it delivered but not read.
    // Alice pins the certificate; Bob trusts it on first use (and it gets saved).
    let alice_trust = format!("--pin {pin}");
    for (user, peer, trust) in [
        ("alice", "bob", alice_trust.as_str()),
        ("bob", "carol --contact alice", "--insecure-trust-first-use"),
    ] {
        let db = dir.path().join(format!("{user}.db"));
        let cmd = format!(
            "{BIN} chat --server {addr} --user {user} --password pw-of-test {trust} --db {} --contact {peer}",
            db.display()
        );
        tmux(
            socket,
            &[
                "new-session",
                "-d",
                "-x",
                "80",
                "-y",
                "24",
                "-s",
                user,
                "-e",
                "LC_ALL=C.UTF-8",
                "-e",
                "TERM=xterm-256color",
                &cmd,
            ],
        );
    }
    for user in ["alice", "bob"] {
        wait_screen(socket, user, "signed in", |s| s.contains("signed in as"));
    }
    let saved =
        std::fs::read_to_string(dir.path().join("bob.db.hub-pin")).expect("bob's saved pin");
    assert_eq!(saved.trim(), pin, "the pin saved on first use is the hub's");

    tmux(
        socket,
        &["send-keys", "-t", "alice", "-l", "Hello Bob from tmux"],
    );
    tmux(socket, &["send-keys", "-t", "alice", "Enter"]);

    wait_screen(socket, "bob", "one unread message from alice", |s| {
        s.contains("  alice (1)")
    });
    let alice = wait_screen(socket, "alice", "the delivered mark", |s| {
        s.lines().any(|l| l.contains("me: Hello Bob from tmux ✓✓ "))
    });
    assert!(!alice.contains("✓✓ read"), "not read yet:\n{alice}");

    // Bob opens alice's conversation: he sees the text, alice sees it read.
    tmux(socket, &["send-keys", "-t", "bob", "Down"]);
    let bob = wait_screen(socket, "bob", "alice's message", |s| {
        s.contains("alice: Hello Bob from tmux")
    });
    assert!(
        bob.contains("> alice "),
        "alice selected, unread cleared:\n{bob}"
    );
    let alice = wait_screen(socket, "alice", "the read mark", |s| {
        s.contains("me: Hello Bob from tmux ✓✓ read")
    });
    // Fits 80 columns: the right border of the conversation box is on screen.
    assert!(alice.lines().all(|l| l.chars().count() <= 80), "{alice}");

    // Bob answers; alice sees it.
    tmux(socket, &["send-keys", "-t", "bob", "-l", "Hi Alice"]);
    tmux(socket, &["send-keys", "-t", "bob", "Enter"]);
    wait_screen(socket, "alice", "bob's reply", |s| {
        s.contains("bob: Hi Alice")
    });

    // Both open the safety numbers: the same 60 digits; alice marks bob verified.
    let digits = |s: &str| -> String {
        s.lines()
            .filter(|l| l.chars().filter(char::is_ascii_digit).count() >= 25)
            .flat_map(|l| l.split('│').nth(3).unwrap_or("").chars())
            .filter(char::is_ascii_digit)
            .collect()
    };
    for user in ["alice", "bob"] {
        tmux(socket, &["send-keys", "-t", user, "F2"]);
    }
    let a = wait_screen(socket, "alice", "the safety number", |s| {
        digits(s).len() == 60
    });
    let b = wait_screen(socket, "bob", "the safety number", |s| {
        digits(s).len() == 60
    });
    assert_eq!(digits(&a), digits(&b), "alice:\n{a}\nbob:\n{b}");
    tmux(socket, &["send-keys", "-t", "alice", "v"]);
    wait_screen(socket, "alice", "verified", |s| s.contains("✓ verified"));
    drop(cleanup);
}
