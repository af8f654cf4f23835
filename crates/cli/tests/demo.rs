//! `portico demo` runs its whole story against an in-process hub (and, in its third-party
//! chapter, the reference provider) and exits 0, and its output shows each side's view of
//! every step, including a photo each way across the provider boundary whose size and SHA-256
//! the receiver's decrypted copy matches.

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn demo_runs_every_step_and_exits_zero() {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_portico"))
        .arg("demo")
        .output()
        .expect("run portico demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "demo failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    for line in [
        "[bob phone]    receives from alice@localhost: \"Hi Bob, it's Alice.",
        "[alice phone]  ✓  the hub has it queued",
        "[alice phone]  ✓✓ delivered to bob's phone",
        "[alice phone]  read by bob@localhost",
        "[alice phone]  receives from bob@localhost: \"Yes: end to end.",
        "[alice laptop] receives its own copy of alice@localhost → bob@localhost: \"I'm on my laptop now too.\"",
        "[alice laptop] receives from bob@localhost: \"Hello to both of your devices!\"",
        "[bob phone]    offline",
        "[bob phone]    receives from alice@localhost: \"Write back when you're online again.\"",
        "the numbers match",
        "[hub]          provider birdy registered",
        "@birdy.interop.localhost device 1, logged in to the hub",
        "[carol@birdy]  refused: ",
        "(third party: carol@birdy.example on birdy): \"Hi Alice, Carol from Birdy here!\"",
        "[carol@birdy]  receives from alice@localhost: \"Welcome, Carol!",
        "— no content, no sender",
        "[carol@birdy]  receives from alice@localhost: \"Call me when you see this.\"",
        "Step 13: alice sends carol a photo: hosted by the hub",
        "[carol@birdy]  receives sunrise.png (image/png, 256×192, ",
        "[carol@birdy]  fetches it from the hub with the signed URL",
        "Step 14: carol sends a photo back: hosted by Birdy, fetched through the hub's media proxy",
        "[alice phone]  receives harbour.png (image/png, 320×240, ",
        "[alice phone]  fetches it through the hub's proxy",
        "[hub]          /metrics: 1 upload stored (alice's), 1 proxied fetch (alice's), ",
        "All 14 steps held.",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
    // Each photo: the sender's size and SHA-256 equal what the receiver decrypted.
    for (sender, receiver, name) in [
        (
            "[alice phone]  sends ",
            "[carol@birdy]  fetches it",
            "sunrise.png",
        ),
        (
            "[carol@birdy]  sends ",
            "[alice phone]  fetches it",
            "harbour.png",
        ),
    ] {
        let figures = |prefix: &str| {
            let line = stdout
                .lines()
                .find(|l| l.trim_start().starts_with(prefix) && l.contains("SHA-256 "))
                .unwrap_or_else(|| panic!("no {prefix:?} line with a digest in:\n{stdout}"));
            let (before, after) = line.split_once("SHA-256 ").expect("digest");
            let digest: String = after.chars().take_while(char::is_ascii_hexdigit).collect();
            let size: u64 = before
                .trim_end_matches(|c: char| !c.is_ascii_digit())
                .rsplit(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no size in {line:?}"));
            (size, digest)
        };
        let (sent, got) = (figures(sender), figures(receiver));
        assert!(
            stdout.contains(&format!("{sender}{name}")),
            "{name} is sent by {sender:?}:\n{stdout}"
        );
        assert_eq!(sent.1.len(), 64, "a full SHA-256 for {name}: {sent:?}");
        assert!(sent.0 > 100_000, "{name} spans several chunks: {sent:?}");
        assert_eq!(sent, got, "{name}: what was decrypted is what was sent");
    }
    assert_eq!(
        stdout.matches("same bytes as sent ✓").count(),
        2,
        "{stdout}"
    );
    // Both sides print the same 60-digit safety number.
    let numbers: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_once("safety number with ").map(|(_, r)| r))
        .filter_map(|r| r.split_once(": ").map(|(_, n)| n.trim()))
        .collect();
    assert_eq!(numbers.len(), 2, "{stdout}");
    assert_eq!(numbers[0], numbers[1]);
    assert_eq!(numbers[0].chars().filter(char::is_ascii_digit).count(), 60);
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "the demo should take seconds, took {:?}",
        start.elapsed()
    );
}

#[test]
fn demo_that_cannot_run_exits_non_zero_and_says_why() {
    let out = Command::new(env!("CARGO_BIN_EXE_portico"))
        .arg("demo")
        .env("TMPDIR", "/nonexistent/portico-demo-test")
        .output()
        .expect("run portico demo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a demo without a temp dir cannot pass"
    );
    assert!(
        stderr.contains("cannot prepare the demo"),
        "the error says what went wrong:\n{stderr}"
    );
}
