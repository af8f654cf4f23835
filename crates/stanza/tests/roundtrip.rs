//! Property tests: every typed stanza survives serialize → parse unchanged, and so does the
//! generic element tree.

use portico_stanza::stanza::keys::{
    Bundle, Bundles, Count, DeviceList, Fetch, KeyStock, LowStock, PreKey, Publish, SignedPreKey,
};
use portico_stanza::stanza::*;
use portico_stanza::{CompactString, Element, Jid};
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;
use zeroize::Zeroizing;

fn cs(re: &'static str) -> impl Strategy<Value = CompactString> {
    re.prop_map(CompactString::from)
}

/// Text with markup characters, quotes, whitespace controls and non-ASCII.
fn text() -> impl Strategy<Value = CompactString> {
    cs("[ -~\t\r\néß€😀<>&'\"]{0,24}")
}

fn jid() -> impl Strategy<Value = Jid> {
    (
        of("[a-z0-9._-]{1,8}"),
        "[a-z]{1,8}(\\.[a-z]{2,4})?",
        of("[A-Za-z0-9 @/.]{1,8}"),
    )
        .prop_map(|(n, d, r)| {
            Jid::from_parts(n.as_deref(), &d, r.as_deref()).expect("generated JIDs are valid")
        })
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..48)
}

fn nonempty_bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 1..48)
}

const NAMESPACES: &[&str] = &[
    "urn:x:a",
    "urn:x:b",
    "",
    "jabber:client",
    "urn:portico:e2ee:1",
];

/// A generic element tree (no names that typed conversions would claim).
fn element() -> impl Strategy<Value = Element> {
    let leaf = (
        "[a-z][a-z0-9-]{0,6}",
        0..NAMESPACES.len(),
        vec(("[a-z][a-z0-9]{0,4}", text()), 0..3),
        of(text()),
    )
        .prop_map(|(name, ns, attrs, t)| {
            let mut el = Element::new(name, NAMESPACES[ns]);
            for (k, v) in attrs {
                el.set_attr(k, v);
            }
            if let Some(t) = t {
                el.push_text(&t);
            }
            el
        });
    leaf.prop_recursive(3, 16, 4, |inner| {
        (
            inner.clone(),
            vec(prop_oneof![inner.prop_map(Ok), text().prop_map(Err)], 0..4),
        )
            .prop_map(|(mut el, kids)| {
                for k in kids {
                    match k {
                        Ok(child) => el.push_child(child),
                        Err(t) => el.push_text(&t),
                    }
                }
                el
            })
    })
}

/// A payload element in a namespace no typed field claims.
fn payload() -> impl Strategy<Value = Element> {
    element().prop_map(|mut e| {
        let mut wrapped = Element::new("x", "urn:x:payload");
        wrapped.push_child(std::mem::replace(&mut e, Element::new("y", "")));
        wrapped
    })
}

fn stanza_error() -> impl Strategy<Value = StanzaError> {
    (
        prop::sample::select(ErrorType::ALL),
        prop::sample::select(StanzaCondition::ALL),
        of(jid()),
        of(text()),
        of(payload()),
    )
        .prop_map(|(kind, condition, by, text, app)| StanzaError {
            kind,
            condition,
            by,
            text,
            app,
        })
}

fn device_ciphertext() -> impl Strategy<Value = DeviceCiphertext> {
    (
        any::<u32>(),
        prop::sample::select(CiphertextKind::ALL),
        bytes(),
    )
        .prop_map(|(device, kind, b)| DeviceCiphertext {
            device,
            kind,
            payload: Ciphertext::encode(&b),
        })
}

fn e2ee() -> impl Strategy<Value = E2ee> {
    (
        of(any::<u32>()),
        of(cs("[A-Za-z0-9-]{1,12}")),
        of(any::<u64>()),
        vec(device_ciphertext(), 0..4),
        vec(device_ciphertext(), 0..3),
        vec(payload(), 0..2),
    )
        .prop_map(
            |(sender_device, stanza_id, timestamp, to, own, extra)| E2ee {
                sender_device,
                stanza_id,
                timestamp,
                to,
                own,
                extra,
            },
        )
}

fn message() -> impl Strategy<Value = Message> {
    (
        (
            of(text()),
            of(jid()),
            of(jid()),
            of(prop::sample::select(MessageType::ALL)),
            of(cs("[a-z]{2}")),
        ),
        (of(text()), of(e2ee())),
        of(
            (text(), text(), any::<u64>()).prop_map(|(id, stanza_id, timestamp)| Ack {
                id,
                stanza_id,
                timestamp,
            }),
        ),
        of(text().prop_map(|stanza_id| Received { stanza_id })),
        of((text(), text()).prop_map(|(provider, visible)| Interop { provider, visible })),
        of(stanza_error()),
        vec(payload(), 0..3),
    )
        .prop_map(
            |(
                (id, from, to, kind, lang),
                (body, e2ee),
                ack,
                received,
                interop,
                error,
                payloads,
            )| Message {
                id,
                from,
                to,
                kind,
                lang,
                body,
                e2ee,
                ack,
                received,
                interop,
                error,
                payloads,
            },
        )
}

fn presence() -> impl Strategy<Value = Presence> {
    (
        (
            of(text()),
            of(jid()),
            of(jid()),
            of(prop::sample::select(PresenceType::ALL)),
            of(cs("[a-z]{2}")),
        ),
        of(prop::sample::select(Show::ALL)),
        of(text()),
        of(any::<i8>()),
        of(stanza_error()),
        vec(payload(), 0..3),
    )
        .prop_map(
            |((id, from, to, kind, lang), show, status, priority, error, payloads)| Presence {
                id,
                from,
                to,
                kind,
                lang,
                show,
                status,
                priority,
                error,
                payloads,
            },
        )
}

fn iq() -> impl Strategy<Value = Iq> {
    let kind = prop_oneof![
        payload().prop_map(IqKind::Get),
        payload().prop_map(IqKind::Set),
        of(payload()).prop_map(IqKind::Result),
        (stanza_error(), of(payload()))
            .prop_map(|(error, payload)| IqKind::Error { error, payload }),
    ];
    (text(), of(jid()), of(jid()), of(cs("[a-z]{2}")), kind).prop_map(
        |(id, from, to, lang, kind)| Iq {
            id,
            from,
            to,
            lang,
            kind,
        },
    )
}

fn signed() -> impl Strategy<Value = SignedPreKey> {
    (any::<u32>(), nonempty_bytes(), nonempty_bytes()).prop_map(|(id, public, signature)| {
        SignedPreKey {
            id,
            public,
            signature,
        }
    })
}

fn prekey() -> impl Strategy<Value = PreKey> {
    (any::<u32>(), nonempty_bytes()).prop_map(|(id, public)| PreKey { id, public })
}

fn stock() -> impl Strategy<Value = KeyStock> {
    (any::<u32>(), any::<u32>()).prop_map(|(ec, kyber)| KeyStock { ec, kyber })
}

fn roundtrip<T>(x: T)
where
    T: Clone + std::fmt::Debug + PartialEq + Into<Element> + TryFrom<Element, Error = DecodeError>,
{
    let bytes = x.clone().into().to_bytes();
    let el = Element::from_bytes(&bytes)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)));
    assert_eq!(
        T::try_from(el),
        Ok(x),
        "{}",
        String::from_utf8_lossy(&bytes)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn element_tree(el in element()) {
        let bytes = el.to_bytes();
        prop_assert_eq!(Element::from_bytes(&bytes), Ok(el.clone()));
        // Also when written self-contained (WebSocket framing style), which declares the
        // root's namespace even where it equals jabber:client.
        if !el.ns().is_empty() {
            let mut out = Vec::new();
            el.write_in("", &mut out);
            let head = format!("<{} xmlns=", el.name());
            prop_assert!(out.starts_with(head.as_bytes()));
            prop_assert_eq!(Element::from_bytes(&out), Ok(el));
        }
    }

    #[test]
    fn messages(m in message()) {
        // The direct serializer writes exactly what the element tree would.
        prop_assert_eq!(String::from_utf8(m.to_bytes()), String::from_utf8(Element::from(m.clone()).to_bytes()));
        roundtrip(m)
    }

    #[test]
    fn presences(p in presence()) { roundtrip(p) }

    #[test]
    fn iqs(i in iq()) { roundtrip(i) }

    #[test]
    fn stanza_errors(e in stanza_error()) { roundtrip(e) }

    #[test]
    fn stream_errors(c in prop::sample::select(StreamErrorCondition::ALL), text in of(text()), app in of(payload())) {
        roundtrip(StreamError { condition: c, text, app })
    }

    #[test]
    fn features(starttls in of(any::<bool>()), mechanisms in vec(cs("[A-Z0-9-]{1,20}"), 0..4), bind: bool, sm: bool, extra in vec(payload(), 0..2)) {
        roundtrip(StreamFeatures { starttls, mechanisms, bind, sm, extra })
    }

    #[test]
    fn sasl(
        which in 0..6u8,
        mechanism in cs("[A-Z0-9-]{1,20}"),
        data in bytes(),
        opt in of(bytes()),
        condition in prop::sample::select(SaslCondition::ALL),
        text in of(text()),
    ) {
        let s = match which {
            0 => Sasl::Auth { mechanism, initial: opt.map(Zeroizing::new) },
            1 => Sasl::Challenge(Zeroizing::new(data)),
            2 => Sasl::Response(Zeroizing::new(data)),
            3 => Sasl::Success(opt.map(Zeroizing::new)),
            4 => Sasl::Failure { condition, text },
            _ => Sasl::Abort,
        };
        roundtrip(s)
    }

    #[test]
    fn starttls(which in 0..3u8) {
        roundtrip([StartTls::Request, StartTls::Proceed, StartTls::Failure][which as usize])
    }

    #[test]
    fn bind(resource in of(cs("[A-Za-z0-9]([A-Za-z0-9@/. ]{0,8}[A-Za-z0-9])?")), j in jid(), result: bool) {
        roundtrip(if result { Bind::Result(j) } else { Bind::Request(resource) })
    }

    #[test]
    fn stream_management(
        which in 0..7u8, resume: bool, max in of(any::<u32>()), id in of(text()), location in of(text()),
        h: u32, oh in of(any::<u32>()), previd in text(), condition in of(prop::sample::select(StanzaCondition::ALL)),
    ) {
        let s = match which {
            0 => Sm::Enable { resume, max },
            1 => Sm::Enabled { id, resume, max, location },
            2 => Sm::Request,
            3 => Sm::Answer { h },
            4 => Sm::Resume { previd, h },
            5 => Sm::Resumed { previd, h },
            _ => Sm::Failed { h: oh, condition },
        };
        roundtrip(s)
    }

    #[test]
    fn ping_and_disco(
        node in of(text()),
        identities in vec((text(), text(), of(text()), of(cs("[a-z]{2}"))).prop_map(|(category, kind, name, lang)| Identity { category, kind, name, lang }), 0..3),
        features in vec(text(), 0..4),
        extra in vec(payload(), 0..2),
    ) {
        roundtrip(Ping);
        roundtrip(DiscoInfo { node, identities, features, extra })
    }

    #[test]
    fn portico_e2ee(e in e2ee(), missing in vec((jid(), any::<u32>()), 0..3), stale in vec((jid(), any::<u32>()), 0..3)) {
        roundtrip(e);
        let addr = |v: Vec<(Jid, u32)>| v.into_iter().map(|(jid, device)| DeviceAddress { jid, device }).collect();
        roundtrip(DeviceMismatch { missing: addr(missing), stale: addr(stale) })
    }

    #[test]
    fn portico_keys(
        registration_id in of(any::<u32>()),
        identity in of(nonempty_bytes()),
        signed_prekey in of(signed()),
        last_resort_kyber in of(signed()),
        prekeys in vec(prekey(), 0..5),
        kyber_prekeys in vec(signed(), 0..5),
        j in jid(),
        devices in vec(any::<u32>(), 0..5),
        version: u64,
        s in of(stock()),
        st in stock(),
        bundles in vec((any::<u32>(), any::<u32>(), nonempty_bytes(), signed(), signed(), of(prekey())), 0..3),
    ) {
        roundtrip(Publish { registration_id, identity, signed_prekey, last_resort_kyber, prekeys, kyber_prekeys });
        roundtrip(Fetch { jid: j.clone(), devices: devices.clone() });
        roundtrip(Count(s));
        roundtrip(LowStock(st));
        roundtrip(DeviceList { jid: j.clone(), version, devices, signature: vec![1, 2, 3] });
        let bundles = bundles.into_iter().map(|(device, registration_id, identity, signed_prekey, kyber_prekey, prekey)| Bundle {
            device, registration_id, identity, signed_prekey, kyber_prekey, prekey,
        }).collect();
        roundtrip(Bundles { jid: j, bundles })
    }

    #[test]
    fn top_level(m in message(), p in presence(), i in iq()) {
        roundtrip(TopLevel::Message(Box::new(m)));
        roundtrip(TopLevel::Presence(Box::new(p)));
        roundtrip(TopLevel::Iq(Box::new(i)));
    }
}
