//! Negotiation over WebSocket framing (RFC 7395), and servers that end SCRAM differently.

mod common;

use common::*;
use portico_stanza::Element;
use portico_stanza::negotiation::*;
use portico_stanza::sasl::ScramServerStart;
use portico_stanza::stanza::{Sasl, Sm};

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

#[test]
fn client_accepts_server_final_as_a_last_challenge() {
    // A server that sends SCRAM's server-final in a <challenge> instead of in <success>.
    let mut rng = TestRng(8);
    let mut c = ClientNegotiator::new(alice(b"correct horse", Transport::Tls), &mut rng);
    let creds = Hub::alice().lookup("alice").expect("alice");
    let mut scram_server = None;
    let feed_client = |c: &mut ClientNegotiator, el: Element| c.feed(&el.to_bytes());
    c.feed(b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='hub.example' id='1' version='1.0'>");
    c.feed(b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-256</mechanism></mechanisms></stream:features>");
    let mut authenticated = false;
    for _ in 0..10 {
        while let Some(ev) = c.poll_event() {
            match ev {
                ClientEvent::Send(b) => {
                    let Ok(el) = Element::from_bytes(&b) else {
                        continue;
                    };
                    match Sasl::try_from(el) {
                        Ok(Sasl::Auth {
                            initial: Some(first),
                            ..
                        }) => {
                            let start = ScramServerStart::parse(&first).expect("client-first");
                            let (next, server_first) = start
                                .respond_with_nonce(creds.clone(), "srv")
                                .expect("nonce");
                            scram_server = Some(next);
                            feed_client(&mut c, Sasl::Challenge(server_first.into()).into());
                        }
                        Ok(Sasl::Response(data)) if !data.is_empty() => {
                            let server_final = scram_server
                                .take()
                                .expect("started")
                                .finish(&data)
                                .expect("proof");
                            feed_client(&mut c, Sasl::Challenge(server_final.into()).into());
                        }
                        Ok(Sasl::Response(_)) => {
                            feed_client(&mut c, Sasl::Success(None).into());
                        }
                        _ => {}
                    }
                }
                ClientEvent::Authenticated => authenticated = true,
                ClientEvent::Closed { error } => panic!("{error:?}"),
                _ => {}
            }
        }
    }
    assert!(authenticated);
}
