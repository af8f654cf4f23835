//! Driver of the Node libsignal peer (`conformance/peer.mjs`): spawns `node peer.mjs` and
//! speaks its JSON-lines protocol (see `conformance/README.md`). Only bytes cross.
//!
//! A missing `node` or a missing `npm ci` is a test failure with a message saying to run
//! `bash scripts/test`, never a silent skip.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

use super::{b64, num, unb64};

/// The libsignal version the peer must run.
pub const LIBSIGNAL_VERSION: &str = "0.72.1";

const HOW_TO_FIX: &str = "run `bash scripts/test` from the repository root (it runs `npm ci` in \
     crates/signal/conformance), or `npm ci` there by hand; the conformance tests need Node.js \
     20+ and @signalapp/libsignal-client";

/// An error libsignal reported for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerError {
    /// libsignal's message.
    pub message: String,
    /// libsignal's error code, when it gave one.
    pub code: Option<i64>,
}

/// A running libsignal peer: one Signal party.
pub struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
}

fn conformance_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance")
}

/// Panics with instructions unless node and the pinned package are installed.
fn check_installed() -> String {
    let node = std::env::var("PORTICO_NODE").unwrap_or_else(|_| "node".to_owned());
    match Command::new(&node).arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "`{node} --version` failed ({}): {HOW_TO_FIX}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("cannot run `{node}` ({e}): Node.js is missing; {HOW_TO_FIX}"),
    }
    let package = conformance_dir().join("node_modules/@signalapp/libsignal-client/package.json");
    let text = std::fs::read_to_string(&package).unwrap_or_else(|e| {
        panic!(
            "libsignal is not installed ({} : {e}): {HOW_TO_FIX}",
            package.display()
        )
    });
    let meta: Value = serde_json::from_str(&text).expect("npm writes valid package.json");
    assert_eq!(
        meta["version"].as_str(),
        Some(LIBSIGNAL_VERSION),
        "installed @signalapp/libsignal-client is not the pinned {LIBSIGNAL_VERSION}: {HOW_TO_FIX}"
    );
    node
}

impl Peer {
    /// Starts a peer and makes it the party `name`.`device_id` with `registration_id`.
    /// Returns the peer and its identity key (33 bytes).
    pub fn start(name: &str, device_id: u32, registration_id: u32) -> (Self, Vec<u8>) {
        let node = check_installed();
        let mut child = Command::new(node)
            .arg("peer.mjs")
            .current_dir(conformance_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the libsignal peer: {e}; {HOW_TO_FIX}"));
        let stdin = child.stdin.take().expect("stdin was piped");
        let stdout = BufReader::new(child.stdout.take().expect("stdout was piped"));
        let mut peer = Self {
            child,
            stdin,
            stdout,
            next_id: 0,
        };
        let version = peer.ok("version", json!({}));
        assert_eq!(version["libsignal"], LIBSIGNAL_VERSION);
        let init = peer.ok(
            "init",
            json!({"name": name, "deviceId": device_id, "registrationId": registration_id}),
        );
        let identity = unb64(&init, "identityKey");
        (peer, identity)
    }

    /// Sends one request and reads its response.
    pub fn call(&mut self, cmd: &str, mut args: Value) -> Result<Value, PeerError> {
        let id = self.next_id;
        self.next_id += 1;
        args["id"] = json!(id);
        args["cmd"] = json!(cmd);
        let mut line = args.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .and_then(|()| self.stdin.flush())
            .unwrap_or_else(|e| panic!("libsignal peer is gone (write {cmd}: {e})"));
        let mut response = String::new();
        let n = self
            .stdout
            .read_line(&mut response)
            .unwrap_or_else(|e| panic!("libsignal peer is gone (read {cmd}: {e})"));
        assert!(
            n > 0,
            "libsignal peer exited during {cmd}; see its stderr above"
        );
        let response: Value = serde_json::from_str(&response)
            .unwrap_or_else(|e| panic!("libsignal peer answered non-JSON to {cmd}: {e}"));
        assert_eq!(response["id"], json!(id), "peer answered out of order");
        if response["ok"] == json!(true) {
            Ok(response)
        } else {
            Err(PeerError {
                message: response["error"].as_str().unwrap_or_default().to_owned(),
                code: response["code"].as_i64(),
            })
        }
    }

    /// Like [`Peer::call`], panicking on a libsignal error.
    pub fn ok(&mut self, cmd: &str, args: Value) -> Value {
        self.call(cmd, args)
            .unwrap_or_else(|e| panic!("libsignal {cmd} failed: {e:?}"))
    }

    /// A fresh prekey bundle of the peer (JSON with base64 byte fields, as the peer sends it).
    pub fn bundle(
        &mut self,
        pre_key_id: Option<u32>,
        signed_pre_key_id: u32,
        kyber_pre_key_id: u32,
    ) -> Value {
        self.ok(
            "bundle",
            json!({"preKeyId": pre_key_id, "signedPreKeyId": signed_pre_key_id, "kyberPreKeyId": kyber_pre_key_id}),
        )
    }

    /// Makes libsignal start a session with `name`.`device` from a bundle.
    pub fn process_bundle(
        &mut self,
        name: &str,
        device: u32,
        bundle: Value,
    ) -> Result<(), PeerError> {
        self.call(
            "processBundle",
            json!({"name": name, "deviceId": device, "bundle": bundle}),
        )
        .map(|_| ())
    }

    /// Encrypts to `name`.`device`: (message type, serialized message).
    pub fn encrypt(&mut self, name: &str, device: u32, plaintext: &[u8]) -> (u8, Vec<u8>) {
        let r = self.ok(
            "encrypt",
            json!({"name": name, "deviceId": device, "plaintext": b64(plaintext)}),
        );
        let kind = u8::try_from(num(&r, "type")).expect("message types are small");
        (kind, unb64(&r, "body"))
    }

    /// Decrypts a message of `kind` (3 prekey, 2 whisper) from `name`.`device`.
    pub fn decrypt(
        &mut self,
        name: &str,
        device: u32,
        kind: u8,
        body: &[u8],
    ) -> Result<Vec<u8>, PeerError> {
        self.call(
            "decrypt",
            json!({"name": name, "deviceId": device, "type": kind, "body": b64(body)}),
        )
        .map(|r| unb64(&r, "plaintext"))
    }

    /// The peer's SenderKeyDistributionMessage for `distribution_id`.
    pub fn sender_key_create(&mut self, distribution_id: &str) -> Vec<u8> {
        let r = self.ok(
            "senderKeyCreate",
            json!({"distributionId": distribution_id}),
        );
        unb64(&r, "message")
    }

    /// Processes `name`.`device`'s SenderKeyDistributionMessage.
    pub fn sender_key_process(
        &mut self,
        name: &str,
        device: u32,
        message: &[u8],
    ) -> Result<(), PeerError> {
        self.call(
            "senderKeyProcess",
            json!({"name": name, "deviceId": device, "message": b64(message)}),
        )
        .map(|_| ())
    }

    /// Encrypts a group message on the peer's chain.
    pub fn group_encrypt(&mut self, distribution_id: &str, plaintext: &[u8]) -> Vec<u8> {
        let r = self.ok(
            "groupEncrypt",
            json!({"distributionId": distribution_id, "plaintext": b64(plaintext)}),
        );
        unb64(&r, "body")
    }

    /// Decrypts `name`.`device`'s group message.
    pub fn group_decrypt(
        &mut self,
        name: &str,
        device: u32,
        body: &[u8],
    ) -> Result<Vec<u8>, PeerError> {
        self.call(
            "groupDecrypt",
            json!({"name": name, "deviceId": device, "body": b64(body)}),
        )
        .map(|r| unb64(&r, "plaintext"))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.stdin.write_all(b"{\"cmd\":\"quit\"}\n");
        let _ = self.stdin.flush();
        // The peer exits on quit; if it is stuck, do not hang the test run on it.
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
