//! Policy payloads (interop settings, XEP-0191 blocking, reports, discovery, refusals):
//! property round-trips and the exact error each malformed input gives.

use portico_stanza::stanza::policy::*;
use portico_stanza::stanza::{DecodeError, ErrorType};
use portico_stanza::stanza::{StanzaCondition, StanzaError};
use portico_stanza::{CompactString, Element, Jid};
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;

fn cs(re: &'static str) -> impl Strategy<Value = CompactString> {
    re.prop_map(CompactString::from)
}

fn jid() -> impl Strategy<Value = Jid> {
    (
        of("[a-z0-9._-]{1,8}"),
        "[a-z]{1,8}(\\.[a-z]{2,4})?",
        of("[A-Za-z0-9]{1,8}"),
    )
        .prop_map(|(n, d, r)| {
            Jid::from_parts(n.as_deref(), &d, r.as_deref()).expect("generated JIDs are valid")
        })
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

fn parse(xml: &str) -> Element {
    Element::from_bytes(xml.as_bytes()).expect("test XML parses")
}

fn refusal() -> impl Strategy<Value = Refusal> {
    prop_oneof![
        (prop::sample::select(Party::ALL), of(cs("[a-z0-9-]{1,12}")))
            .prop_map(|(party, provider)| Refusal::NotOptedIn { party, provider }),
        Just(Refusal::Blocked),
        (prop::sample::select(RateLimit::ALL), any::<u64>())
            .prop_map(|(limit, retry_after)| Refusal::RateLimited { limit, retry_after }),
        (any::<u32>(), any::<u64>()).prop_map(|(max_per_day, retry_after)| {
            Refusal::NewContactLimit {
                max_per_day,
                retry_after,
            }
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn settings(
        mode in prop::sample::select(ThirdPartyMode::ALL),
        rules in prop::collection::btree_map("[a-z0-9-]{1,12}", any::<bool>(), 0..5),
        discoverable: bool,
    ) {
        let providers = rules.into_iter().map(|(p, allow)| ProviderRule { provider: p.into(), allow }).collect();
        roundtrip(InteropSettings { mode, providers, discoverable })
    }

    #[test]
    fn blocking(items in vec(jid(), 0..5), extra in jid(), which in 0..3u8) {
        roundtrip(match which {
            0 => Blocking::Blocklist(items),
            1 => Blocking::Block([vec![extra], items].concat()),
            _ => Blocking::Unblock(items),
        })
    }

    #[test]
    fn reports(
        j in jid(),
        reason in prop::sample::select(ReportReason::ALL),
        evidence in vec((cs("[A-Za-z0-9-]{1,16}"), of(any::<u64>()), of(cs("[ -~éß€😀<>&'\"]{1,40}"))), 0..5),
    ) {
        let evidence = evidence.into_iter().map(|(id, stanza_id, plaintext)| Evidence { id, stanza_id, plaintext }).collect();
        roundtrip(Report { jid: j.to_bare(), reason, evidence })
    }

    #[test]
    fn discovery(provider in cs("[a-z0-9-]{1,12}"), visible_id in cs("[a-z0-9.]{1,8}@[a-z.]{1,12}"), j in of(jid())) {
        roundtrip(Discover { provider, visible_id, jid: j })
    }

    #[test]
    fn refusals(r in refusal()) {
        roundtrip(r.clone());
        // And inside the stanza error the hub sends.
        let err = r.clone().into_stanza_error();
        let back = StanzaError::try_from(Element::from_bytes(&Element::from(err).to_bytes()).expect("parses")).expect("valid");
        prop_assert_eq!(Refusal::from_stanza_error(&back), Some(Ok(r)));
    }

    #[test]
    fn block_matching_follows_xep_0191(j in jid()) {
        // Bare JID matches every resource; the domain matches everyone there.
        prop_assert!(block_matches(&j.to_bare(), &j));
        prop_assert!(block_matches(&Jid::parse(j.domain()).expect("domain"), &j));
        prop_assert!(block_matches(&j, &j));
        let other = Jid::from_parts(Some("zz-other"), j.domain(), None).expect("jid");
        prop_assert!(!block_matches(&other, &j) || j.node() == Some("zz-other"));
    }
}

#[test]
fn settings_read_the_wire_form_and_decide_per_provider() {
    let s = InteropSettings::try_from(parse(
        "<settings xmlns='urn:portico:interop-settings:1' third-party='listed' discoverable='true'><provider id='birdy' allow='true'/><provider id='spam' allow='false'/></settings>",
    ))
    .expect("valid");
    assert!(s.discoverable);
    assert!(s.allows("birdy"));
    assert!(!s.allows("spam"));
    assert!(
        !s.allows("other"),
        "listed mode allows only listed providers"
    );
    let all = InteropSettings {
        mode: ThirdPartyMode::All,
        ..s.clone()
    };
    assert!(all.allows("other") && all.allows("birdy") && !all.allows("spam"));
    let off = InteropSettings {
        mode: ThirdPartyMode::Off,
        ..s
    };
    assert!(!off.allows("birdy"), "off refuses even listed providers");
    // An empty get payload reads as the defaults: off, not discoverable.
    assert_eq!(
        InteropSettings::try_from(InteropSettings::query()),
        Ok(InteropSettings::default())
    );
}

#[test]
fn malformed_settings_name_the_problem() {
    assert_eq!(
        InteropSettings::try_from(parse(
            "<settings xmlns='urn:portico:interop-settings:1' third-party='maybe'/>"
        )),
        Err(DecodeError::InvalidAttribute {
            element: "settings",
            attribute: "third-party"
        })
    );
    assert_eq!(
        InteropSettings::try_from(parse(
            "<settings xmlns='urn:portico:interop-settings:1'><provider id='a'/></settings>"
        )),
        Err(DecodeError::MissingAttribute {
            element: "provider",
            attribute: "allow"
        })
    );
    assert_eq!(
        InteropSettings::try_from(parse(
            "<settings xmlns='urn:portico:interop-settings:1'><provider id='a' allow='true'/><provider id='a' allow='false'/></settings>"
        )),
        Err(DecodeError::InvalidContent {
            element: "settings",
            reason: "one rule per provider"
        })
    );
}

#[test]
fn blocking_follows_the_xep() {
    // XEP-0191 §3.3: a block without items is a bad request; an unblock without items
    // unblocks everyone.
    assert_eq!(
        Blocking::try_from(parse("<block xmlns='urn:xmpp:blocking'/>")),
        Err(DecodeError::MissingChild {
            element: "block",
            child: "item"
        })
    );
    assert_eq!(
        Blocking::try_from(parse("<unblock xmlns='urn:xmpp:blocking'/>")),
        Ok(Blocking::Unblock(Vec::new()))
    );
    assert!(matches!(
        Blocking::try_from(parse(
            "<block xmlns='urn:xmpp:blocking'><item jid='a@@b'/></block>"
        )),
        Err(DecodeError::InvalidJid {
            element: "item",
            attribute: "jid",
            ..
        })
    ));
    let b = Blocking::try_from(parse(
        "<blocklist xmlns='urn:xmpp:blocking'><item jid='romeo@montague.net'/><item jid='iago@shakespeare.lit'/></blocklist>",
    ))
    .expect("valid");
    assert_eq!(
        b,
        Blocking::Blocklist(vec![
            Jid::parse("romeo@montague.net").expect("jid"),
            Jid::parse("iago@shakespeare.lit").expect("jid")
        ])
    );
    let full = Jid::parse("a@d/1").expect("jid");
    assert!(!block_matches(&Jid::parse("a@d/2").expect("jid"), &full));
    assert!(!block_matches(&Jid::parse("a@e").expect("jid"), &full));
    assert!(
        !block_matches(&Jid::parse("d/1").expect("jid"), &full),
        "domain/resource matches only the domain's own JID"
    );
}

#[test]
fn reports_are_size_limited() {
    let big = "x".repeat(DEFAULT_MAX_EVIDENCE_BYTES + 1);
    let xml = format!(
        "<report xmlns='urn:portico:report:1' jid='s@d' reason='spam'><evidence id='1'>{big}</evidence></report>"
    );
    assert_eq!(
        Report::try_from(parse(&xml)),
        Err(DecodeError::InvalidContent {
            element: "evidence",
            reason: "revealed plaintext too long (policy.report_max_evidence_bytes)"
        })
    );
    let many: String = (0..3).map(|i| format!("<evidence id='{i}'/>")).collect();
    let xml = format!("<report xmlns='urn:portico:report:1' jid='s@d'>{many}</report>");
    assert_eq!(
        Report::from_element_with_limits(parse(&xml), 2, 10),
        Err(DecodeError::InvalidContent {
            element: "report",
            reason: "too many evidence items (policy.report_max_evidence)"
        })
    );
    let r = Report::from_element_with_limits(parse(&xml), 3, 10).expect("within limits");
    assert_eq!(r.reason, ReportReason::Other, "reason defaults to other");
    assert!(
        r.evidence.iter().all(|e| e.plaintext.is_none()),
        "ids only: nothing revealed"
    );
    assert_eq!(
        Report::try_from(parse(
            "<report xmlns='urn:portico:report:1' jid='s@d' reason='rude'/>"
        )),
        Err(DecodeError::InvalidAttribute {
            element: "report",
            attribute: "reason"
        })
    );
}

#[test]
fn refusals_carry_the_right_condition_and_type() {
    let e = Refusal::RateLimited {
        limit: RateLimit::Pair,
        retry_after: 3,
    }
    .into_stanza_error();
    assert_eq!(
        (e.condition, e.kind),
        (StanzaCondition::PolicyViolation, ErrorType::Wait)
    );
    assert!(
        e.text
            .as_deref()
            .is_some_and(|t| t.contains("pair") && t.contains("3 s"))
    );
    let e = Refusal::Blocked.into_stanza_error();
    assert_eq!(
        (e.condition, e.kind),
        (StanzaCondition::NotAcceptable, ErrorType::Cancel)
    );
    assert_eq!(
        String::from_utf8_lossy(&e.app.expect("app").to_bytes()),
        "<blocked xmlns='urn:xmpp:blocking:errors'/>"
    );
    let e = Refusal::NotOptedIn {
        party: Party::Recipient,
        provider: Some("birdy".into()),
    }
    .into_stanza_error();
    assert_eq!(e.condition, StanzaCondition::Forbidden);
    // An error without a policy condition is not a refusal.
    assert_eq!(
        Refusal::from_stanza_error(&StanzaError::new(StanzaCondition::ItemNotFound)),
        None
    );
}

#[test]
fn the_interop_stamp_has_the_documented_wire_form() {
    use portico_stanza::stanza::Interop;
    let stamp = Interop {
        provider: "birdy".into(),
        visible: "bob@birdy.example".into(),
    };
    assert_eq!(
        String::from_utf8_lossy(&Element::from(stamp.clone()).to_bytes()),
        "<interop xmlns='urn:portico:interop:1' provider='birdy' visible-id='bob@birdy.example'/>"
    );
    assert_eq!(
        Interop::try_from(parse(
            "<interop xmlns='urn:portico:interop:1' provider='birdy' visible-id='bob@birdy.example'/>"
        )),
        Ok(stamp)
    );
}
