//! The durability promise end to end: two accounts with two devices each exchange 10 000
//! e2ee messages over TLS while the hub is killed with SIGKILL in the middle and restarted.
//! Every message the hub acknowledged must reach every device it was addressed to exactly
//! once after de-duplication by (sender, id), in order per sender; messages without an ack are
//! not counted as sent (the senders retry them after the restart, as a client would).

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::xmpp::{Client, ack_of, e2ee_message, e2ee_of, login};
use common::{Hub, admin};
use portico_stanza::{Element, ns};

const PER_SENDER: u32 = 2500;
const WINDOW: usize = 100;
const PASSWORD: &str = "durable-password";

/// One device: what it sent and what it received, kept across reconnects.
struct Device {
    account: &'static str,
    id: u32,
    peer: &'static str,
    next_seq: u32,
    unacked: BTreeSet<u32>,
    acked: BTreeSet<u32>,
    /// Received (sender full JID, message id) in arrival order.
    received: Vec<(String, String)>,
}

impl Device {
    fn name(&self) -> String {
        format!("{}@localhost/{}", self.account, self.id)
    }

    fn msg_id(&self, seq: u32) -> String {
        format!("{}-{}-{seq}", self.account, self.id)
    }
}

/// Sends and receives until the stream ends or everything is done.
async fn drive(
    mut client: Client,
    mut dev: Device,
    acks: Arc<AtomicUsize>,
    done_sending: Arc<AtomicUsize>,
) -> Device {
    // After a reconnect, resend what was never acknowledged, in order.
    let mut resend: Vec<u32> = dev.unacked.iter().copied().collect();
    resend.reverse();
    let mut finished_reported = false;
    let mut distinct: std::collections::HashSet<(String, String)> =
        dev.received.iter().cloned().collect();
    loop {
        let mut queued = false;
        while dev.unacked.len() < WINDOW || !resend.is_empty() {
            let seq = if let Some(s) = resend.pop() {
                s
            } else if dev.next_seq < PER_SENDER {
                dev.next_seq += 1;
                dev.next_seq
            } else {
                break;
            };
            dev.unacked.insert(seq);
            let body = format!("{}:{seq}", dev.name());
            let el = e2ee_message(
                &format!("{}@localhost", dev.peer),
                &dev.msg_id(seq),
                &[1, 2],
                &[3 - dev.id],
                body.as_bytes(),
            );
            client.queue(el);
            queued = true;
        }
        if queued && client.flush().await.is_err() {
            return dev;
        }
        if !finished_reported && dev.next_seq == PER_SENDER && dev.unacked.is_empty() {
            finished_reported = true;
            done_sending.fetch_add(1, Ordering::SeqCst);
        }
        if finished_reported && distinct.len() == 3 * PER_SENDER as usize {
            let _ = client.flush().await;
            client.close().await;
            return dev;
        }
        let Some(el) = client.next(Duration::from_secs(20)).await else {
            return dev;
        };
        if let Some(ack) = ack_of(&el) {
            let seq: u32 = ack
                .attr("id")
                .and_then(|id| id.rsplit('-').next())
                .and_then(|s| s.parse().ok())
                .expect("ack id is ours");
            if dev.unacked.remove(&seq) {
                dev.acked.insert(seq);
                acks.fetch_add(1, Ordering::SeqCst);
            }
        } else if let Some(e2ee) = e2ee_of(&el) {
            let sid = e2ee.attr("stanza-id").expect("hub stanza-id").to_owned();
            let key = (
                el.attr("from").expect("from").to_owned(),
                el.attr("id").expect("id").to_owned(),
            );
            distinct.insert(key.clone());
            dev.received.push(key);
            client.queue(Element::new("received", ns::PORTICO_E2EE).with_attr("stanza-id", sid));
        } else if el.attr("type") == Some("error") {
            panic!("{} got an error: {el}", dev.name());
        } else if el.is("error", ns::STREAM) {
            return dev;
        }
    }
}

/// The cause of the test's one flake in CI (a device's last messages never acknowledged, 3 of
/// 4 devices finished): the client's `flush` wrote with `write_all` only, and when the socket
/// was full rustls kept the last TLS records until the next write, which never came once the
/// device had nothing more to send. Here the socket buffers are small and the TLS peer reads
/// nothing for a second: `flush` must wait and get every byte out, with no later write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_sends_everything_even_when_the_socket_was_full() {
    use tokio::io::AsyncReadExt;

    let dir = tempfile::tempdir().expect("tempdir");
    let config = portico_hub::config::Config::load(None, std::iter::empty(), Some(dir.path()))
        .expect("config");
    let identity = portico_hub::tls::load_identity(&config).expect("identity");
    let acceptor = tokio_rustls::TlsAcceptor::from(
        portico_hub::tls::server_config(&identity, &[]).expect("server config"),
    );
    let client_tls = portico_hub::tls::client_config_trusting(&identity.cert_path).expect("trust");
    let listen = tokio::net::TcpSocket::new_v4().expect("socket");
    listen.set_recv_buffer_size(4096).expect("rcvbuf");
    listen
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let listener = listen.listen(1).expect("listen");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        acceptor.accept(tcp).await.expect("server handshake")
    });
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_send_buffer_size(4096).expect("sndbuf");
    let tcp = socket.connect(addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tls = tokio_rustls::TlsConnector::from(client_tls)
        .connect(name, tcp)
        .await
        .expect("client handshake");
    let mut server = server.await.expect("server task");
    let jid = portico_stanza::Jid::parse("a@localhost/1").expect("jid");
    let mut client = Client::over(tls, jid);

    // More than the small socket buffers hold, less than what rustls accepts at once: the
    // plaintext is all taken while part of it can only wait, encrypted, inside rustls.
    const TOTAL: usize = 48 << 10;
    client.queue_raw(&vec![b'x'; TOTAL]);
    let reader = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut buf = vec![0u8; 1 << 16];
        let mut got = 0;
        while got < TOTAL {
            match tokio::time::timeout(Duration::from_secs(3), server.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => got += n,
                _ => break,
            }
        }
        got
    });
    tokio::time::timeout(Duration::from_secs(30), client.flush())
        .await
        .expect("flush finishes once the peer reads")
        .expect("flush");
    // Nothing is written after the flush: what the peer gets is what the flush sent.
    assert_eq!(
        reader.await.expect("reader"),
        TOTAL,
        "bytes the peer received"
    );
}

async fn connect(hub: &Hub, dev: &Device) -> Client {
    let mut l = login(hub, dev.account, PASSWORD);
    l.resource = Some(dev.id.to_string());
    Client::connect(&l)
        .await
        .unwrap_or_else(|e| panic!("{} connects: {e}", dev.name()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_messages_survive_sigkill_exactly_once_and_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    for user in ["alice", "bob"] {
        assert!(admin(dir.path(), &["add", user, "--password", PASSWORD]).0);
    }
    let env = [
        ("PORTICO_LIMITS_STANZAS_PER_SECOND", "1000000"),
        ("PORTICO_LIMITS_STANZA_BURST", "1000000"),
    ];
    let hub = Hub::start(dir.path(), &env);
    // Register the four devices (ids 1 and 2 on each account).
    let mut devices = Vec::new();
    for (account, peer) in [("alice", "bob"), ("bob", "alice")] {
        for id in 1..=2 {
            let c = Client::connect(&login(&hub, account, PASSWORD))
                .await
                .expect("register");
            assert_eq!(c.jid.to_string(), format!("{account}@localhost/{id}"));
            c.close().await;
            devices.push(Device {
                account,
                id,
                peer,
                next_seq: 0,
                unacked: BTreeSet::new(),
                acked: BTreeSet::new(),
                received: Vec::new(),
            });
        }
    }
    let started = Instant::now();
    let acks = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));

    // Phase 1: run until about half the messages are acknowledged, then SIGKILL.
    let mut tasks = Vec::new();
    for dev in devices {
        let client = connect(&hub, &dev).await;
        tasks.push(tokio::spawn(drive(client, dev, acks.clone(), done.clone())));
    }
    while acks.load(Ordering::SeqCst) < (4 * PER_SENDER / 2) as usize {
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "too slow before the kill"
        );
    }
    hub.kill();
    let killed_at = acks.load(Ordering::SeqCst);
    let mut devices = Vec::new();
    for t in tasks {
        devices.push(t.await.expect("device task"));
    }
    let acked_before: usize = devices.iter().map(|d| d.acked.len()).sum();
    assert!(
        acked_before >= killed_at && acked_before < 4 * PER_SENDER as usize,
        "killed mid-stream"
    );

    // Phase 2: restart on the same data dir; devices reconnect, resend the unacked, finish.
    let hub = Hub::start(dir.path(), &env);
    let mut tasks = Vec::new();
    for dev in devices {
        let client = connect(&hub, &dev).await;
        tasks.push(tokio::spawn(drive(client, dev, acks.clone(), done.clone())));
    }
    // Each device stops once all its messages are acknowledged and it has every message
    // addressed to it (or after 20 s of silence, which the checks below then expose).
    let mut devices = Vec::new();
    for t in tasks {
        devices.push(t.await.expect("device task"));
    }
    // A device whose stream ended before it was complete reconnects and carries on, as a real
    // client would; the round is printed so a failure shows it. (The one CI stall was the test
    // client's flush leaving TLS records inside rustls: see the test above.)
    let complete = |d: &Device| {
        let distinct: std::collections::HashSet<_> = d.received.iter().collect();
        d.next_seq == PER_SENDER
            && d.unacked.is_empty()
            && distinct.len() == 3 * PER_SENDER as usize
    };
    for round in 1..=2 {
        let mut next = Vec::new();
        for dev in devices {
            if complete(&dev) {
                next.push(dev);
                continue;
            }
            eprintln!(
                "{} incomplete, reconnecting (round {round}): {} unacked, next seq {}, {} received",
                dev.name(),
                dev.unacked.len(),
                dev.next_seq,
                dev.received.len()
            );
            let client = connect(&hub, &dev).await;
            next.push(drive(client, dev, acks.clone(), done.clone()).await);
        }
        devices = next;
    }
    let finished: Vec<String> = devices
        .iter()
        .filter(|d| d.next_seq == PER_SENDER && d.unacked.is_empty())
        .map(Device::name)
        .collect();
    assert_eq!(
        finished.len(),
        4,
        "every device got every ack; finished: {finished:?}"
    );
    let elapsed = started.elapsed();

    // Every acknowledged message reached each device it was addressed to, exactly once after
    // de-duplication, and in order per sender.
    let acked: HashMap<String, &BTreeSet<u32>> =
        devices.iter().map(|d| (d.name(), &d.acked)).collect();
    for dev in &devices {
        let mut seen = BTreeSet::new();
        let mut last: HashMap<&str, u32> = HashMap::new();
        for (from, id) in &dev.received {
            if !seen.insert((from.clone(), id.clone())) {
                continue; // duplicate delivery (at-least-once), dropped by (sender, id)
            }
            let seq: u32 = id
                .rsplit('-')
                .next()
                .and_then(|s| s.parse().ok())
                .expect("seq");
            let prev = last.insert(from.as_str(), seq).unwrap_or(0);
            assert!(
                seq > prev,
                "{} got {id} from {from} after seq {prev}",
                dev.name()
            );
        }
        // Who sends to this device: both devices of the peer account, and its sibling.
        let sibling = format!("{}@localhost/{}", dev.account, 3 - dev.id);
        let senders = [
            format!("{}@localhost/1", dev.peer),
            format!("{}@localhost/2", dev.peer),
            sibling,
        ];
        for sender in senders {
            let expected = acked[&sender];
            let got: BTreeSet<u32> = seen
                .iter()
                .filter(|(f, _)| *f == sender)
                .filter_map(|(_, id)| id.rsplit('-').next().and_then(|s| s.parse().ok()))
                .collect();
            assert_eq!(expected.len(), PER_SENDER as usize);
            let missing: Vec<_> = expected.difference(&got).take(5).collect();
            assert!(
                missing.is_empty(),
                "{} lost acked messages from {sender}: {missing:?}…",
                dev.name()
            );
        }
    }
    let total_received: usize = devices.iter().map(|d| d.received.len()).sum();
    eprintln!(
        "10k durability: {} messages, {} deliveries (with duplicates) in {:.1}s, killed after {killed_at} acks",
        4 * PER_SENDER,
        total_received,
        elapsed.as_secs_f64()
    );
}
