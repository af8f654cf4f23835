//! Helpers shared by the end-to-end tests: start the real `portico` binary on free loopback
//! ports with a temporary data dir, and open TLS connections that trust its certificate.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// A hub running as a child process.
pub struct Hub {
    /// The child.
    pub child: Child,
    /// Its data dir.
    pub data: PathBuf,
    /// STARTTLS address.
    pub starttls: SocketAddr,
    /// Direct TLS address.
    pub tls: SocketAddr,
    /// HTTPS address.
    pub http: SocketAddr,
}

/// The `portico` binary under test.
pub fn portico() -> Command {
    Command::new(env!("CARGO_BIN_EXE_portico"))
}

/// Runs `portico` with `args` (no `PORTICO_LOG`) and returns (success, stdout+stderr).
pub fn run(args: &[&str]) -> (bool, String) {
    let out = portico()
        .args(args)
        .env_remove("PORTICO_LOG")
        .output()
        .expect("run portico");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// Runs `portico admin user …` with `args` against `data` and returns (success, stdout+stderr).
pub fn admin(data: &Path, args: &[&str]) -> (bool, String) {
    let data = data.to_str().expect("a UTF-8 data dir");
    let all: Vec<&str> = ["admin", "user"]
        .into_iter()
        .chain(args.iter().copied())
        .chain(["--data", data])
        .collect();
    run(&all)
}

impl Hub {
    /// Starts a hub on port 0 everywhere with `data` as data dir and extra environment.
    pub fn start(data: &Path, env: &[(&str, &str)]) -> Hub {
        Self::start_on(data, env, "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0")
    }

    /// Starts a hub on given addresses.
    pub fn start_on(
        data: &Path,
        env: &[(&str, &str)],
        starttls: &str,
        tls: &str,
        http: &str,
    ) -> Hub {
        let mut cmd = portico();
        cmd.arg("serve")
            .arg("--data")
            .arg(data)
            .env("PORTICO_C2S_STARTTLS_ADDR", starttls)
            .env("PORTICO_C2S_TLS_ADDR", tls)
            .env("PORTICO_HTTP_ADDR", http)
            .env("PORTICO_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn portico serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = loop {
            match lines.next() {
                Some(Ok(line)) if line.starts_with("portico hub ready") => break line,
                Some(Ok(_)) => continue,
                _ => panic!("the hub exited before it was ready: {:?}", child.wait()),
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let field = |name: &str| -> SocketAddr {
            ready
                .split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {ready:?}"))
        };
        Hub {
            starttls: field("c2s_starttls"),
            tls: field("c2s_tls"),
            http: field("http"),
            child,
            data: data.to_owned(),
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        wait_timeout(&mut self.child, Duration::from_secs(30))
    }

    /// SIGKILL, no goodbye.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The hub's self-signed certificate.
    pub fn cert(&self) -> PathBuf {
        self.data.join("tls-cert.pem")
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("the hub did not exit within {limit:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A rustls client configuration trusting only the hub's certificate.
pub fn client_config(cert: &Path) -> Arc<rustls::ClientConfig> {
    portico_hub::tls::client_config_trusting(cert).expect("trust the hub certificate")
}

/// TLS over an established TCP stream, for `localhost`.
pub async fn tls_over(tcp: TcpStream, cert: &Path) -> TlsStream<TcpStream> {
    let connector = TlsConnector::from(client_config(cert));
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    connector
        .connect(name, tcp)
        .await
        .expect("TLS handshake with the hub")
}

/// A TLS connection to `addr`.
pub async fn tls_connect(addr: SocketAddr, cert: &Path) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    tls_over(tcp, cert).await
}

/// `GET path` over HTTPS; returns (status, content-type, body).
pub async fn https_get(addr: SocketAddr, cert: &Path, path: &str) -> (u16, String, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    https_request(addr, cert, &request).await
}

/// `POST path` over HTTPS with a JSON body and an optional bearer token; returns (status,
/// content type, body).
pub async fn https_post_json(
    addr: SocketAddr,
    cert: &Path,
    path: &str,
    body: &str,
    bearer: Option<&str>,
) -> (u16, String, String) {
    let auth = bearer
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{auth}Connection: close\r\n\r\n{body}",
        body.len()
    );
    https_request(addr, cert, &request).await
}

/// Sends one whole HTTP/1.1 request (with `Connection: close`) over TLS and reads the answer:
/// (status, content type, body).
pub async fn https_request(addr: SocketAddr, cert: &Path, request: &str) -> (u16, String, String) {
    let mut tls = tls_connect(addr, cert).await;
    tls.write_all(request.as_bytes())
        .await
        .expect("send request");
    let mut raw = Vec::new();
    let _ = tls.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

pub mod provider;
pub mod xmpp;
#[path = "../../src/xmpp_client.rs"]
pub mod xmpp_client;
