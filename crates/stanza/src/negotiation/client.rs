//! The initiating entity's (client's) side of stream negotiation: the mirror of `server`.

use super::{Framing, NegotiationError, Prf, Transport};
use crate::element::Element;
use crate::jid::Jid;
use crate::ns;
use crate::parser::{Event, Limits, ParseError, StreamHeader, StreamParser};
use crate::sasl::{Mechanism, SaslError, ScramClient, ScramClientFinal, plain_message};
use crate::stanza::{
    Bind, Iq, IqKind, Sasl, SaslCondition, Sm, StanzaError, StartTls, StreamError, StreamFeatures,
};
use compact_str::CompactString;
use rand_core::CryptoRng;
use std::collections::VecDeque;
use zeroize::Zeroizing;

/// Who to log in as, and how.
#[derive(Clone)]
pub struct ClientConfig {
    /// The account (bare JID), or a full JID to ask for that resource.
    pub jid: Jid,
    /// The password.
    pub password: Zeroizing<Vec<u8>>,
    /// How the transport is protected.
    pub transport: Transport,
    /// Acceptable mechanisms in preference order (PLAIN is used only over TLS or `Insecure`).
    pub mechanisms: Vec<Mechanism>,
    /// The SASL user name when it is not the JID's localpart (third-party devices log in with
    /// their whole internal bare JID while the stream goes to the hub's domain).
    pub authcid: Option<String>,
    /// Enable XEP-0198 stream management (with resumption) after binding, if offered.
    pub stream_management: bool,
    /// Resume this earlier session (previd, h) instead of binding, if offered.
    pub resume: Option<(CompactString, u32)>,
    /// Parser limits.
    pub limits: Limits,
    /// TCP stream or WebSocket framing.
    pub framing: Framing,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("jid", &self.jid)
            .field("transport", &self.transport)
            .field("mechanisms", &self.mechanisms)
            .finish_non_exhaustive()
    }
}

impl ClientConfig {
    /// Defaults: SCRAM-SHA-256 preferred, PLAIN allowed over TLS, stream management on.
    pub fn new(jid: Jid, password: &[u8], transport: Transport) -> Self {
        ClientConfig {
            jid,
            password: Zeroizing::new(password.to_vec()),
            transport,
            mechanisms: vec![Mechanism::ScramSha256, Mechanism::Plain],
            authcid: None,
            stream_management: true,
            resume: None,
            limits: Limits::default(),
            framing: Framing::Stream,
        }
    }
}

/// Stream management state after `<enabled/>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmSession {
    /// The resumption id, if resumption is allowed.
    pub id: Option<CompactString>,
    /// Resumption allowed.
    pub resume: bool,
    /// Maximum resumption time, seconds.
    pub max: Option<u32>,
}

/// Why the client gave up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientFailure {
    /// The server sent a stream error.
    #[error("the server closed the stream: {}", .0.condition)]
    StreamError(StreamError),
    /// The server's XML broke a rule or a limit.
    #[error("the server's stream is invalid: {0}")]
    Parse(ParseError),
    /// TLS is required but the server does not offer STARTTLS.
    #[error("the server does not offer STARTTLS, and this client requires TLS")]
    TlsUnavailable,
    /// The server refused STARTTLS.
    #[error("the server refused STARTTLS")]
    TlsRefused,
    /// No acceptable SASL mechanism is offered.
    #[error("the server offers no SASL mechanism this client accepts")]
    NoMechanism,
    /// The JID has no localpart to log in with.
    #[error("the JID has no localpart (username)")]
    NoUsername,
    /// The server refused the credentials.
    #[error("authentication failed: {0}")]
    AuthFailed(SaslCondition),
    /// The SASL exchange itself failed (e.g. the server could not prove it knows the password).
    #[error("SASL failed: {0}")]
    Sasl(SaslError),
    /// Resource binding was refused.
    #[error("resource binding failed: {}", .0.condition)]
    BindFailed(StanzaError),
    /// The server sent something out of order.
    #[error("unexpected element from the server: {0}")]
    Unexpected(&'static str),
    /// The server closed the stream during negotiation.
    #[error("the server closed the stream during negotiation")]
    ClosedByServer,
}

/// What the client side asks its caller to do.
#[derive(Debug)]
pub enum ClientEvent {
    /// Write these bytes to the server.
    Send(Vec<u8>),
    /// Run the TLS client handshake, then call [`ClientNegotiator::tls_established`].
    StartTls,
    /// SASL succeeded; the stream restarts.
    Authenticated,
    /// Negotiation is complete.
    Established {
        /// The bound (or resumed) full JID.
        jid: Jid,
        /// Stream management state, if enabled.
        sm: Option<SmSession>,
        /// `Some(h)` (the server's count) if an earlier session was resumed.
        resumed: Option<u32>,
    },
    /// A top-level element received after establishment.
    Stanza(Element),
    /// The stream is over: close the transport after writing earlier `Send`s.
    Closed {
        /// Why, if negotiation failed.
        error: Option<ClientFailure>,
    },
}

#[derive(Debug)]
enum Phase {
    AwaitHeader,
    AwaitFeatures,
    AwaitProceed,
    AwaitTls,
    AwaitChallenge(ScramClient),
    AwaitSuccess(Option<ScramClientFinal>),
    AwaitResumed(bool),
    AwaitBind(bool),
    AwaitEnabled(Jid),
    Established,
    /// Placeholder while an element is being handled.
    Busy,
    Closed,
}

/// The client side of one stream's negotiation.
#[derive(Debug)]
pub struct ClientNegotiator {
    config: ClientConfig,
    parser: StreamParser,
    phase: Phase,
    secure: bool,
    authenticated: bool,
    prf: Prf,
    events: VecDeque<ClientEvent>,
    early: Vec<Element>,
}

impl ClientNegotiator {
    /// Starts negotiating: the first event sends the stream header.
    pub fn new<R: CryptoRng + ?Sized>(config: ClientConfig, rng: &mut R) -> Self {
        let mut c = ClientNegotiator {
            parser: config.framing.parser(config.limits.clone()),
            secure: config.transport == Transport::Tls,
            config,
            phase: Phase::AwaitHeader,
            authenticated: false,
            prf: Prf::from_rng(rng),
            events: VecDeque::new(),
            early: Vec::new(),
        };
        c.send_header();
        c
    }

    /// Bytes received from the server.
    pub fn feed(&mut self, bytes: &[u8]) {
        if !matches!(self.phase, Phase::Closed | Phase::AwaitTls) {
            self.parser.feed(bytes);
            self.advance();
        }
    }

    /// The next thing to do, if any.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// The transport reached end of input.
    pub fn eof(&mut self) {
        if !matches!(self.phase, Phase::Closed) {
            let error = (!matches!(self.phase, Phase::Established))
                .then_some(ClientFailure::ClosedByServer);
            self.phase = Phase::Closed;
            self.events.push_back(ClientEvent::Closed { error });
        }
    }

    /// Gives up the parser after establishment, with any bytes it has buffered.
    pub fn into_parser(self) -> StreamParser {
        self.parser
    }

    /// Closes the stream with `</stream:stream>`.
    pub fn close(&mut self) {
        if !matches!(self.phase, Phase::Closed) {
            self.events
                .push_back(ClientEvent::Send(self.config.framing.end()));
            self.events.push_back(ClientEvent::Closed { error: None });
            self.phase = Phase::Closed;
        }
    }

    /// The TLS handshake completed: restart the stream over TLS.
    pub fn tls_established(&mut self) -> Result<(), NegotiationError> {
        if !matches!(self.phase, Phase::AwaitTls) {
            return Err(NegotiationError::UnexpectedCall {
                call: "tls_established",
            });
        }
        self.parser.reset();
        self.secure = true;
        self.phase = Phase::AwaitHeader;
        self.send_header();
        Ok(())
    }

    fn send_header(&mut self) {
        let h = StreamHeader {
            to: Some(self.config.jid.domain().into()),
            from: self
                .secure
                .then(|| self.config.jid.to_bare().to_string().into()),
            id: None,
            version: Some("1.0".into()),
            lang: Some("en".into()),
            default_ns: ns::JABBER_CLIENT.into(),
        };
        self.events
            .push_back(ClientEvent::Send(self.config.framing.header(&h)));
    }

    fn send(&mut self, el: impl Into<Element>) {
        let bytes = self.config.framing.element(&el.into());
        self.events.push_back(ClientEvent::Send(bytes));
    }

    fn fail(&mut self, error: ClientFailure) {
        if !matches!(self.phase, Phase::Closed) {
            self.events
                .push_back(ClientEvent::Send(self.config.framing.end()));
            self.events
                .push_back(ClientEvent::Closed { error: Some(error) });
            self.phase = Phase::Closed;
        }
    }

    fn advance(&mut self) {
        while !matches!(self.phase, Phase::Closed | Phase::AwaitTls) {
            match self.parser.next_event() {
                Ok(None) => return,
                Ok(Some(Event::StreamHeader(_))) if matches!(self.phase, Phase::AwaitHeader) => {
                    self.phase = Phase::AwaitFeatures;
                }
                Ok(Some(Event::StreamHeader(_))) => {
                    self.fail(ClientFailure::Unexpected("stream header"))
                }
                Ok(Some(Event::StreamEnd)) => {
                    let error = (!matches!(self.phase, Phase::Established))
                        .then_some(ClientFailure::ClosedByServer);
                    self.events
                        .push_back(ClientEvent::Send(self.config.framing.end()));
                    self.events.push_back(ClientEvent::Closed { error });
                    self.phase = Phase::Closed;
                }
                Ok(Some(Event::Stanza(el))) => self.on_element(el),
                Err(e) => {
                    let err = e.to_stream_error();
                    let bytes = self.config.framing.element(&err.into());
                    self.events.push_back(ClientEvent::Send(bytes));
                    self.events
                        .push_back(ClientEvent::Send(self.config.framing.end()));
                    self.events.push_back(ClientEvent::Closed {
                        error: Some(ClientFailure::Parse(e)),
                    });
                    self.phase = Phase::Closed;
                }
            }
        }
    }

    fn on_element(&mut self, el: Element) {
        if el.is("error", ns::STREAM) {
            let err = StreamError::try_from(el).unwrap_or_else(|_| {
                StreamError::new(crate::stanza::StreamErrorCondition::UndefinedCondition, "")
            });
            return self.fail(ClientFailure::StreamError(err));
        }
        match std::mem::replace(&mut self.phase, Phase::Busy) {
            Phase::AwaitFeatures => match StreamFeatures::try_from(el) {
                Ok(f) => self.on_features(f),
                Err(_) => self.fail(ClientFailure::Unexpected("expected stream features")),
            },
            Phase::AwaitProceed => match StartTls::try_from(el) {
                Ok(StartTls::Proceed) => {
                    self.phase = Phase::AwaitTls;
                    self.events.push_back(ClientEvent::StartTls);
                }
                _ => self.fail(ClientFailure::TlsRefused),
            },
            Phase::AwaitChallenge(scram) => match Sasl::try_from(el) {
                Ok(Sasl::Challenge(server_first)) => match scram.handle_server_first(&server_first)
                {
                    Ok((fin, client_final)) => {
                        self.send(Sasl::Response(client_final.into()));
                        self.phase = Phase::AwaitSuccess(Some(fin));
                    }
                    Err(e) => {
                        self.send(Sasl::Abort);
                        self.fail(ClientFailure::Sasl(e));
                    }
                },
                Ok(Sasl::Failure { condition, .. }) => {
                    self.fail(ClientFailure::AuthFailed(condition))
                }
                _ => self.fail(ClientFailure::Unexpected("expected a SASL challenge")),
            },
            Phase::AwaitSuccess(fin) => match Sasl::try_from(el) {
                Ok(Sasl::Success(data)) => {
                    if let Some(fin) = fin {
                        let data = data.map(|d| d.to_vec()).unwrap_or_default();
                        if let Err(e) = fin.verify(&data) {
                            return self.fail(ClientFailure::Sasl(e));
                        }
                    }
                    self.authenticated = true;
                    self.events.push_back(ClientEvent::Authenticated);
                    self.parser.restart();
                    self.phase = Phase::AwaitHeader;
                    self.send_header();
                }
                // Some servers send server-final as a last challenge (RFC 6120 §6.3.10
                // allows either); verify it and answer with an empty response.
                Ok(Sasl::Challenge(data)) if fin.is_some() => {
                    if let Some(Err(e)) = fin.map(|f| f.verify(&data)) {
                        return self.fail(ClientFailure::Sasl(e));
                    }
                    self.send(Sasl::Response(Vec::new().into()));
                    self.phase = Phase::AwaitSuccess(None);
                }
                Ok(Sasl::Failure { condition, .. }) => {
                    self.fail(ClientFailure::AuthFailed(condition))
                }
                _ => self.fail(ClientFailure::Unexpected("expected SASL success")),
            },
            Phase::AwaitResumed(sm_offered) => match Sm::try_from(el) {
                Ok(Sm::Resumed { h, .. }) => {
                    self.phase = Phase::Established;
                    let sm = self.config.resume.as_ref().map(|(id, _)| SmSession {
                        id: Some(id.clone()),
                        resume: true,
                        max: None,
                    });
                    self.events.push_back(ClientEvent::Established {
                        jid: self.config.jid.clone(),
                        sm,
                        resumed: Some(h),
                    });
                }
                Ok(Sm::Failed { .. }) => self.request_bind(sm_offered),
                _ => self.fail(ClientFailure::Unexpected(
                    "expected <resumed/> or <failed/>",
                )),
            },
            Phase::AwaitBind(sm_offered) => self.on_bind_reply(el, sm_offered),
            Phase::AwaitEnabled(jid) => {
                if el.ns() != ns::SM {
                    // A stanza before <enabled/>: deliver it after establishment.
                    self.early.push(el);
                    self.phase = Phase::AwaitEnabled(jid);
                    return;
                }
                let sm = match Sm::try_from(el) {
                    Ok(Sm::Enabled {
                        id, resume, max, ..
                    }) => Some(SmSession { id, resume, max }),
                    _ => None,
                };
                self.established(jid, sm);
            }
            Phase::Established => {
                self.phase = Phase::Established;
                self.events.push_back(ClientEvent::Stanza(el));
            }
            Phase::AwaitHeader | Phase::AwaitTls | Phase::Busy | Phase::Closed => self.fail(
                ClientFailure::Unexpected("element before the stream header"),
            ),
        }
    }

    fn established(&mut self, jid: Jid, sm: Option<SmSession>) {
        self.phase = Phase::Established;
        self.events.push_back(ClientEvent::Established {
            jid,
            sm,
            resumed: None,
        });
        for el in std::mem::take(&mut self.early) {
            self.events.push_back(ClientEvent::Stanza(el));
        }
    }

    fn on_features(&mut self, f: StreamFeatures) {
        if !self.secure && self.config.transport != Transport::Insecure {
            if f.starttls.is_none() {
                return self.fail(ClientFailure::TlsUnavailable);
            }
            self.send(StartTls::Request);
            self.phase = Phase::AwaitProceed;
            return;
        }
        if !self.authenticated {
            return self.start_auth(&f);
        }
        if let Some((previd, h)) = self.config.resume.clone() {
            if f.sm {
                self.send(Sm::Resume { previd, h });
                self.phase = Phase::AwaitResumed(f.sm);
                return;
            }
        }
        if !f.bind {
            return self.fail(ClientFailure::Unexpected(
                "the server offers no resource binding",
            ));
        }
        self.request_bind(f.sm);
    }

    fn start_auth(&mut self, f: &StreamFeatures) {
        let node = self.config.jid.node().map(str::to_owned);
        let Some(username) = self.config.authcid.clone().or(node) else {
            return self.fail(ClientFailure::NoUsername);
        };
        let plain_ok = self.secure || self.config.transport == Transport::Insecure;
        let chosen = self.config.mechanisms.iter().copied().find(|m| {
            f.mechanisms.iter().any(|o| o == m.as_str()) && (*m != Mechanism::Plain || plain_ok)
        });
        match chosen {
            Some(Mechanism::ScramSha256) => {
                let (scram, first) =
                    ScramClient::new(&username, &self.config.password, &mut self.prf);
                self.send(Sasl::Auth {
                    mechanism: "SCRAM-SHA-256".into(),
                    initial: Some(first.into()),
                });
                self.phase = Phase::AwaitChallenge(scram);
            }
            Some(Mechanism::Plain) => {
                let msg = plain_message(None, &username, &self.config.password);
                self.send(Sasl::Auth {
                    mechanism: "PLAIN".into(),
                    initial: Some(msg),
                });
                self.phase = Phase::AwaitSuccess(None);
            }
            None => self.fail(ClientFailure::NoMechanism),
        }
    }

    fn request_bind(&mut self, sm_offered: bool) {
        let resource = self.config.jid.resource().map(CompactString::from);
        self.send(Iq::set("bind-1", Bind::Request(resource).into()));
        self.phase = Phase::AwaitBind(sm_offered);
    }

    fn on_bind_reply(&mut self, el: Element, sm_offered: bool) {
        let iq = match Iq::try_from(el) {
            Ok(iq) if iq.id == "bind-1" => iq,
            _ => return self.fail(ClientFailure::Unexpected("expected the bind result")),
        };
        match iq.kind {
            IqKind::Result(Some(p)) => match Bind::try_from(p) {
                Ok(Bind::Result(jid)) => {
                    if sm_offered && self.config.stream_management {
                        self.send(Sm::Enable {
                            resume: true,
                            max: None,
                        });
                        self.phase = Phase::AwaitEnabled(jid);
                    } else {
                        self.established(jid, None);
                    }
                }
                _ => self.fail(ClientFailure::Unexpected("bind result without a JID")),
            },
            IqKind::Error { error, .. } => self.fail(ClientFailure::BindFailed(error)),
            _ => self.fail(ClientFailure::Unexpected("expected the bind result")),
        }
    }
}
