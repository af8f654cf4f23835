//! Stream negotiation state machines (RFC 6120 §4–§7, XEP-0198), sans-IO, for both roles.
//!
//! Feed received bytes with `feed`, then drain events with `poll_event` until `None`. Events
//! tell the caller to write bytes, to run the TLS handshake, or to make a decision the
//! machine cannot make itself (credential lookup, PLAIN password check, which resource to
//! bind, whether a session can be resumed); the machine waits until the matching method is
//! called, keeping later input buffered. After `Established`, every top-level element comes
//! out as a `Stanza` event (including XEP-0198 `<enable/>`, `<r/>`, `<a/>`, which the session
//! layer answers). Randomness (stream ids, SCRAM nonces) comes from a seed drawn from the
//! caller's RNG at construction.
//!
//! Stream restarts: after STARTTLS the parser drops everything buffered (bytes sent in
//! plaintext before the handshake must not be processed); after SASL success it keeps
//! bytes already received, since the peer may pipeline the new stream header.

pub mod client;
pub mod server;

use hmac::{Hmac, KeyInit, Mac};
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use zeroize::Zeroizing;

pub use client::{ClientConfig, ClientEvent, ClientFailure, ClientNegotiator, SmSession};
pub use server::{ResumeAccepted, ServerConfig, ServerEvent, ServerNegotiator};

/// How the transport under the stream is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Already TLS (direct TLS, port 5223, or WebSocket over HTTPS).
    Tls,
    /// Plaintext TCP that must be upgraded with STARTTLS before authentication (port 5222).
    StartTls,
    /// Plaintext without TLS: development on loopback only (`--insecure`). PLAIN is allowed.
    Insecure,
}

/// How stream units are framed on the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// One `<stream:stream>` document over TCP (RFC 6120).
    #[default]
    Stream,
    /// One complete element per WebSocket message, `<open/>` and `<close/>` (RFC 7395).
    /// Each `Send` event is then exactly one WebSocket text message.
    WebSocket,
}

impl Framing {
    pub(crate) fn parser(self, limits: crate::parser::Limits) -> crate::parser::StreamParser {
        match self {
            Framing::Stream => crate::parser::StreamParser::new(limits),
            Framing::WebSocket => crate::parser::StreamParser::new_framed(limits),
        }
    }

    pub(crate) fn header(self, h: &crate::parser::StreamHeader) -> Vec<u8> {
        match self {
            Framing::Stream => h.to_bytes(),
            Framing::WebSocket => h.to_open_bytes(),
        }
    }

    pub(crate) fn end(self) -> Vec<u8> {
        match self {
            Framing::Stream => crate::parser::STREAM_END.to_vec(),
            Framing::WebSocket => crate::parser::FRAMED_CLOSE.to_vec(),
        }
    }

    pub(crate) fn element(self, el: &crate::Element) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        match self {
            Framing::Stream => el.write_to(&mut out),
            Framing::WebSocket => el.write_in("", &mut out),
        }
        out
    }
}

/// A decision method was called while the machine was not waiting for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NegotiationError {
    /// The machine is not waiting for this call.
    #[error(
        "{call} called while the negotiation is not waiting for it; answer only the event that asked"
    )]
    UnexpectedCall {
        /// The method called.
        call: &'static str,
    },
}

/// A deterministic generator keyed by a random seed: HMAC-SHA256(seed, counter) blocks.
pub(crate) struct Prf {
    key: Zeroizing<[u8; 32]>,
    counter: u64,
}

impl Prf {
    pub(crate) fn from_rng<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(key.as_mut());
        Prf { key, counter: 0 }
    }

    /// A 32-character hex identifier (stream ids, SM ids).
    pub(crate) fn hex_id(&mut self) -> String {
        let mut b = [0u8; 16];
        self.fill_bytes(&mut b);
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}

impl RngCore for Prf {
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
        for chunk in dst.chunks_mut(32) {
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.key.as_ref())
                .expect("HMAC accepts any key length");
            mac.update(&self.counter.to_be_bytes());
            self.counter += 1;
            let block: [u8; 32] = mac.finalize().into_bytes().into();
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
    }
}

impl CryptoRng for Prf {}
