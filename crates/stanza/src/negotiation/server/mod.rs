//! The receiving entity's (hub's) side of stream negotiation.
//!
//! ```text
//! header → features(starttls) → <starttls/> → <proceed/> → StartTls … tls_established()
//! header → features(mechanisms) → <auth/> → ScramCredentialsNeeded … scram_credentials()
//!        → <challenge/> → <response/> → <success/> → Authenticated (stream restarts)
//! header → features(bind, sm) → bind IQ → BindRequested … bind()  → Established
//!                             → <resume/> → ResumeRequested … resume() → Established
//! ```

mod auth;

use super::{Framing, NegotiationError, Prf, Transport};
use crate::element::Element;
use crate::jid::Jid;
use crate::ns;
use crate::parser::{Event, Limits, StreamHeader, StreamParser};
use crate::sasl::{
    Mechanism, PlainCredentials, ScramCredentials, ScramServerFinal, ScramServerStart,
};
use crate::stanza::{
    Bind, Iq, IqKind, Sasl, SaslCondition, Sm, StanzaCondition, StanzaError, StartTls, StreamError,
    StreamErrorCondition, StreamFeatures,
};
use compact_str::CompactString;
use rand_core::CryptoRng;
use std::collections::VecDeque;

/// What the server offers and enforces.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The domain served (streams must be addressed `to` it).
    pub domain: CompactString,
    /// How the transport is protected.
    pub transport: Transport,
    /// SASL mechanisms, in the order offered (PLAIN is offered only over TLS or `Insecure`).
    pub mechanisms: Vec<Mechanism>,
    /// Offer XEP-0198 stream management (and accept `<resume/>`).
    pub stream_management: bool,
    /// Parser limits.
    pub limits: Limits,
    /// PBKDF2 iterations of the stand-in credentials used for unknown users; set it to what
    /// real accounts use so that the two cannot be told apart.
    pub unknown_user_iterations: u32,
    /// Failed authentication attempts allowed before the stream is closed.
    pub max_auth_attempts: u32,
    /// TCP stream or WebSocket framing.
    pub framing: Framing,
}

impl ServerConfig {
    /// Defaults for `domain` over `transport`: SCRAM-SHA-256 then PLAIN, stream management on.
    pub fn new(domain: impl Into<CompactString>, transport: Transport) -> Self {
        ServerConfig {
            domain: domain.into(),
            transport,
            mechanisms: vec![Mechanism::ScramSha256, Mechanism::Plain],
            stream_management: true,
            limits: Limits::default(),
            unknown_user_iterations: 4096,
            max_auth_attempts: 3,
            framing: Framing::Stream,
        }
    }
}

/// The caller's answer to [`ServerEvent::ResumeRequested`] when the session can be resumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeAccepted {
    /// The full JID of the session being resumed.
    pub jid: Jid,
    /// Stanzas the server handled on the old stream (XEP-0198 `h`).
    pub h: u32,
}

/// What the server side asks its caller to do.
#[derive(Debug)]
pub enum ServerEvent {
    /// Write these bytes to the peer.
    Send(Vec<u8>),
    /// After writing every earlier `Send`, run the TLS server handshake on the transport,
    /// then call [`ServerNegotiator::tls_established`].
    StartTls,
    /// Look up the SCRAM credentials of `username`; call
    /// [`ServerNegotiator::scram_credentials`] (with `None` for an unknown user).
    ScramCredentialsNeeded {
        /// The username (localpart) the client authenticates as.
        username: String,
    },
    /// Check this PLAIN password (e.g. with [`ScramCredentials::verify_password`]); call
    /// [`ServerNegotiator::plain_verified`].
    PlainPasswordToCheck {
        /// What the client sent.
        credentials: PlainCredentials,
    },
    /// SASL succeeded; the stream restarts.
    Authenticated {
        /// The account's localpart.
        username: String,
        /// The mechanism used.
        mechanism: Mechanism,
    },
    /// The client asks to bind; call [`ServerNegotiator::bind`] with the resource to give it.
    BindRequested {
        /// The resource the client asked for, if any (Portico: a device id).
        requested: Option<CompactString>,
    },
    /// The client asks to resume a XEP-0198 session; call [`ServerNegotiator::resume`].
    ResumeRequested {
        /// The old session's id.
        previd: CompactString,
        /// Stanzas the client handled.
        h: u32,
    },
    /// Negotiation is complete.
    Established {
        /// The session's full JID.
        jid: Jid,
        /// `Some(h)` (the client's count) if an earlier session was resumed.
        resumed: Option<u32>,
    },
    /// A top-level element received after establishment.
    Stanza(Element),
    /// The stream is over: close the transport after writing earlier `Send`s.
    Closed {
        /// The stream error sent to the peer, if the server ended it for a fault.
        error: Option<StreamError>,
    },
}

#[derive(Debug)]
enum Phase {
    AwaitHeader,
    PreTls,
    AwaitTls,
    Auth,
    AwaitInitialResponse,
    ScramLookup(Box<ScramServerStart>),
    ScramChallenge(Box<ScramServerFinal>, String),
    PlainCheck(String),
    Bind,
    BindDecision(Box<Iq>),
    ResumeDecision(CompactString, u32),
    Established,
    /// Placeholder while an element is being handled.
    Busy,
    Closed,
}

/// The server side of one stream's negotiation.
#[derive(Debug)]
pub struct ServerNegotiator {
    config: ServerConfig,
    parser: StreamParser,
    phase: Phase,
    secure: bool,
    username: Option<String>,
    client_from: Option<CompactString>,
    auth_failures: u32,
    pending_mechanism: Option<Mechanism>,
    prf: Prf,
    events: VecDeque<ServerEvent>,
}

impl std::fmt::Debug for Prf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Prf(<redacted>)")
    }
}

impl ServerNegotiator {
    /// A negotiator waiting for the client's stream header.
    pub fn new<R: CryptoRng + ?Sized>(config: ServerConfig, rng: &mut R) -> Self {
        ServerNegotiator {
            parser: config.framing.parser(config.limits.clone()),
            secure: config.transport == Transport::Tls,
            config,
            phase: Phase::AwaitHeader,
            username: None,
            client_from: None,
            auth_failures: 0,
            pending_mechanism: None,
            prf: Prf::from_rng(rng),
            events: VecDeque::new(),
        }
    }

    /// Bytes received from the client.
    pub fn feed(&mut self, bytes: &[u8]) {
        if !matches!(self.phase, Phase::Closed | Phase::AwaitTls) {
            self.parser.feed(bytes);
            self.advance();
        }
    }

    /// The transport reached end of input.
    pub fn eof(&mut self) {
        if !matches!(self.phase, Phase::Closed) {
            self.phase = Phase::Closed;
            self.events.push_back(ServerEvent::Closed { error: None });
        }
    }

    /// The next thing to do, if any.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// True once negotiation completed (and the stream is not closed).
    pub fn is_established(&self) -> bool {
        matches!(self.phase, Phase::Established)
    }

    /// Gives up the parser after establishment, with any bytes it has buffered, for a
    /// session layer that reads stanzas itself.
    pub fn into_parser(self) -> StreamParser {
        self.parser
    }

    /// Closes the stream: sends `error` (if any) and `</stream:stream>` (or `<close/>`).
    pub fn close(&mut self, error: Option<StreamError>) {
        if matches!(self.phase, Phase::Closed) {
            return;
        }
        if let Some(e) = &error {
            let bytes = self.config.framing.element(&e.clone().into());
            self.events.push_back(ServerEvent::Send(bytes));
        }
        self.events
            .push_back(ServerEvent::Send(self.config.framing.end()));
        self.events.push_back(ServerEvent::Closed { error });
        self.phase = Phase::Closed;
    }

    /// The TLS handshake completed: expect a new stream header over TLS.
    pub fn tls_established(&mut self) -> Result<(), NegotiationError> {
        if !matches!(self.phase, Phase::AwaitTls) {
            return Err(NegotiationError::UnexpectedCall {
                call: "tls_established",
            });
        }
        self.parser.reset();
        self.secure = true;
        self.phase = Phase::AwaitHeader;
        Ok(())
    }

    /// Answers [`ServerEvent::ScramCredentialsNeeded`]; `None` for an unknown user (the
    /// exchange then fails exactly like a wrong password).
    pub fn scram_credentials(
        &mut self,
        credentials: Option<ScramCredentials>,
    ) -> Result<(), NegotiationError> {
        let Phase::ScramLookup(start) = std::mem::replace(&mut self.phase, Phase::Auth) else {
            return Err(NegotiationError::UnexpectedCall {
                call: "scram_credentials",
            });
        };
        let username = start.username().to_owned();
        let creds = credentials.unwrap_or_else(|| {
            ScramCredentials::unknown_user(&mut self.prf, self.config.unknown_user_iterations)
        });
        let (next, server_first) = start.respond(creds, &mut self.prf);
        self.send(Sasl::Challenge(server_first.into()));
        self.phase = Phase::ScramChallenge(Box::new(next), username);
        self.advance();
        Ok(())
    }

    /// Answers [`ServerEvent::PlainPasswordToCheck`].
    pub fn plain_verified(&mut self, valid: bool) -> Result<(), NegotiationError> {
        let Phase::PlainCheck(username) = std::mem::replace(&mut self.phase, Phase::Auth) else {
            return Err(NegotiationError::UnexpectedCall {
                call: "plain_verified",
            });
        };
        if valid {
            self.authenticated(username, Mechanism::Plain, None);
        } else {
            self.auth_failed(SaslCondition::NotAuthorized);
        }
        self.advance();
        Ok(())
    }

    /// Answers [`ServerEvent::BindRequested`]: the resource to bind, or why not.
    pub fn bind(
        &mut self,
        resource: Result<&str, StanzaCondition>,
    ) -> Result<(), NegotiationError> {
        let Phase::BindDecision(iq) = std::mem::replace(&mut self.phase, Phase::Bind) else {
            return Err(NegotiationError::UnexpectedCall { call: "bind" });
        };
        let username = self.username.clone().unwrap_or_default();
        let jid = resource.and_then(|r| {
            Jid::from_parts(Some(&username), &self.config.domain, Some(r))
                .map_err(|_| StanzaCondition::BadRequest)
        });
        match jid {
            Ok(jid) => {
                self.send(iq.result(Some(Bind::Result(jid.clone()).into())));
                self.phase = Phase::Established;
                self.events
                    .push_back(ServerEvent::Established { jid, resumed: None });
            }
            Err(condition) => self.send(iq.error(StanzaError::new(condition))),
        }
        self.advance();
        Ok(())
    }

    /// Answers [`ServerEvent::ResumeRequested`]: the session to resume, or `None` (the
    /// client is told `item-not-found` and may bind instead).
    pub fn resume(&mut self, accepted: Option<ResumeAccepted>) -> Result<(), NegotiationError> {
        let Phase::ResumeDecision(previd, client_h) =
            std::mem::replace(&mut self.phase, Phase::Bind)
        else {
            return Err(NegotiationError::UnexpectedCall { call: "resume" });
        };
        match accepted {
            Some(ResumeAccepted { jid, h }) => {
                self.send(Sm::Resumed { previd, h });
                self.phase = Phase::Established;
                self.events.push_back(ServerEvent::Established {
                    jid,
                    resumed: Some(client_h),
                });
            }
            None => {
                self.send(Sm::Failed {
                    h: None,
                    condition: Some(StanzaCondition::ItemNotFound),
                });
                self.phase = Phase::Bind;
            }
        }
        self.advance();
        Ok(())
    }

    fn send(&mut self, el: impl Into<Element>) {
        let bytes = self.config.framing.element(&el.into());
        self.events.push_back(ServerEvent::Send(bytes));
    }

    fn fail(&mut self, condition: StreamErrorCondition, text: &str) {
        self.close(Some(StreamError::new(condition, text)));
    }

    fn waiting(&self) -> bool {
        matches!(
            self.phase,
            Phase::AwaitTls
                | Phase::ScramLookup(_)
                | Phase::PlainCheck(_)
                | Phase::BindDecision(_)
                | Phase::ResumeDecision(..)
                | Phase::Closed
        )
    }

    fn advance(&mut self) {
        while !self.waiting() {
            match self.parser.next_event() {
                Ok(None) => return,
                Ok(Some(Event::StreamHeader(h))) => self.on_header(h),
                Ok(Some(Event::StreamEnd)) => self.close(None),
                Ok(Some(Event::Stanza(el))) => self.on_element(el),
                Err(e) => {
                    self.close(Some(e.to_stream_error()));
                }
            }
        }
    }

    fn on_header(&mut self, h: StreamHeader) {
        if !matches!(self.phase, Phase::AwaitHeader) {
            return self.fail(
                StreamErrorCondition::NotWellFormed,
                "unexpected stream header",
            );
        }
        let mut reply = StreamHeader {
            from: Some(self.config.domain.clone()),
            to: h.from.clone(),
            id: Some(self.prf.hex_id().into()),
            version: Some("1.0".into()),
            lang: Some("en".into()),
            default_ns: ns::JABBER_CLIENT.into(),
        };
        self.events
            .push_back(ServerEvent::Send(self.config.framing.header(&reply)));
        reply.to = None;
        if h.default_ns != ns::JABBER_CLIENT {
            return self.fail(
                StreamErrorCondition::InvalidNamespace,
                "the stream's default namespace must be jabber:client",
            );
        }
        if !h
            .to
            .as_deref()
            .is_some_and(|to| to.eq_ignore_ascii_case(&self.config.domain))
        {
            return self.fail(
                StreamErrorCondition::HostUnknown,
                "this server does not serve that domain",
            );
        }
        if h.version.as_deref() != Some("1.0") {
            return self.fail(
                StreamErrorCondition::UnsupportedVersion,
                "only XMPP 1.0 streams are supported",
            );
        }
        self.client_from = h.from;
        let mut features = StreamFeatures::default();
        if !self.secure && self.config.transport == Transport::StartTls {
            features.starttls = Some(true);
            self.phase = Phase::PreTls;
        } else if self.username.is_none() {
            let plain_ok = self.secure || self.config.transport == Transport::Insecure;
            features.mechanisms = self
                .config
                .mechanisms
                .iter()
                .filter(|m| **m != Mechanism::Plain || plain_ok)
                .map(|m| m.as_str().into())
                .collect();
            self.phase = Phase::Auth;
        } else {
            features.bind = true;
            features.sm = self.config.stream_management;
            self.phase = Phase::Bind;
        }
        self.send(features);
    }

    fn offered(&self, m: Mechanism) -> bool {
        self.config.mechanisms.contains(&m)
            && (m != Mechanism::Plain
                || self.secure
                || self.config.transport == Transport::Insecure)
    }

    fn on_element(&mut self, el: Element) {
        match std::mem::replace(&mut self.phase, Phase::Busy) {
            Phase::AwaitHeader => self.fail(
                StreamErrorCondition::NotWellFormed,
                "expected a stream header",
            ),
            Phase::PreTls => {
                if StartTls::try_from(el) == Ok(StartTls::Request) {
                    self.send(StartTls::Proceed);
                    self.events.push_back(ServerEvent::StartTls);
                    self.phase = Phase::AwaitTls;
                } else {
                    self.fail(
                        StreamErrorCondition::PolicyViolation,
                        "STARTTLS is required before anything else",
                    );
                }
            }
            Phase::Auth | Phase::AwaitInitialResponse if el.ns() == ns::SASL => {
                self.on_sasl(el, None)
            }
            Phase::ScramChallenge(fin, username) if el.ns() == ns::SASL => {
                self.on_sasl(el, Some((fin, username)))
            }
            Phase::Auth | Phase::AwaitInitialResponse | Phase::ScramChallenge(..) => self.fail(
                StreamErrorCondition::NotAuthorized,
                "authenticate before sending anything else",
            ),
            Phase::Bind => self.on_pre_bind(el),
            Phase::Established => {
                self.phase = Phase::Established;
                self.events.push_back(ServerEvent::Stanza(el));
            }
            // Not reached: `advance` reads nothing while waiting.
            other => self.phase = other,
        }
    }

    fn on_pre_bind(&mut self, el: Element) {
        self.phase = Phase::Bind;
        if el.ns() == ns::SM {
            match Sm::try_from(el) {
                Ok(Sm::Resume { previd, h }) if self.config.stream_management => {
                    self.events.push_back(ServerEvent::ResumeRequested {
                        previd: previd.clone(),
                        h,
                    });
                    self.phase = Phase::ResumeDecision(previd, h);
                }
                _ => self.send(Sm::Failed {
                    h: None,
                    condition: Some(StanzaCondition::UnexpectedRequest),
                }),
            }
            return;
        }
        if !el.is("iq", ns::JABBER_CLIENT) {
            return self.fail(
                StreamErrorCondition::NotAuthorized,
                "bind a resource before sending stanzas",
            );
        }
        let Ok(iq) = Iq::try_from(el) else {
            return self.fail(StreamErrorCondition::BadFormat, "malformed IQ");
        };
        match &iq.kind {
            IqKind::Set(p) if p.is("bind", ns::BIND) => match Bind::try_from(p.clone()) {
                Ok(Bind::Request(requested)) => {
                    self.events
                        .push_back(ServerEvent::BindRequested { requested });
                    self.phase = Phase::BindDecision(Box::new(iq));
                }
                _ => self.send(iq.error(StanzaError::new(StanzaCondition::BadRequest))),
            },
            IqKind::Get(_) | IqKind::Set(_) => self.send(iq.error(
                StanzaError::new(StanzaCondition::NotAllowed).with_text("bind a resource first"),
            )),
            _ => {}
        }
    }
}
