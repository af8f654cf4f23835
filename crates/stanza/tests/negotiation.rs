//! Both negotiation roles against each other in memory: STARTTLS with stream restarts, SASL
//! (SCRAM-SHA-256 and PLAIN), binding, XEP-0198 enable and resume, and the failures a user
//! would meet (wrong password, unknown user, TLS refused, pipelined plaintext after STARTTLS).

use portico_stanza::negotiation::*;
use portico_stanza::sasl::{Mechanism, ScramCredentials};
use portico_stanza::stanza::{Message, SaslCondition, Sm, StanzaCondition, StreamErrorCondition};
use portico_stanza::{Element, Jid};
use rand_core::{CryptoRng, RngCore};

/// A deterministic test RNG (a counter): the machines only need it to be called.
struct TestRng(u64);
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

const DOMAIN: &str = "hub.example";

/// What the test "hub" decides when asked.
struct Hub {
    creds: Vec<(String, ScramCredentials)>,
    resource: Result<&'static str, StanzaCondition>,
    resume: Option<ResumeAccepted>,
}

impl Hub {
    fn alice() -> Self {
        Hub {
            creds: vec![(
                "alice".into(),
                ScramCredentials::derive(b"correct horse", b"salt-alice", 4096),
            )],
            resource: Ok("7"),
            resume: None,
        }
    }

    fn lookup(&self, user: &str) -> Option<ScramCredentials> {
        self.creds
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, c)| c.clone())
    }
}

#[derive(Debug, Default)]
struct Log {
    server: Vec<String>,
    client: Vec<String>,
    client_established: Option<(Jid, Option<SmSession>, Option<u32>)>,
    server_established: Option<(Jid, Option<u32>)>,
    client_failure: Option<Option<ClientFailure>>,
    server_closed: Option<Option<StreamErrorCondition>>,
    server_stanzas: Vec<Element>,
    client_stanzas: Vec<Element>,
}

/// Pumps bytes between the two machines (in `chunk`-byte pieces) until both are idle.
fn run(
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

fn pair(
    server_cfg: ServerConfig,
    client_cfg: ClientConfig,
) -> (ServerNegotiator, ClientNegotiator) {
    let mut rng = TestRng(1);
    (
        ServerNegotiator::new(server_cfg, &mut rng),
        ClientNegotiator::new(client_cfg, &mut rng),
    )
}

fn alice(password: &[u8], transport: Transport) -> ClientConfig {
    ClientConfig::new(
        Jid::parse("alice@hub.example").expect("jid"),
        password,
        transport,
    )
}

#[test]
fn starttls_scram_bind_and_sm_with_restarts_in_any_chunking() {
    for chunk in [1, 7, 64, 100_000] {
        let (mut s, mut c) = pair(
            ServerConfig::new(DOMAIN, Transport::StartTls),
            alice(b"correct horse", Transport::StartTls),
        );
        let mut log = Log::default();
        run(&mut s, &mut c, &Hub::alice(), chunk, &mut log);
        assert_eq!(
            log.server,
            [
                "starttls",
                "scram-lookup alice",
                "authenticated alice SCRAM-SHA-256",
                "bind None",
                "established"
            ],
            "chunk {chunk}"
        );
        assert_eq!(
            log.client,
            ["starttls", "authenticated", "established"],
            "chunk {chunk}"
        );
        let (jid, sm, resumed) = log.client_established.clone().expect("client established");
        assert_eq!(jid.to_string(), "alice@hub.example/7");
        assert_eq!(sm.and_then(|s| s.id).as_deref(), Some("sm-1"));
        assert_eq!(resumed, None);
        assert_eq!(
            log.server_established.clone().map(|e| e.0),
            Some(jid.clone())
        );

        // After establishment stanzas flow both ways through the same machines.
        let m = Message {
            to: Some(Jid::parse("bob@hub.example").expect("jid")),
            body: Some("hi".into()),
            ..Message::default()
        };
        s.feed(&m.to_bytes());
        c.feed(&m.to_bytes());
        run(&mut s, &mut c, &Hub::alice(), chunk, &mut log);
        assert_eq!(
            log.server_stanzas.pop().map(Message::try_from),
            Some(Ok(m.clone()))
        );
        assert_eq!(log.client_stanzas.pop().map(Message::try_from), Some(Ok(m)));
        // Closing from the client closes both ends cleanly.
        c.close();
        run(&mut s, &mut c, &Hub::alice(), chunk, &mut log);
        assert_eq!(log.server_closed, Some(None));
        assert_eq!(log.client_failure, Some(None));
    }
}

#[test]
fn client_asks_for_its_device_resource_and_server_can_refuse() {
    let mut cfg = alice(b"correct horse", Transport::Tls);
    cfg.jid = Jid::parse("alice@hub.example/3").expect("jid");
    let (mut s, mut c) = pair(ServerConfig::new(DOMAIN, Transport::Tls), cfg.clone());
    let mut log = Log::default();
    let mut hub = Hub::alice();
    hub.resource = Ok("3");
    run(&mut s, &mut c, &hub, 16, &mut log);
    assert!(
        log.server.contains(&"bind Some(\"3\")".to_string()),
        "{:?}",
        log.server
    );
    assert_eq!(
        log.client_established.expect("bound").0.resource(),
        Some("3")
    );

    let (mut s, mut c) = pair(ServerConfig::new(DOMAIN, Transport::Tls), cfg);
    let mut log = Log::default();
    hub.resource = Err(StanzaCondition::ItemNotFound);
    run(&mut s, &mut c, &hub, 16, &mut log);
    match log.client_failure {
        Some(Some(ClientFailure::BindFailed(e))) => {
            assert_eq!(e.condition, StanzaCondition::ItemNotFound)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn wrong_password_and_unknown_user_fail_alike() {
    for (user, pw) in [
        ("alice@hub.example", &b"wrong"[..]),
        ("mallory@hub.example", &b"correct horse"[..]),
    ] {
        let cfg = ClientConfig::new(Jid::parse(user).expect("jid"), pw, Transport::Tls);
        let (mut s, mut c) = pair(ServerConfig::new(DOMAIN, Transport::Tls), cfg);
        let mut log = Log::default();
        run(&mut s, &mut c, &Hub::alice(), 32, &mut log);
        assert_eq!(
            log.client_failure,
            Some(Some(ClientFailure::AuthFailed(
                SaslCondition::NotAuthorized
            ))),
            "{user}"
        );
        assert!(log.server_established.is_none());
    }
}

#[test]
fn plain_over_tls_is_checked_by_the_caller() {
    let mut cfg = alice(b"correct horse", Transport::Tls);
    cfg.mechanisms = vec![Mechanism::Plain];
    let (mut s, mut c) = pair(ServerConfig::new(DOMAIN, Transport::Tls), cfg.clone());
    let mut log = Log::default();
    run(&mut s, &mut c, &Hub::alice(), 5, &mut log);
    assert_eq!(
        log.server[..2],
        ["plain-check alice", "authenticated alice PLAIN"]
    );
    assert!(log.client_established.is_some());

    cfg.password = b"wrong".to_vec().into();
    let (mut s, mut c) = pair(ServerConfig::new(DOMAIN, Transport::Tls), cfg);
    let mut log = Log::default();
    run(&mut s, &mut c, &Hub::alice(), 5, &mut log);
    assert_eq!(
        log.client_failure,
        Some(Some(ClientFailure::AuthFailed(
            SaslCondition::NotAuthorized
        )))
    );
}

#[test]
fn plain_is_not_offered_before_tls() {
    let mut cfg = alice(b"correct horse", Transport::StartTls);
    cfg.mechanisms = vec![Mechanism::Plain];
    let mut server = ServerConfig::new(DOMAIN, Transport::StartTls);
    server.mechanisms = vec![Mechanism::Plain];
    let (mut s, mut c) = pair(server, cfg);
    let mut log = Log::default();
    run(&mut s, &mut c, &Hub::alice(), 64, &mut log);
    // Only after STARTTLS is PLAIN offered, and then it works.
    assert_eq!(
        log.server[..3],
        ["starttls", "plain-check alice", "authenticated alice PLAIN"]
    );
}

#[test]
fn tls_required_but_not_offered() {
    let (mut s, mut c) = pair(
        ServerConfig::new(DOMAIN, Transport::Insecure),
        alice(b"correct horse", Transport::StartTls),
    );
    let mut log = Log::default();
    run(&mut s, &mut c, &Hub::alice(), 64, &mut log);
    assert_eq!(
        log.client_failure,
        Some(Some(ClientFailure::TlsUnavailable))
    );
}

#[test]
fn insecure_client_cannot_skip_required_starttls() {
    // The server offers nothing but STARTTLS, so a client that will not upgrade cannot log in.
    let (mut s, mut c) = pair(
        ServerConfig::new(DOMAIN, Transport::StartTls),
        alice(b"correct horse", Transport::Insecure),
    );
    let mut log = Log::default();
    run(&mut s, &mut c, &Hub::alice(), 64, &mut log);
    assert_eq!(log.client_failure, Some(Some(ClientFailure::NoMechanism)));
    // And a client that tries anyway is thrown out.
    let mut s = ServerNegotiator::new(
        ServerConfig::new(DOMAIN, Transport::StartTls),
        &mut TestRng(7),
    );
    s.feed(b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='hub.example' version='1.0'>");
    s.feed(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHB3</auth>");
    let mut closed = None;
    while let Some(ev) = s.poll_event() {
        assert!(!matches!(ev, ServerEvent::PlainPasswordToCheck { .. }));
        if let ServerEvent::Closed { error } = ev {
            closed = error.map(|e| e.condition);
        }
    }
    assert_eq!(closed, Some(StreamErrorCondition::PolicyViolation));
}

#[test]
fn resume_accepted_and_refused() {
    let mut cfg = alice(b"correct horse", Transport::Tls);
    cfg.resume = Some(("sm-old".into(), 5));
    let mut hub = Hub::alice();
    hub.resume = Some(ResumeAccepted {
        jid: Jid::parse("alice@hub.example/7").expect("jid"),
        h: 3,
    });
    let (mut s, mut c) = pair(ServerConfig::new(DOMAIN, Transport::Tls), cfg.clone());
    let mut log = Log::default();
    run(&mut s, &mut c, &hub, 9, &mut log);
    assert!(log.server.contains(&"resume sm-old 5".to_string()));
    assert_eq!(log.client_established.expect("resumed").2, Some(3));
    assert_eq!(log.server_established.expect("resumed").1, Some(5));

    hub.resume = None;
    let (mut s, mut c) = pair(ServerConfig::new(DOMAIN, Transport::Tls), cfg);
    let mut log = Log::default();
    run(&mut s, &mut c, &hub, 9, &mut log);
    // Refused: the client falls back to binding.
    assert!(
        log.server.contains(&"bind None".to_string()),
        "{:?}",
        log.server
    );
    assert_eq!(log.client_established.expect("bound").2, None);
}

#[test]
fn plaintext_pipelined_after_starttls_is_dropped() {
    let mut s = ServerNegotiator::new(
        ServerConfig::new(DOMAIN, Transport::StartTls),
        &mut TestRng(3),
    );
    s.feed(b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='hub.example' version='1.0'>");
    s.feed(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><iq type='get' id='injected'><ping xmlns='urn:xmpp:ping'/></iq>");
    let mut saw_starttls = false;
    while let Some(ev) = s.poll_event() {
        saw_starttls |= matches!(ev, ServerEvent::StartTls);
    }
    assert!(saw_starttls);
    s.tls_established().expect("awaiting TLS");
    s.feed(b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='hub.example' version='1.0'>");
    let mut sent = Vec::new();
    while let Some(ev) = s.poll_event() {
        if let ServerEvent::Send(b) = ev {
            sent.extend(b);
        }
    }
    let sent = String::from_utf8(sent).expect("utf8");
    assert!(sent.contains("SCRAM-SHA-256"), "{sent}");
    assert!(!sent.contains("injected"), "{sent}");
}

#[test]
fn wrong_domain_and_garbage_end_the_stream_with_the_right_error() {
    let mut s = ServerNegotiator::new(ServerConfig::new(DOMAIN, Transport::Tls), &mut TestRng(4));
    s.feed(b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='other.example' version='1.0'>");
    let mut closed = None;
    while let Some(ev) = s.poll_event() {
        if let ServerEvent::Closed { error } = ev {
            closed = error.map(|e| e.condition);
        }
    }
    assert_eq!(closed, Some(StreamErrorCondition::HostUnknown));

    let mut s = ServerNegotiator::new(ServerConfig::new(DOMAIN, Transport::Tls), &mut TestRng(5));
    s.feed(b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]>");
    let mut sent = Vec::new();
    let mut closed = None;
    while let Some(ev) = s.poll_event() {
        match ev {
            ServerEvent::Send(b) => sent.extend(b),
            ServerEvent::Closed { error } => closed = error.map(|e| e.condition),
            _ => {}
        }
    }
    assert_eq!(closed, Some(StreamErrorCondition::RestrictedXml));
    assert!(String::from_utf8_lossy(&sent).contains("restricted-xml"));
}

#[test]
fn too_many_failed_attempts_close_the_stream() {
    let mut s = ServerNegotiator::new(ServerConfig::new(DOMAIN, Transport::Tls), &mut TestRng(6));
    s.feed(b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='hub.example' version='1.0'>");
    for _ in 0..3 {
        s.feed(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X-UNKNOWN'>AA==</auth>");
    }
    let mut closed = None;
    while let Some(ev) = s.poll_event() {
        if let ServerEvent::Closed { error } = ev {
            closed = error.map(|e| e.condition);
        }
    }
    assert_eq!(closed, Some(StreamErrorCondition::PolicyViolation));
}

#[test]
fn websocket_framing_negotiates_with_one_element_per_message() {
    let mut server_cfg = ServerConfig::new(DOMAIN, Transport::Tls);
    server_cfg.framing = Framing::WebSocket;
    let mut client_cfg = alice(b"correct horse", Transport::Tls);
    client_cfg.framing = Framing::WebSocket;
    let (mut s, mut c) = pair(server_cfg, client_cfg);
    // Every message either side sends is one complete element that declares its namespace.
    let mut messages = Vec::new();
    let mut log = Log::default();
    loop {
        let mut progressed = false;
        while let Some(ev) = c.poll_event() {
            progressed = true;
            if let ClientEvent::Send(b) = &ev {
                messages.push(b.clone());
                s.feed(b);
            }
            if let ClientEvent::Established { jid, .. } = ev {
                log.client_established = Some((jid, None, None));
            }
        }
        while let Some(ev) = s.poll_event() {
            progressed = true;
            match ev {
                ServerEvent::Send(b) => {
                    messages.push(b.clone());
                    c.feed(&b);
                }
                ServerEvent::ScramCredentialsNeeded { username } => s
                    .scram_credentials(Hub::alice().lookup(&username))
                    .expect("awaiting"),
                ServerEvent::BindRequested { .. } => s.bind(Ok("9")).expect("awaiting"),
                ServerEvent::Stanza(el) => {
                    if let Ok(Sm::Enable { .. }) = Sm::try_from(el) {
                        let mut out = Vec::new();
                        Element::from(Sm::Enabled {
                            id: None,
                            resume: false,
                            max: None,
                            location: None,
                        })
                        .write_in("", &mut out);
                        c.feed(&out);
                    }
                }
                _ => {}
            }
        }
        if !progressed {
            break;
        }
    }
    assert_eq!(
        log.client_established.expect("established").0.to_string(),
        "alice@hub.example/9"
    );
    assert!(messages.len() >= 8, "{}", messages.len());
    for m in &messages {
        let el = Element::from_bytes(m)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(m)));
        let text = String::from_utf8_lossy(m);
        assert!(
            text.contains(&format!("xmlns='{}'", el.ns())) || text.contains("xmlns:stream="),
            "{text}"
        );
    }
    assert!(
        String::from_utf8_lossy(&messages[0])
            .starts_with("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'")
    );
}
