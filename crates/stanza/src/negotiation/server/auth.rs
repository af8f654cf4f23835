//! The SASL part of the server negotiation: mechanism selection, SCRAM and PLAIN steps,
//! authzid policy, failures and the attempt limit.

use super::{Phase, ServerEvent, ServerNegotiator};
use crate::element::Element;
use crate::jid::Jid;
use crate::sasl::{Mechanism, ScramServerFinal, ScramServerStart, parse_plain};
use crate::stanza::{Sasl, SaslCondition, StreamErrorCondition};

impl ServerNegotiator {
    pub(super) fn on_sasl(&mut self, el: Element, scram: Option<(Box<ScramServerFinal>, String)>) {
        self.phase = Phase::Auth;
        let sasl = match Sasl::try_from(el) {
            Ok(s) => s,
            Err(_) => return self.auth_failed(SaslCondition::MalformedRequest),
        };
        match (sasl, scram) {
            (Sasl::Abort, _) => self.auth_failed(SaslCondition::Aborted),
            (Sasl::Response(data), Some((fin, username))) => match fin.finish(&data) {
                Ok(server_final) => {
                    self.authenticated(username, Mechanism::ScramSha256, Some(server_final))
                }
                Err(e) => self.auth_failed(e.condition()),
            },
            (Sasl::Auth { mechanism, initial }, None) => match Mechanism::from_name(&mechanism) {
                Some(m) if self.offered(m) => match initial {
                    None => {
                        // RFC 6120 §6.4.2: no initial response, so send an empty challenge.
                        self.send(Sasl::Challenge(Vec::new().into()));
                        self.phase = Phase::AwaitInitialResponse;
                        self.pending_mechanism = Some(m);
                    }
                    Some(data) => self.start_mechanism(m, &data),
                },
                _ => self.auth_failed(SaslCondition::InvalidMechanism),
            },
            (Sasl::Response(data), None) if self.pending_mechanism.is_some() => {
                let m = self
                    .pending_mechanism
                    .take()
                    .unwrap_or(Mechanism::ScramSha256);
                self.start_mechanism(m, &data)
            }
            _ => self.auth_failed(SaslCondition::MalformedRequest),
        }
    }

    pub(super) fn start_mechanism(&mut self, m: Mechanism, data: &[u8]) {
        let valid_user = |u: &str| Jid::from_parts(Some(u), "x", None).is_ok();
        match m {
            Mechanism::ScramSha256 => match ScramServerStart::parse(data) {
                Err(e) => self.auth_failed(e.condition()),
                Ok(start)
                    if start
                        .authzid()
                        .is_some_and(|a| !self.same_user(a, start.username())) =>
                {
                    self.auth_failed(SaslCondition::InvalidAuthzid)
                }
                Ok(start) if !valid_user(start.username()) => {
                    self.auth_failed(SaslCondition::NotAuthorized)
                }
                Ok(start) => {
                    self.events.push_back(ServerEvent::ScramCredentialsNeeded {
                        username: start.username().to_owned(),
                    });
                    self.phase = Phase::ScramLookup(Box::new(start));
                }
            },
            Mechanism::Plain => match parse_plain(data) {
                Err(e) => self.auth_failed(e.condition()),
                Ok(c)
                    if c.authzid
                        .as_deref()
                        .is_some_and(|a| !self.same_user(a, &c.username)) =>
                {
                    self.auth_failed(SaslCondition::InvalidAuthzid)
                }
                Ok(c) if !valid_user(&c.username) => self.auth_failed(SaslCondition::NotAuthorized),
                Ok(credentials) => {
                    self.phase = Phase::PlainCheck(credentials.username.clone());
                    self.events
                        .push_back(ServerEvent::PlainPasswordToCheck { credentials });
                }
            },
        }
    }

    /// An authzid is accepted only if it names the authenticating account itself.
    pub(super) fn same_user(&self, authzid: &str, username: &str) -> bool {
        authzid == username
            || Jid::parse(authzid).is_ok_and(|j| {
                j.node() == Some(username)
                    && j.domain().eq_ignore_ascii_case(&self.config.domain)
                    && j.is_bare()
            })
    }

    pub(super) fn authenticated(
        &mut self,
        username: String,
        mechanism: Mechanism,
        additional: Option<Vec<u8>>,
    ) {
        self.send(Sasl::Success(additional.map(Into::into)));
        self.events.push_back(ServerEvent::Authenticated {
            username: username.clone(),
            mechanism,
        });
        self.username = Some(username);
        self.parser.restart();
        self.phase = Phase::AwaitHeader;
    }

    pub(super) fn auth_failed(&mut self, condition: SaslCondition) {
        self.send(Sasl::Failure {
            condition,
            text: None,
        });
        self.pending_mechanism = None;
        self.phase = Phase::Auth;
        if condition != SaslCondition::Aborted {
            self.auth_failures += 1;
            if self.auth_failures >= self.config.max_auth_attempts {
                self.fail(
                    StreamErrorCondition::PolicyViolation,
                    "too many failed authentication attempts (max_auth_attempts)",
                );
            }
        }
    }
}
