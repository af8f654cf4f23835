//! Both negotiation roles against each other in memory: STARTTLS with stream restarts, SASL
//! (SCRAM-SHA-256 and PLAIN), binding, XEP-0198 enable and resume, and the failures a user
//! would meet (wrong password, unknown user, TLS refused, pipelined plaintext after STARTTLS).

use portico_stanza::Jid;
use portico_stanza::negotiation::*;
use portico_stanza::sasl::Mechanism;
use portico_stanza::stanza::{Message, SaslCondition, StanzaCondition, StreamErrorCondition};

mod common;

use common::*;

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
