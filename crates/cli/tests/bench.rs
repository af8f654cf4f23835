//! `portico bench` against a real hub (a child process, real TLS): it creates and logs in its
//! accounts, sends the load, and reports what it measured; every message it sent is
//! acknowledged and delivered, and its report says so.

mod common;

use common::Hub;

/// Runs `portico bench` with `args` and returns (success, stdout + stderr).
fn bench(args: &[&str]) -> (bool, String) {
    let all: Vec<&str> = std::iter::once("bench")
        .chain(args.iter().copied())
        .collect();
    common::run(&all)
}

/// The counts of the report's "sent N acked N delivered N (errors N)" line.
fn counts(report: &str) -> [u64; 4] {
    let line = report
        .lines()
        .find(|l| l.starts_with("sent "))
        .unwrap_or_else(|| panic!("no counts in the report:\n{report}"));
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    numbers
        .try_into()
        .unwrap_or_else(|_| panic!("four counts expected: {line}"))
}

fn start_hub(data: &std::path::Path) -> Hub {
    Hub::start(
        data,
        &[
            ("PORTICO_LIMITS_STANZAS_PER_SECOND", "100000"),
            ("PORTICO_LIMITS_STANZA_BURST", "100000"),
        ],
    )
}

#[test]
fn bench_delivers_every_message_and_reports_throughput_latency_and_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("hub");
    let hub = start_hub(&data);
    let (addr, pid) = (hub.tls.to_string(), hub.child.id().to_string());
    let (ok, report) = bench(&[
        "--addr",
        &addr,
        "--data",
        data.to_str().expect("utf-8 path"),
        "--connections",
        "6",
        "--rate",
        "300",
        "--duration",
        "2",
        "--hub-pid",
        &pid,
    ]);
    assert!(ok, "{report}");
    let [sent, acked, delivered, errors] = counts(&report);
    assert!(
        sent >= 500,
        "300 msg/s for 2 s, yet only {sent} sent:\n{report}"
    );
    assert_eq!(
        (acked, delivered, errors),
        (sent, sent, 0),
        "every message acked and delivered:\n{report}"
    );
    for line in [
        "connected 6 TLS sessions",
        "hub RSS:",
        "KiB per connection",
        "delivered throughput:",
        "latency send→delivery: p50",
        "latency due→delivery",
        "latency send→ack",
    ] {
        assert!(
            report.contains(line),
            "no {line:?} in the report:\n{report}"
        );
    }
}

#[test]
fn bench_speaks_starttls_and_refuses_a_load_it_cannot_send() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("hub");
    let hub = start_hub(&data);
    let data_arg = data.to_str().expect("utf-8 path");
    let addr = hub.starttls.to_string();
    let (ok, report) = bench(&[
        "--addr",
        &addr,
        "--starttls",
        "--data",
        data_arg,
        "--connections",
        "2",
        "--rate",
        "50",
        "--duration",
        "1",
    ]);
    assert!(ok, "{report}");
    let [sent, acked, delivered, errors] = counts(&report);
    assert!(sent > 0, "{report}");
    assert_eq!((acked, delivered, errors), (sent, sent, 0), "{report}");

    let (ok, report) = bench(&[
        "--addr",
        &addr,
        "--starttls",
        "--data",
        data_arg,
        "--connections",
        "1",
        "--rate",
        "50",
    ]);
    assert!(!ok, "one connection cannot send to another:\n{report}");
    assert!(
        report.contains("--connections must be at least 2"),
        "{report}"
    );
}
