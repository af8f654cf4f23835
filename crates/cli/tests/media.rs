//! Media end to end, with the real `portico serve` binary and real HTTPS: a 100 MB file from
//! one first-party client to another through the hub's upload slots, and a 100 MB
//! provider-hosted file fetched by a first-party client through the hub's media proxy, each
//! with the hub's and the receiver's memory growth measured (< 32 MB); every proxy refusal with
//! its own problem type; the upload quota; and each kind of stream damage detected end to end
//! with its own error.
//!
//! The provider's media origin here is a minimal HTTPS origin served by the test itself (it
//! can also answer slowly, redirect away, or announce a huge body), registered in the hub's
//! provider registry with its CA like a real provider.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Hub;
use portico_client::portico_media::{self, DecryptError, HEADER_LEN, TAG_LEN};
use portico_client::{Client, Config, Event, MediaError, Trust};
use portico_content::{Attachment, Body};
use portico_hub::store::interop::{InteropStore, Provider, ProviderStatus};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MB: u64 = 1024 * 1024;
const T: Duration = Duration::from_secs(120);

#[derive(Clone)]
enum Route {
    File(PathBuf),
    Redirect(String),
    Slow(Duration),
    Huge,
}

/// A minimal HTTPS media origin.
struct Origin {
    addr: SocketAddr,
    cert_pem: String,
    routes: Arc<Mutex<HashMap<String, Route>>>,
}

impl Origin {
    async fn start(dir: &Path) -> Origin {
        std::fs::create_dir_all(dir).expect("origin dir");
        let config =
            portico_hub::config::Config::load(None, Vec::new(), Some(dir)).expect("config");
        let identity = portico_hub::tls::load_identity(&config).expect("origin certificate");
        let tls = portico_hub::tls::server_config(&identity, &[b"http/1.1"]).expect("tls");
        let cert_pem = std::fs::read_to_string(dir.join("tls-cert.pem")).expect("cert pem");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let routes: Arc<Mutex<HashMap<String, Route>>> = Arc::default();
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let table = routes.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let table = table.clone();
                tokio::spawn(async move {
                    let Ok(mut s) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut head = Vec::new();
                    let mut b = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16384 {
                        match s.read(&mut b).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&b[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&head).into_owned();
                    let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    let route = table.lock().expect("routes").get(&path).cloned();
                    let _ = serve(&mut s, route).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        Origin {
            addr,
            cert_pem,
            routes,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.addr.port())
    }

    fn route(&self, path: &str, r: Route) {
        self.routes
            .lock()
            .expect("routes")
            .insert(path.to_owned(), r);
    }
}

async fn serve<S: tokio::io::AsyncWrite + Unpin>(
    s: &mut S,
    route: Option<Route>,
) -> std::io::Result<()> {
    match route {
        None => s.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await,
        Some(Route::Redirect(to)) => {
            s.write_all(format!("HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes()).await
        }
        Some(Route::Slow(d)) => {
            tokio::time::sleep(d).await;
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await
        }
        Some(Route::Huge) => {
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000000000\r\nconnection: close\r\n\r\n").await?;
            s.write_all(&[0u8; 4096]).await
        }
        Some(Route::File(p)) => {
            let mut f = tokio::fs::File::open(&p).await?;
            let len = f.metadata().await?.len();
            s.write_all(format!("HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n").as_bytes()).await?;
            tokio::io::copy(&mut f, s).await.map(|_| ())
        }
    }
}

/// Resident memory of a process, kB.
fn rss_kb(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Samples the peak RSS of `pid` until dropped.
struct Peak {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    start: u64,
}

impl Peak {
    fn watch(pid: String) -> Peak {
        let stop = Arc::new(AtomicBool::new(false));
        let start = rss_kb(&pid);
        let peak = Arc::new(AtomicU64::new(start));
        let (s, p) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss_kb(&pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Peak { stop, peak, start }
    }

    /// Growth above the starting RSS, MB.
    fn growth_mb(&self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        (self.peak.load(Ordering::Relaxed).saturating_sub(self.start)) as f64 / 1024.0
    }
}

fn write_pattern(path: &Path, len: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut block = vec![0u8; MB as usize];
    let mut written = 0;
    let mut n: u32 = 1;
    while written < len {
        for b in block.iter_mut() {
            n ^= n << 13;
            n ^= n >> 17;
            n ^= n << 5;
            *b = n as u8;
        }
        let take = (len - written).min(MB) as usize;
        f.write_all(&block[..take]).expect("write");
        written += take as u64;
    }
    f.flush().expect("flush");
}

fn same_file(a: &Path, b: &Path) -> bool {
    let (mut fa, mut fb) = (
        std::fs::File::open(a).expect("open a"),
        std::fs::File::open(b).expect("open b"),
    );
    let (mut ba, mut bb) = (vec![0u8; MB as usize], vec![0u8; MB as usize]);
    loop {
        let na = read_full(&mut fa, &mut ba);
        let nb = read_full(&mut fb, &mut bb);
        if na != nb || ba[..na] != bb[..nb] {
            return false;
        }
        if na == 0 {
            return true;
        }
    }
}

fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]).expect("read") {
            0 => break,
            k => n += k,
        }
    }
    n
}

/// Encrypts `src` into `dest` as the provider-hosted copy; the attachment that points at `url`.
fn encrypt_for_origin(src: &Path, dest: &Path, url: String) -> Attachment {
    let mut rng = os_rng::Rng;
    let (key, done) = portico_media::io::encrypt(
        std::io::BufReader::new(std::fs::File::open(src).expect("src")),
        std::io::BufWriter::new(std::fs::File::create(dest).expect("dest")),
        &mut rng,
        portico_media::DEFAULT_CHUNK_SIZE,
    )
    .expect("encrypt");
    Attachment {
        url,
        key: key.as_bytes().to_vec(),
        ciphertext_sha256: done.ciphertext_sha256.to_vec(),
        plaintext_sha256: done
            .plaintext_sha256
            .map(|d| d.to_vec())
            .unwrap_or_default(),
        size: done.plaintext_len,
        content_type: "application/octet-stream".into(),
        file_name: "big.bin".into(),
        chunk_size: portico_media::DEFAULT_CHUNK_SIZE,
        thumbnail: Vec::new(),
        width: 0,
        height: 0,
        duration_ms: 0,
        caption: String::new(),
    }
}

/// A tiny CSPRNG from the OS for the test's own encryptions.
mod os_rng {
    /// Reads the OS RNG.
    pub struct Rng;
    impl portico_client::portico_media::rand_core::RngCore for Rng {
        fn next_u32(&mut self) -> u32 {
            let mut b = [0u8; 4];
            self.fill_bytes(&mut b);
            u32::from_le_bytes(b)
        }
        fn next_u64(&mut self) -> u64 {
            let mut b = [0u8; 8];
            self.fill_bytes(&mut b);
            u64::from_le_bytes(b)
        }
        fn fill_bytes(&mut self, dst: &mut [u8]) {
            getrandom::fill(dst).expect("os rng");
        }
    }
    impl portico_client::portico_media::rand_core::CryptoRng for Rng {}
}

async fn prepare_hub(data: &Path, origin: &Origin, users: &[&str]) {
    std::fs::create_dir_all(data).expect("hub dir");
    let config = portico_hub::config::Config::load(None, Vec::new(), Some(data)).expect("config");
    let store = portico_hub::server::open_store(&config).expect("store");
    for u in users {
        portico_hub::accounts::add_user(&store, u, &format!("password-of-{u}"))
            .await
            .expect("user");
    }
    store
        .add_provider(Provider {
            id: "birdy".into(),
            domain: "birdy.example".into(),
            endpoint: origin.url(""),
            public_key: vec![7; 32],
            media_origins: vec![origin.url("")],
            ca_pem: origin.cert_pem.clone(),
            limits: BTreeMap::new(),
            status: ProviderStatus::Active,
        })
        .await
        .expect("register provider");
    store.close();
}

async fn client(hub: &Hub, dir: &Path, user: &str) -> Client {
    let pin = portico_client::fingerprint_of_pem(&hub.cert()).expect("pin");
    let mut config = Config::new(
        &hub.tls.to_string(),
        "localhost",
        user,
        &format!("password-of-{user}"),
        Trust::Pin(pin),
    );
    config.timeout = Duration::from_secs(30);
    Client::open(config, &dir.join(format!("{user}.db")))
        .await
        .expect("client")
}

async fn next_attachment(c: &mut Client) -> Attachment {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let ev = tokio::time::timeout_at(deadline, c.next_event())
            .await
            .expect("an attachment in time");
        if let Some(Event::Message { content, .. }) = ev {
            if let Some(Body::Attachment(a)) = content.body {
                return a;
            }
        }
    }
}

fn refused(r: Result<portico_client::Downloaded, MediaError>) -> String {
    match r {
        Err(MediaError::Refused { kind, .. }) => kind,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn corrupt(r: Result<portico_client::Downloaded, MediaError>) -> DecryptError {
    match r {
        Err(MediaError::Corrupt(e)) => e,
        other => panic!("expected a corrupt stream, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let origin = Origin::start(&dir.path().join("origin")).await;
    let data = dir.path().join("hub");
    prepare_hub(&data, &origin, &["alice", "bob"]).await;
    let hub = Hub::start(
        &data,
        &[
            ("PORTICO_MEDIA_PROXY_ALLOW_PRIVATE_ADDRESSES", "true"),
            ("PORTICO_MEDIA_PROXY_FIRST_BYTE_TIMEOUT_SECS", "2"),
            (
                "PORTICO_MEDIA_QUOTA_BYTES_PER_USER",
                &(150 * MB).to_string(),
            ),
        ],
    );
    let hub_pid = hub.child.id().to_string();
    let alice = client(&hub, dir.path(), "alice").await;
    let mut bob = client(&hub, dir.path(), "bob").await;
    let bob_jid = bob.jid().clone();

    // 1. 100 MB first-party → first-party through the hub's own upload slot.
    let big = dir.path().join("big.bin");
    write_pattern(&big, 100 * MB);
    let hub_peak = Peak::watch(hub_pid.clone());
    alice
        .send_file(&bob_jid, &big, Default::default())
        .await
        .expect("send 100 MB");
    let a = next_attachment(&mut bob).await;
    assert_eq!((a.size, a.file_name.as_str()), (100 * MB, "big.bin"));
    let me = Peak::watch("self".into());
    let got = dir.path().join("got-slot.bin");
    bob.download(&a, &got).await.expect("download from the hub");
    let (hub_growth, bob_growth) = (hub_peak.growth_mb(), me.growth_mb());
    eprintln!(
        "100 MB via hub slot: hub RSS +{hub_growth:.1} MB, receiver (test process) +{bob_growth:.1} MB"
    );
    assert!(same_file(&big, &got), "the downloaded file differs");
    assert!(hub_growth < 32.0, "hub grew {hub_growth:.1} MB");
    assert!(bob_growth < 32.0, "receiver grew {bob_growth:.1} MB");
    std::fs::remove_file(&got).expect("rm");

    // An image: its type from the name, its dimensions from its header.
    let pic = dir.path().join("pic.png");
    let mut png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
    png.extend_from_slice(&640u32.to_be_bytes());
    png.extend_from_slice(&480u32.to_be_bytes());
    png.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    png.extend_from_slice(&[0u8; 300]);
    std::fs::write(&pic, &png).expect("png");
    alice
        .send_file(&bob_jid, &pic, Default::default())
        .await
        .expect("send the image");
    let a = next_attachment(&mut bob).await;
    assert_eq!(
        (a.content_type.as_str(), a.width, a.height, a.size),
        ("image/png", 640, 480, png.len() as u64)
    );
    let got = dir.path().join("got.png");
    bob.download(&a, &got).await.expect("download the image");
    assert_eq!(std::fs::read(&got).expect("read"), png);
    let log = bob.conversation(alice.jid()).await.expect("bob's log");
    assert!(
        log.iter()
            .any(|m| m.body == format!("[file] pic.png ({} bytes)", png.len())),
        "the received file is in the conversation log"
    );

    // 2. 100 MB provider-hosted, fetched through the proxy.
    let hosted = dir.path().join("origin/big.pmed");
    let big2 = big.clone();
    let hosted2 = hosted.clone();
    let url = origin.url("/media/big");
    let a = tokio::task::spawn_blocking(move || encrypt_for_origin(&big2, &hosted2, url))
        .await
        .expect("encrypt");
    origin.route("/media/big", Route::File(hosted.clone()));
    let hub_peak = Peak::watch(hub_pid.clone());
    let me = Peak::watch("self".into());
    let got = dir.path().join("got-proxy.bin");
    bob.download(&a, &got)
        .await
        .expect("download through the proxy");
    let (hub_growth, bob_growth) = (hub_peak.growth_mb(), me.growth_mb());
    eprintln!(
        "100 MB via proxy: hub RSS +{hub_growth:.1} MB, receiver (test process) +{bob_growth:.1} MB"
    );
    assert!(same_file(&big, &got), "the proxied file differs");
    assert!(hub_growth < 32.0, "hub grew {hub_growth:.1} MB");
    assert!(bob_growth < 32.0, "receiver grew {bob_growth:.1} MB");
    std::fs::remove_file(&got).expect("rm");

    // 3. The upload quota holds: alice holds 100 MB of 150 MB.
    let mid = dir.path().join("mid.bin");
    write_pattern(&mid, 60 * MB);
    match alice.upload_file(&mid, Default::default()).await {
        Err(MediaError::Client(e)) => assert!(e.to_string().contains("quota exceeded"), "{e}"),
        other => panic!("expected the quota refusal, got {other:?}"),
    }
    let small = dir.path().join("small.bin");
    write_pattern(&small, 10 * MB);
    alice
        .upload_file(&small, Default::default())
        .await
        .expect("under the quota");

    // 4. Damage to a provider-hosted stream, each detected with its own error.
    let ten = dir.path().join("ten.bin");
    write_pattern(&ten, 10 * 65536 + 100);
    let clean = dir.path().join("origin/ten.pmed");
    let mut a = encrypt_for_origin(&ten, &clean, String::new());
    a.ciphertext_sha256.clear();
    let ct = std::fs::read(&clean).expect("ct");
    let full = 65536 + TAG_LEN;
    let at = |i: usize| HEADER_LEN + i * full;
    let mut cases: Vec<(&str, Vec<u8>, DecryptError)> = Vec::new();
    let mut v = ct.clone();
    v[at(3) + 5] ^= 1;
    cases.push(("flipped", v, DecryptError::ChunkCorrupted { index: 3 }));
    let mut v = ct.clone();
    v.drain(at(4)..at(5));
    cases.push((
        "dropped",
        v,
        DecryptError::ChunkMissing { index: 4, found: 5 },
    ));
    cases.push((
        "truncated",
        ct[..at(6)].to_vec(),
        DecryptError::Truncated { chunks: 6 },
    ));
    let mut v = ct.clone();
    let (c2, c3) = (ct[at(2)..at(3)].to_vec(), ct[at(3)..at(4)].to_vec());
    v[at(2)..at(3)].copy_from_slice(&c3);
    v[at(3)..at(4)].copy_from_slice(&c2);
    cases.push((
        "reordered",
        v,
        DecryptError::ChunkReordered {
            position: 3,
            found: 2,
        },
    ));
    let mut v = ct.clone();
    v.extend_from_slice(&ct[at(9)..at(10)]);
    cases.push(("extended", v, DecryptError::Extended { final_index: 10 }));
    for (name, bytes, expected) in cases {
        let p = dir.path().join(format!("origin/{name}.pmed"));
        std::fs::write(&p, bytes).expect("write variant");
        origin.route(&format!("/media/{name}"), Route::File(p));
        a.url = origin.url(&format!("/media/{name}"));
        let dest = dir.path().join(format!("{name}.out"));
        assert_eq!(corrupt(bob.download(&a, &dest).await), expected, "{name}");
        assert!(
            !dest.exists() && !dest.with_extension("part").exists(),
            "{name}: nothing kept"
        );
    }

    // 5. Each proxy refusal.
    let mut probe = a.clone();
    probe.url = "https://127.0.0.1:1/media/x".into();
    assert_eq!(
        refused(bob.download(&probe, &dir.path().join("x")).await),
        "origin-not-registered"
    );
    origin.route(
        "/media/away",
        Route::Redirect(format!(
            "https://localhost:{}/media/big",
            origin.addr.port()
        )),
    );
    probe.url = origin.url("/media/away");
    assert_eq!(
        refused(bob.download(&probe, &dir.path().join("x")).await),
        "redirect-off-origin"
    );
    origin.route("/media/huge", Route::Huge);
    probe.url = origin.url("/media/huge");
    assert_eq!(
        refused(bob.download(&probe, &dir.path().join("x")).await),
        "too-large"
    );
    origin.route("/media/slow", Route::Slow(Duration::from_secs(6)));
    probe.url = origin.url("/media/slow");
    assert_eq!(
        refused(bob.download(&probe, &dir.path().join("x")).await),
        "origin-timeout"
    );
    let (status, _, body) = common::https_get(hub.http, &hub.cert(), "/v1/media/proxy?src=x").await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("urn:portico:problem:unauthorized"), "{body}");

    // What an operator sees of all this on /metrics.
    let (status, _, metrics) = common::https_get(hub.http, &hub.cert(), "/metrics").await;
    assert_eq!(status, 200, "{metrics}");
    let get = |series: &str| -> Option<u64> {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    };
    let value = |series: &str| get(series).unwrap_or_else(|| panic!("no {series} in\n{metrics}"));
    // Stored: 100 MB, the image and the 10 MB file (ciphertext sizes), nothing expired yet.
    assert_eq!(value("portico_media_uploads_total{outcome=\"stored\"}"), 3);
    let stored = value("portico_media_stored_bytes");
    assert!((110 * MB..111 * MB).contains(&stored), "{stored}");
    assert_eq!(value("portico_media_uploaded_bytes_total"), stored);
    assert_eq!(
        value("portico_media_quota_refusals_total{limit=\"upload-quota\"}"),
        1
    );
    for reason in [
        "origin-not-registered",
        "redirect-off-origin",
        "too-large",
        "origin-timeout",
        "unauthorized",
    ] {
        let series = format!("portico_media_proxy_refusals_total{{reason=\"{reason}\"}}");
        assert_eq!(value(&series), 1, "{series}");
    }
    // The 100 MB file and the five damaged streams were relayed (the damage is the client's
    // to find; a client that stops at the damage may leave before the end).
    let ok = value("portico_media_proxy_fetches_total{outcome=\"ok\"}");
    let left = get("portico_media_proxy_fetches_total{outcome=\"client-gone\"}").unwrap_or(0);
    assert_eq!((ok >= 1, ok + left), (true, 6), "{metrics}");
    assert!(value("portico_media_proxied_bytes_total") > 100 * MB);

    // A hub that keeps the default (no private addresses) and allows 2 requests a minute.
    let data2 = dir.path().join("hub2");
    prepare_hub(&data2, &origin, &["carol"]).await;
    let hub2 = Hub::start(&data2, &[("PORTICO_MEDIA_PROXY_REQUESTS_PER_MINUTE", "2")]);
    let carol = client(&hub2, dir.path(), "carol").await;
    probe.url = origin.url("/media/ten");
    for _ in 0..2 {
        assert_eq!(
            refused(carol.download(&probe, &dir.path().join("x")).await),
            "private-address"
        );
    }
    assert_eq!(
        refused(carol.download(&probe, &dir.path().join("x")).await),
        "quota-exceeded"
    );

    carol.close().await;
    alice.close().await;
    bob.close().await;
    drop(hub2);
    drop(hub);
}

/// The headline case: a 100 MB file from a third-party client, hosted by its provider (the
/// reference provider, in-process), to a first-party client through the hub's media proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn third_party_file_through_the_proxy() {
    use portico_client::thirdparty::{self, ThirdPartyConfig};

    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("hub");
    std::fs::create_dir_all(&data).expect("hub dir");
    let hub_key = portico_hub::interop::keys::HubKeys::load_or_create(&data)
        .expect("hub keys")
        .public_b64();

    // The provider, with user bob.
    let provider_data = dir.path().join("provider");
    std::fs::create_dir_all(&provider_data).expect("provider dir");
    portico_provider::store::ProviderStore::open_with_iterations(&provider_data, 1000)
        .expect("provider store")
        .add_user("bob", "password-of-bob", 1)
        .expect("bob");
    let mut pc = portico_provider::ProviderConfig::new(
        "birdy",
        "birdy.example",
        provider_data,
        "127.0.0.1:0".parse().expect("addr"),
    );
    pc.hub_key = Some(portico_interop::keys::decode_public_key(&hub_key).expect("hub key"));
    pc.hub_domains = vec!["localhost".into()];
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let (_provider_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let stop = async {
            let _ = stopped.await;
        };
        if let Err(e) = portico_provider::run(pc, stop, |r| {
            let _ = ready_tx.send(r.clone());
        })
        .await
        {
            eprintln!("provider stopped: {e}");
        }
    });
    let provider = tokio::time::timeout(T, ready_rx)
        .await
        .expect("provider ready in time")
        .expect("provider ready");

    // The hub, with alice, and birdy registered with its media origin and certificate.
    {
        let config =
            portico_hub::config::Config::load(None, Vec::new(), Some(&data)).expect("config");
        let store = portico_hub::server::open_store(&config).expect("store");
        portico_hub::accounts::add_user(&store, "alice", "password-of-alice")
            .await
            .expect("alice");
        store
            .add_provider(Provider {
                id: "birdy".into(),
                domain: "birdy.example".into(),
                endpoint: provider.url.clone(),
                public_key: portico_interop::keys::decode_public_key(&provider.public_key)
                    .expect("provider key")
                    .to_bytes()
                    .to_vec(),
                media_origins: vec![provider.url.clone()],
                ca_pem: std::fs::read_to_string(&provider.cert_path).expect("cert"),
                limits: BTreeMap::new(),
                status: ProviderStatus::Active,
            })
            .await
            .expect("register birdy");
        store.close();
    }
    let hub = Hub::start(
        &data,
        &[("PORTICO_MEDIA_PROXY_ALLOW_PRIVATE_ADDRESSES", "true")],
    );
    let mut alice = client(&hub, dir.path(), "alice").await;
    let pin = portico_client::fingerprint_of_pem(&hub.cert()).expect("pin");
    let mut hub_config = Config::new(&hub.tls.to_string(), "localhost", "", "", Trust::Pin(pin));
    hub_config.timeout = Duration::from_secs(30);
    let provider_trust = Trust::CaBundle(provider.cert_path.clone());
    let bob_config = ThirdPartyConfig::new(
        &provider.url,
        provider_trust.clone(),
        "bob",
        "password-of-bob",
        &format!("https://{}", hub.http),
        hub_config,
    );
    let (bob, enlisted) = thirdparty::open(bob_config.clone(), &dir.path().join("bob.db"))
        .await
        .expect("bob enlists and logs in");
    let bob_jid: portico_stanza::Jid = enlisted.jid.parse().expect("bob's jid");
    alice.allow_provider("birdy").await.expect("alice opts in");
    alice
        .send_text(&bob_jid, "send me the file")
        .await
        .expect("hello");

    // Bob uploads to his provider (not to the hub) and sends the attachment.
    let big = dir.path().join("big.bin");
    write_pattern(&big, 100 * MB);
    let session = thirdparty::provider_login(&bob_config)
        .await
        .expect("session");
    let a = bob
        .upload_file_to_provider(
            &provider.url,
            &provider_trust,
            session.session_token.expose(),
            &big,
            Default::default(),
        )
        .await
        .expect("upload to the provider");
    assert!(
        a.url.starts_with(&provider.url),
        "hosted by the provider: {}",
        a.url
    );
    bob.send_attachment(&alice.jid().clone(), a)
        .await
        .expect("send");

    let a = next_attachment(&mut alice).await;
    assert_eq!(a.size, 100 * MB);
    let hub_peak = Peak::watch(hub.child.id().to_string());
    let me = Peak::watch("self".into());
    let got = dir.path().join("got.bin");
    alice
        .download(&a, &got)
        .await
        .expect("download through the proxy");
    let (hub_growth, alice_growth) = (hub_peak.growth_mb(), me.growth_mb());
    eprintln!(
        "100 MB third-party → first-party via proxy: hub RSS +{hub_growth:.1} MB, receiver (test process, with the provider) +{alice_growth:.1} MB"
    );
    assert!(same_file(&big, &got), "the file differs");
    assert!(hub_growth < 32.0, "hub grew {hub_growth:.1} MB");
    assert!(alice_growth < 32.0, "receiver grew {alice_growth:.1} MB");
    bob.close().await;
    alice.close().await;
    drop(hub);
}
