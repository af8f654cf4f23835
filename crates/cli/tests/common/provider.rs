//! The reference provider (`portico provider serve`) as a child process, for the end-to-end
//! tests that need a real third-party provider talking HTTPS to the hub.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The reference provider as a child process; killed on drop.
pub struct Provider {
    child: Child,
    /// Its data dir.
    pub data: PathBuf,
    /// Its HTTPS address.
    pub addr: SocketAddr,
    /// Its base URL, `https://ip:port`.
    pub url: String,
    /// Its Ed25519 public key, as `portico admin provider add --public-key` takes it.
    pub public_key: String,
    /// Its self-signed certificate (PEM).
    pub cert: PathBuf,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider {
    /// The flags of `portico admin provider add <id>` that register this provider for the
    /// domain `birdy.example`: endpoint, public key, media origin and certificate.
    pub fn registration_args(&self) -> Vec<String> {
        vec![
            "--domain".into(),
            "birdy.example".into(),
            "--endpoint".into(),
            self.url.clone(),
            "--public-key".into(),
            self.public_key.clone(),
            "--media-origin".into(),
            self.url.clone(),
            "--ca-file".into(),
            self.cert.to_string_lossy().into_owned(),
        ]
    }
}

/// Starts `portico provider serve` on a free loopback port with `data` as its data dir,
/// trusting `hub_key`, and waits for its ready line.
pub fn start_provider(data: &Path, hub_key: &str) -> Provider {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portico"))
        .args([
            "provider",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--hub-key",
            hub_key,
        ])
        .arg("--data")
        .arg(data)
        .env("PORTICO_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn portico provider serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let ready = loop {
        match lines.next() {
            Some(Ok(l)) if l.starts_with("portico provider ready") => break l,
            Some(Ok(_)) => continue,
            _ => panic!("the provider exited before it was ready"),
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let field = |name: &str| -> String {
        ready
            .split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in {ready:?}"))
            .to_owned()
    };
    let url = field("url");
    let addr = url
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|_| panic!("url {url} is not https://ip:port"));
    Provider {
        child,
        data: data.to_owned(),
        addr,
        public_key: field("public_key"),
        cert: PathBuf::from(field("cert")),
        url,
    }
}
