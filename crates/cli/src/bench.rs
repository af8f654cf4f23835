//! `portico bench`: a load generator. Opens N TLS connections (one account and device each),
//! sends M messages per second in all of S bytes each, from each connection to the next one,
//! and reports delivered throughput, latency percentiles and the hub's memory per connection.
//! With `--plain-xmpp` it sends ordinary `<body>` messages, so the same load can be pointed
//! at another XMPP server for comparison.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use portico_stanza::stanza::{
    Ciphertext, CiphertextKind, DeviceCiphertext, E2ee, Message, MessageType,
};
use portico_stanza::{Element, Jid, ns};

use portico_stanza::parser::Event;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::xmpp_client::{BoundStream, Client, ClientError, Login, Mech};

/// `portico bench` options.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Server address (direct TLS unless --starttls).
    #[arg(long, default_value = "127.0.0.1:5223")]
    addr: SocketAddr,
    /// Use STARTTLS instead of direct TLS.
    #[arg(long)]
    starttls: bool,
    /// The server's XMPP domain.
    #[arg(long, default_value = "localhost")]
    domain: String,
    /// The hub's data dir: bench accounts are created there, and its certificate trusted.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// PEM certificate to trust (default: the data dir's self-signed one).
    #[arg(long, value_name = "FILE")]
    cert: Option<PathBuf>,
    /// Connections (one account each: PREFIX-0 … PREFIX-{N-1}).
    #[arg(long, default_value_t = 100)]
    connections: usize,
    /// Messages per second in all; 0 keeps the connections idle (memory measurement).
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Approximate stanza size in bytes.
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Most messages one connection may have sent without the hub's ack.
    #[arg(long, default_value_t = 256)]
    window: usize,
    /// The hub's process id, to report its memory (VmRSS) per connection.
    #[arg(long)]
    hub_pid: Option<u32>,
    /// Send plain `<body>` messages (for other XMPP servers) instead of Portico e2ee.
    #[arg(long)]
    plain_xmpp: bool,
    /// Account name prefix.
    #[arg(long, default_value = "bench")]
    prefix: String,
    /// Password of every bench account.
    #[arg(long, default_value = "bench-password")]
    password: String,
    /// Logins in flight at once while connecting.
    #[arg(long, default_value_t = 64)]
    login_concurrency: usize,
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Runs `portico bench`.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(bench(args))
}

async fn ensure_accounts(args: &BenchArgs) -> anyhow::Result<()> {
    let Some(data) = &args.data else {
        return Ok(());
    };
    let config = portico_hub::config::Config::load(None, std::iter::empty(), Some(data))?;
    let store = Arc::new(portico_hub::server::open_store(&config)?);
    let existing: std::collections::HashSet<String> =
        portico_hub::accounts::list_users(store.as_ref())
            .await?
            .into_iter()
            .map(|a| a.name)
            .collect();
    let mut tasks = Vec::new();
    for i in 0..args.connections {
        let name = format!("{}-{i}", args.prefix);
        if existing.contains(&name) {
            continue;
        }
        let store = store.clone();
        let password = args.password.clone();
        tasks.push(tokio::spawn(async move {
            portico_hub::accounts::add_user(store.as_ref(), &name, &password).await
        }));
    }
    for t in tasks {
        t.await??;
    }
    store.close();
    Ok(())
}

async fn connect_one(
    args: &BenchArgs,
    tls: Arc<rustls::ClientConfig>,
    i: usize,
) -> Result<BoundStream, ClientError> {
    let mut login = Login {
        addr: args.addr,
        tls,
        domain: args.domain.clone(),
        user: format!("{}-{i}", args.prefix),
        password: args.password.clone(),
        mech: Mech::Plain,
        resource: Some("1".into()),
        starttls: args.starttls,
        resume: None,
    };
    match Client::login(&login).await {
        Err(ClientError::Bind(_)) => {
            login.resource = None;
            Client::login(&login).await
        }
        other => other,
    }
}

fn payload(args: &BenchArgs) -> Ciphertext {
    // Base64 grows by 4/3; the rest of the stanza is about 220 bytes.
    let raw = args.size.saturating_sub(220) * 3 / 4;
    Ciphertext::encode(&vec![0x5a; raw.max(16)])
}

fn message(args: &BenchArgs, to: usize, id: String, ct: &Ciphertext) -> Message {
    let to = Jid::parse(&format!("{}-{to}@{}", args.prefix, args.domain)).ok();
    if args.plain_xmpp {
        return Message {
            id: Some(id.into()),
            to,
            kind: Some(MessageType::Chat),
            body: Some(ct.as_base64().into()),
            ..Message::default()
        };
    }
    Message {
        id: Some(id.into()),
        to,
        kind: Some(MessageType::Chat),
        e2ee: Some(E2ee {
            to: vec![DeviceCiphertext {
                device: 1,
                kind: CiphertextKind::Message,
                payload: ct.clone(),
            }],
            ..E2ee::default()
        }),
        ..Message::default()
    }
}

struct Shared {
    epoch: Instant,
    sending: AtomicBool,
    sent: AtomicU64,
    acked: AtomicU64,
    delivered: AtomicU64,
    errors: AtomicU64,
}

async fn bench(args: BenchArgs) -> anyhow::Result<()> {
    if args.connections < 2 && args.rate > 0 {
        bail!("--connections must be at least 2 to send messages between them");
    }
    let cert = match (&args.cert, &args.data) {
        (Some(c), _) => c.clone(),
        (None, Some(d)) => d.join(portico_hub::tls::SELF_SIGNED_CERT),
        (None, None) => {
            bail!("give --cert FILE (the server's certificate) or --data DIR (the hub's data dir)")
        }
    };
    let tls = portico_hub::tls::client_config_trusting(&cert)?;
    ensure_accounts(&args).await?;
    let rss_before = args.hub_pid.and_then(rss_kib);

    // Connect everyone, a bounded number of logins at a time.
    let started = Instant::now();
    let args = Arc::new(args);
    let gate = Arc::new(tokio::sync::Semaphore::new(args.login_concurrency.max(1)));
    let mut pending = Vec::new();
    for i in 0..args.connections {
        let (args, tls, gate) = (args.clone(), tls.clone(), gate.clone());
        pending.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            connect_one(&args, tls, i).await
        }));
    }
    let mut clients = Vec::new();
    for (i, p) in pending.into_iter().enumerate() {
        clients.push(p.await?.with_context(|| format!("connection {i} failed"))?);
    }
    let connect_secs = started.elapsed().as_secs_f64();
    println!(
        "connected {} TLS sessions in {connect_secs:.1}s",
        clients.len()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_connected = args.hub_pid.and_then(rss_kib);
    if let (Some(before), Some(after)) = (rss_before, rss_connected) {
        let per = (after.saturating_sub(before)) as f64 / clients.len() as f64;
        println!(
            "hub RSS: {before} KiB before, {after} KiB with {} connections: {per:.1} KiB per connection",
            clients.len()
        );
    }
    if args.rate == 0 {
        tokio::time::sleep(Duration::from_secs(args.duration)).await;
        return Ok(());
    }

    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        sending: AtomicBool::new(true),
        sent: AtomicU64::new(0),
        acked: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        errors: AtomicU64::new(0),
    });
    let n = clients.len();
    let pace = Pace {
        rate: args.rate as f64,
        conns: n,
    };
    let mut tasks = Vec::new();
    for (i, client) in clients.into_iter().enumerate() {
        let (args, shared) = (args.clone(), shared.clone());
        tasks.push(tokio::spawn(drive(
            client,
            i,
            (i + 1) % n,
            pace,
            args,
            shared,
        )));
    }
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    shared.sending.store(false, Ordering::SeqCst);
    let load_secs = shared.epoch.elapsed().as_secs_f64();
    let delivered_in_window = shared.delivered.load(Ordering::SeqCst);
    let mut from_due = Vec::new();
    let mut from_sent = Vec::new();
    let mut to_ack = Vec::new();
    for t in tasks {
        let l = t.await?;
        from_due.extend(l.from_due);
        from_sent.extend(l.from_sent);
        to_ack.extend(l.to_ack);
    }
    from_due.sort_unstable();
    from_sent.sort_unstable();
    to_ack.sort_unstable();
    let pct = |v: &[u64], p: f64| -> f64 {
        if v.is_empty() {
            return 0.0;
        }
        let idx = ((v.len() as f64 - 1.0) * p).round() as usize;
        v[idx] as f64 / 1000.0
    };
    println!(
        "load: {n} connections, target {} msg/s, {} bytes, {:.1}s",
        args.rate, args.size, load_secs
    );
    println!(
        "sent {} acked {} delivered {} (errors {})",
        shared.sent.load(Ordering::SeqCst),
        shared.acked.load(Ordering::SeqCst),
        shared.delivered.load(Ordering::SeqCst),
        shared.errors.load(Ordering::SeqCst)
    );
    println!(
        "delivered throughput: {:.0} msg/s",
        delivered_in_window as f64 / load_secs
    );
    println!(
        "latency send→delivery: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(&from_sent, 0.5),
        pct(&from_sent, 0.99),
        pct(&from_sent, 1.0)
    );
    println!(
        "latency due→delivery (includes the generator's own lateness): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(&from_due, 0.5),
        pct(&from_due, 0.99),
        pct(&from_due, 1.0)
    );
    if !to_ack.is_empty() {
        println!(
            "latency send→ack (durable, the sender's \"sent\"): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            pct(&to_ack, 0.5),
            pct(&to_ack, 0.99),
            pct(&to_ack, 1.0)
        );
    }
    Ok(())
}

/// One connection's loop: paced sending, counting acks, acknowledging deliveries.
///
/// Pacing is even: the k-th message of connection `me` of `n` is due at `(k·n + me) / R`
/// seconds (R the total rate), so the connections take turns instead of all sending at the
/// same tick. Each message carries its due time and the time it was actually written; the
/// latency is measured from both (from the due time it includes the generator's own delays
/// and the window's back-pressure, as a fair open-loop measurement must).
///
/// One task reads and writes (no reader task and channel in between, which at moderate
/// rates cost the generator a wake-up per stanza): it waits at once for the next due time,
/// for input, and for the socket to take what is queued, so it never stops reading while a
/// write waits.
async fn drive(
    conn: BoundStream,
    me: usize,
    to: usize,
    pace: Pace,
    args: Arc<BenchArgs>,
    shared: Arc<Shared>,
) -> Latencies {
    let ct = payload(&args);
    let mut lat = Latencies::default();
    let BoundStream { io, mut parser, .. } = conn;
    let (mut reader, mut writer) = tokio::io::split(io);
    let mut buf = vec![0u8; 32 * 1024];
    let mut out: Vec<u8> = Vec::with_capacity(8 * 1024);
    let mut written = 0usize;
    let mut unflushed = false;
    let mut outstanding = 0usize;
    let mut seq = 0u64;
    let mut drain_until: Option<tokio::time::Instant> = None;
    // Due time of message `seq + 1`, in microseconds since the epoch.
    let due_us = |seq: u64| -> u64 {
        ((seq as f64 * pace.conns as f64 + me as f64) * 1e6 / pace.rate) as u64
    };
    let epoch = tokio::time::Instant::from_std(shared.epoch);
    let fail = |shared: &Shared| {
        shared.errors.fetch_add(1, Ordering::Relaxed);
    };
    loop {
        // Everything already parsed is handled before waiting again.
        loop {
            match parser.next_event() {
                Ok(Some(Event::Stanza(el))) => {
                    on_incoming(&mut out, el, &mut outstanding, &mut lat, &shared);
                }
                Ok(Some(Event::StreamHeader(_))) => {}
                Ok(Some(Event::StreamEnd)) | Err(_) => {
                    fail(&shared);
                    return lat;
                }
                Ok(None) => break,
            }
        }
        let next_due = epoch + Duration::from_micros(due_us(seq));
        let wake = match drain_until {
            Some(t) => t,
            None if outstanding >= args.window => {
                tokio::time::Instant::now() + Duration::from_millis(10)
            }
            None => next_due,
        };
        let writing = written < out.len() || unflushed;
        tokio::select! {
            read = reader.read(&mut buf) => match read {
                Ok(n) if n > 0 => parser.feed(&buf[..n]),
                _ => {
                    if drain_until.is_none() {
                        fail(&shared);
                    }
                    return lat;
                }
            },
            w = async {
                if written < out.len() {
                    writer.write(&out[written..]).await.map(Some)
                } else {
                    writer.flush().await.map(|()| None)
                }
            }, if writing => match w {
                Ok(Some(n)) if n > 0 => {
                    written += n;
                    unflushed = true;
                    if written == out.len() {
                        out.clear();
                        written = 0;
                    }
                }
                Ok(None) => unflushed = false,
                _ => {
                    fail(&shared);
                    return lat;
                }
            },
            () = tokio::time::sleep_until(wake) => {
                if drain_until.is_some_and(|t| tokio::time::Instant::now() >= t) {
                    let _ = writer.write_all(&out[written..]).await;
                    let _ = writer.write_all(portico_stanza::parser::STREAM_END).await;
                    let _ = writer.shutdown().await;
                    return lat;
                }
                if !shared.sending.load(Ordering::Relaxed) {
                    drain_until = Some(tokio::time::Instant::now() + Duration::from_secs(3));
                    continue;
                }
                let now_us = shared.epoch.elapsed().as_micros() as u64;
                while due_us(seq) <= now_us && outstanding < args.window {
                    let due = due_us(seq);
                    seq += 1;
                    let sent_us = shared.epoch.elapsed().as_micros() as u64;
                    message(&args, to, format!("{me}-{seq}-{due}-{sent_us}"), &ct).write_to(&mut out);
                    outstanding += 1;
                    shared.sent.fetch_add(1, Ordering::Relaxed);
                    if args.plain_xmpp {
                        outstanding -= 1;
                    }
                }
            }
        }
    }
}

/// The pacing of one connection: the total rate and the number of connections sharing it.
#[derive(Clone, Copy)]
struct Pace {
    rate: f64,
    conns: usize,
}

/// Latencies in microseconds: from the due time, and from the moment of writing, to
/// delivery; from the moment of writing to the sender's ack.
#[derive(Default)]
struct Latencies {
    to_ack: Vec<u64>,
    from_due: Vec<u64>,
    from_sent: Vec<u64>,
}

/// The write and due times (µs since the epoch) carried at the end of a bench message id.
fn send_times(id: &str) -> Option<(u64, u64)> {
    let mut times = id.rsplit('-').map(|t| t.parse::<u64>().ok());
    Some((times.next()??, times.next()??))
}

fn on_incoming(
    out: &mut Vec<u8>,
    el: Element,
    outstanding: &mut usize,
    lat: &mut Latencies,
    shared: &Shared,
) {
    if let Some(ack) = el.get_child("ack", ns::PORTICO_E2EE) {
        *outstanding = outstanding.saturating_sub(1);
        shared.acked.fetch_add(1, Ordering::Relaxed);
        if let Some((sent, _)) = ack.attr("id").and_then(send_times) {
            let now = shared.epoch.elapsed().as_micros() as u64;
            lat.to_ack.push(now.saturating_sub(sent));
        }
    } else if el.name() == "message" && el.attr("type") == Some("error") {
        *outstanding = outstanding.saturating_sub(1);
        shared.errors.fetch_add(1, Ordering::Relaxed);
    } else if el.name() == "message" {
        if let Some((sent, due)) = el.attr("id").and_then(send_times) {
            let now = shared.epoch.elapsed().as_micros() as u64;
            lat.from_sent.push(now.saturating_sub(sent));
            lat.from_due.push(now.saturating_sub(due));
            shared.delivered.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(sid) = el
            .get_child("e2ee", ns::PORTICO_E2EE)
            .and_then(|e| e.attr("stanza-id"))
        {
            Element::new("received", ns::PORTICO_E2EE)
                .with_attr("stanza-id", sid)
                .write_to(out);
        }
    } else if el.name() == "iq" && el.attr("type") == Some("get") {
        // Answer the server's pings.
        if let Some(id) = el.attr("id") {
            Element::new("iq", ns::JABBER_CLIENT)
                .with_attr("type", "result")
                .with_attr("id", id)
                .write_to(out);
        }
    }
}
