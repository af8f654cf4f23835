//! Helpers shared by the negotiation tests: a test RNG, a stand-in hub that answers the
//! server machine's questions, and a pump that moves bytes between the two machines.
// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use portico_stanza::negotiation::*;
use portico_stanza::sasl::ScramCredentials;
use portico_stanza::stanza::{Sm, StanzaCondition, StreamErrorCondition};
use portico_stanza::{Element, Jid};
use rand_core::{CryptoRng, RngCore};

/// A deterministic test RNG (a counter): the machines only need it to be called.
pub struct TestRng(pub u64);
impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for b in dst {
            *b = (self.next_u64() >> 56) as u8;
        }
    }
}
impl CryptoRng for TestRng {}

pub const DOMAIN: &str = "hub.example";

/// What the test "hub" decides when asked.
pub struct Hub {
    pub creds: Vec<(String, ScramCredentials)>,
    pub resource: Result<&'static str, StanzaCondition>,
    pub resume: Option<ResumeAccepted>,
}

impl Hub {
    pub fn alice() -> Self {
        Hub {
            creds: vec![(
                "alice".into(),
                ScramCredentials::derive(b"correct horse", b"salt-alice", 4096),
            )],
            resource: Ok("7"),
            resume: None,
        }
    }

    pub fn lookup(&self, user: &str) -> Option<ScramCredentials> {
        self.creds
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, c)| c.clone())
    }
}

#[derive(Debug, Default)]
pub struct Log {
    pub server: Vec<String>,
    pub client: Vec<String>,
    pub client_established: Option<(Jid, Option<SmSession>, Option<u32>)>,
    pub server_established: Option<(Jid, Option<u32>)>,
    pub client_failure: Option<Option<ClientFailure>>,
    pub server_closed: Option<Option<StreamErrorCondition>>,
    pub server_stanzas: Vec<Element>,
    pub client_stanzas: Vec<Element>,
}

/// Pumps bytes between the two machines (in `chunk`-byte pieces) until both are idle.
pub fn run(
    server: &mut ServerNegotiator,
    client: &mut ClientNegotiator,
    hub: &Hub,
    chunk: usize,
    log: &mut Log,
) {
    loop {
        let mut progressed = false;
        while let Some(ev) = client.poll_event() {
            progressed = true;
            match ev {
                ClientEvent::Send(b) => b.chunks(chunk).for_each(|c| server.feed(c)),
                ClientEvent::StartTls => {
                    log.client.push("starttls".into());
                    client.tls_established().expect("client awaits TLS");
                }
                ClientEvent::Authenticated => log.client.push("authenticated".into()),
                ClientEvent::Established { jid, sm, resumed } => {
                    log.client.push("established".into());
                    log.client_established = Some((jid, sm, resumed));
                }
                ClientEvent::Stanza(el) => log.client_stanzas.push(el),
                ClientEvent::Closed { error } => {
                    log.client.push("closed".into());
                    log.client_failure = Some(error);
                }
            }
        }
        while let Some(ev) = server.poll_event() {
            progressed = true;
            match ev {
                ServerEvent::Send(b) => b.chunks(chunk).for_each(|c| client.feed(c)),
                ServerEvent::StartTls => {
                    log.server.push("starttls".into());
                    server.tls_established().expect("server awaits TLS");
                }
                ServerEvent::ScramCredentialsNeeded { username } => {
                    log.server.push(format!("scram-lookup {username}"));
                    server
                        .scram_credentials(hub.lookup(&username))
                        .expect("awaiting credentials");
                }
                ServerEvent::PlainPasswordToCheck { credentials } => {
                    log.server
                        .push(format!("plain-check {}", credentials.username));
                    let ok = hub
                        .lookup(&credentials.username)
                        .is_some_and(|c| c.verify_password(credentials.password.as_bytes()));
                    server.plain_verified(ok).expect("awaiting a PLAIN verdict");
                }
                ServerEvent::Authenticated {
                    username,
                    mechanism,
                } => log
                    .server
                    .push(format!("authenticated {username} {}", mechanism.as_str())),
                ServerEvent::BindRequested { requested } => {
                    log.server.push(format!("bind {requested:?}"));
                    server.bind(hub.resource).expect("awaiting a bind decision");
                }
                ServerEvent::ResumeRequested { previd, h } => {
                    log.server.push(format!("resume {previd} {h}"));
                    server
                        .resume(hub.resume.clone())
                        .expect("awaiting a resume decision");
                }
                ServerEvent::Established { jid, resumed } => {
                    log.server.push("established".into());
                    log.server_established = Some((jid, resumed));
                }
                ServerEvent::Stanza(el) => {
                    // The session layer answers XEP-0198 <enable/>.
                    if let Ok(Sm::Enable { resume, .. }) = Sm::try_from(el.clone()) {
                        let enabled = Sm::Enabled {
                            id: Some("sm-1".into()),
                            resume,
                            max: Some(300),
                            location: None,
                        };
                        client.feed(&Element::from(enabled).to_bytes());
                    } else {
                        log.server_stanzas.push(el);
                    }
                }
                ServerEvent::Closed { error } => {
                    log.server.push("closed".into());
                    log.server_closed = Some(error.map(|e| e.condition));
                }
            }
        }
        if !progressed {
            return;
        }
    }
}

pub fn pair(
    server_cfg: ServerConfig,
    client_cfg: ClientConfig,
) -> (ServerNegotiator, ClientNegotiator) {
    let mut rng = TestRng(1);
    (
        ServerNegotiator::new(server_cfg, &mut rng),
        ClientNegotiator::new(client_cfg, &mut rng),
    )
}

pub fn alice(password: &[u8], transport: Transport) -> ClientConfig {
    ClientConfig::new(
        Jid::parse("alice@hub.example").expect("jid"),
        password,
        transport,
    )
}
