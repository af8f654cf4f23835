//! Unit and property tests of the policy decision.

use portico_stanza::Jid;
use portico_stanza::stanza::policy::{
    InteropSettings, Party, ProviderRule, RateLimit, Refusal, ThirdPartyMode,
};
use proptest::prelude::*;

use super::decide::{DAY_MS, check};
use super::*;

const D: &str = "hub.example";

fn jid(s: &str) -> Jid {
    Jid::parse(s).expect("test JID")
}

struct World {
    sender: Jid,
    recipient: Jid,
    so: Origin,
    ro: Origin,
}

fn world(sender: &str, recipient: &str) -> World {
    let sender = jid(sender);
    let recipient = jid(recipient);
    World {
        so: Origin::of(&sender, D),
        ro: Origin::of(&recipient, D),
        sender,
        recipient,
    }
}

impl World {
    fn parties(&self) -> Parties<'_> {
        Parties {
            sender: &self.sender,
            sender_origin: &self.so,
            recipient: &self.recipient,
            recipient_origin: &self.ro,
            address: None,
        }
    }
}

fn on(mode: ThirdPartyMode) -> InteropSettings {
    InteropSettings {
        mode,
        ..InteropSettings::default()
    }
}

fn facts<'a>(s: &'a InteropSettings, r: &'a InteropSettings) -> Facts<'a> {
    Facts {
        sender_settings: s,
        recipient_settings: r,
        sender_blocks: &[],
        recipient_blocks: &[],
        provider_rate: None,
        contacts: Contacts {
            known: true,
            ..Contacts::default()
        },
    }
}

const ALLOW: Decision = Decision::Allow { new_contact: false };

fn refused(r: Refusal) -> Decision {
    Decision::Refuse(Reason::Refused(r))
}

#[test]
fn origins() {
    assert_eq!(Origin::of(&jid("a@hub.example"), D), Origin::FirstParty);
    assert_eq!(
        Origin::of(&jid("k7f3@birdy.interop.hub.example/2"), D),
        Origin::ThirdParty {
            provider: "birdy".into()
        }
    );
    assert_eq!(
        Origin::of(&jid("a@x.interop.other.example"), D),
        Origin::Elsewhere
    );
    assert_eq!(
        Origin::of(&jid("a@Bad_.interop.hub.example"), D),
        Origin::Elsewhere
    );
}

#[test]
fn opt_in_is_off_by_default_and_needed_both_ways() {
    let cfg = PolicyConfig::default();
    let off = InteropSettings::default();
    let all = on(ThirdPartyMode::All);
    // Third-party → first-party who never opted in: refused, naming the recipient.
    let w = world("k@birdy.interop.hub.example/1", "alice@hub.example");
    assert_eq!(
        check(&cfg, &w.parties(), &facts(&all, &off), 0),
        refused(Refusal::NotOptedIn {
            party: Party::Recipient,
            provider: Some("birdy".into())
        })
    );
    assert_eq!(check(&cfg, &w.parties(), &facts(&all, &all), 0), ALLOW);
    // Per-provider: listed mode allows only listed providers.
    let listed = InteropSettings {
        mode: ThirdPartyMode::Listed,
        providers: vec![ProviderRule {
            provider: "other".into(),
            allow: true,
        }],
        discoverable: false,
    };
    assert!(matches!(
        check(&cfg, &w.parties(), &facts(&all, &listed), 0),
        Decision::Refuse(_)
    ));
    // First-party → third-party: the sender must have opted in for that provider, and the
    // third-party recipient must not have turned interop off.
    let w = world("alice@hub.example/1", "k@birdy.interop.hub.example");
    assert_eq!(
        check(&cfg, &w.parties(), &facts(&off, &all), 0),
        refused(Refusal::NotOptedIn {
            party: Party::Sender,
            provider: Some("birdy".into())
        })
    );
    assert_eq!(check(&cfg, &w.parties(), &facts(&all, &all), 0), ALLOW);
    assert!(matches!(
        check(&cfg, &w.parties(), &facts(&all, &off), 0),
        Decision::Refuse(Reason::Refused(Refusal::NotOptedIn {
            party: Party::Recipient,
            ..
        }))
    ));
    // Within the hub's own network nothing is needed.
    let w = world("alice@hub.example/1", "bob@hub.example");
    assert_eq!(check(&cfg, &w.parties(), &facts(&off, &off), 0), ALLOW);
}

#[test]
fn blocks_either_way() {
    let cfg = PolicyConfig::default();
    let all = on(ThirdPartyMode::All);
    let w = world("alice@hub.example/1", "bob@hub.example");
    let bob = [jid("bob@hub.example")];
    let alice = [jid("alice@hub.example")];
    let mut f = facts(&all, &all);
    f.sender_blocks = &bob;
    assert_eq!(check(&cfg, &w.parties(), &f, 0), refused(Refusal::Blocked));
    let mut f = facts(&all, &all);
    f.recipient_blocks = &alice;
    assert_eq!(
        check(&cfg, &w.parties(), &f, 0),
        Decision::Refuse(Reason::RecipientBlocked)
    );
    // Blocking a whole provider domain.
    let w = world("k@birdy.interop.hub.example/1", "alice@hub.example");
    let birdy = [jid("birdy.interop.hub.example")];
    let mut f = facts(&all, &all);
    f.recipient_blocks = &birdy;
    // Across the boundary the block looks like an opt-out.
    assert_eq!(
        check(&cfg, &w.parties(), &f, 0),
        refused(Refusal::NotOptedIn {
            party: Party::Recipient,
            provider: Some("birdy".into())
        })
    );
}

#[test]
fn new_contacts_per_day_for_third_party_senders() {
    let cfg = PolicyConfig {
        new_contacts_per_day: 2,
        ..PolicyConfig::default()
    };
    let all = on(ThirdPartyMode::All);
    let w = world("k@birdy.interop.hub.example/1", "alice@hub.example");
    let mut f = facts(&all, &all);
    f.contacts = Contacts {
        known: false,
        recent: 1,
        oldest_ms: Some(1000),
    };
    assert_eq!(
        check(&cfg, &w.parties(), &f, 5000),
        Decision::Allow { new_contact: true }
    );
    f.contacts.recent = 2;
    assert_eq!(
        check(&cfg, &w.parties(), &f, 5000),
        refused(Refusal::NewContactLimit {
            max_per_day: 2,
            retry_after: (DAY_MS + 1000 - 5000) / 1000
        })
    );
    f.contacts.known = true;
    assert_eq!(
        check(&cfg, &w.parties(), &f, 5000),
        ALLOW,
        "known pairs are not new"
    );
}

#[test]
fn each_bucket_refuses_with_its_name_and_others_keep_going() {
    let tight = Rate {
        burst: 2,
        per_minute: 60,
    };
    let roomy = Rate {
        burst: 1000,
        per_minute: 60_000,
    };
    let all = on(ThirdPartyMode::All);
    for (limit, cfg) in [
        (
            RateLimit::Pair,
            PolicyConfig {
                pair: tight,
                sender: roomy,
                provider: roomy,
                address: roomy,
                ..PolicyConfig::default()
            },
        ),
        (
            RateLimit::Sender,
            PolicyConfig {
                pair: roomy,
                sender: tight,
                provider: roomy,
                address: roomy,
                ..PolicyConfig::default()
            },
        ),
        (
            RateLimit::Provider,
            PolicyConfig {
                pair: roomy,
                sender: roomy,
                provider: tight,
                address: roomy,
                ..PolicyConfig::default()
            },
        ),
        (
            RateLimit::Address,
            PolicyConfig {
                pair: roomy,
                sender: roomy,
                provider: roomy,
                address: tight,
                ..PolicyConfig::default()
            },
        ),
    ] {
        let mut l = Limiter::new(&cfg);
        // The pair bucket is per recipient, so the sender writes to alice, then to carol.
        let w = world("k@birdy.interop.hub.example/1", "alice@hub.example");
        let mut p = w.parties();
        p.address = Some([10, 0, 0, 1].into());
        let f = facts(&all, &all);
        assert_eq!(l.decide(&p, &f, 0), ALLOW);
        assert_eq!(l.decide(&p, &f, 0), ALLOW);
        assert_eq!(
            l.decide(&p, &f, 0),
            refused(Refusal::RateLimited {
                limit,
                retry_after: 1
            }),
            "{limit}"
        );
        // Someone else (another provider, another address) is not affected.
        let other = world("z@other.interop.hub.example/1", "carol@hub.example");
        let mut q = other.parties();
        q.address = Some([10, 0, 0, 2].into());
        assert_eq!(l.decide(&q, &f, 0), ALLOW, "{limit}");
        // And after a second the limited sender may send one more.
        assert_eq!(l.decide(&p, &f, 1000), ALLOW, "{limit}");
    }
}

#[test]
fn first_party_senders_are_not_rate_limited_unless_asked() {
    let tight = Rate {
        burst: 1,
        per_minute: 1,
    };
    let cfg = PolicyConfig {
        pair: tight,
        ..PolicyConfig::default()
    };
    let none = InteropSettings::default();
    let w = world("alice@hub.example/1", "bob@hub.example");
    let mut l = Limiter::new(&cfg);
    for _ in 0..10 {
        assert_eq!(l.decide(&w.parties(), &facts(&none, &none), 0), ALLOW);
    }
    let mut l = Limiter::new(&PolicyConfig {
        limit_first_party: true,
        ..cfg
    });
    assert_eq!(l.decide(&w.parties(), &facts(&none, &none), 0), ALLOW);
    assert!(matches!(
        l.decide(&w.parties(), &facts(&none, &none), 0),
        Decision::Refuse(_)
    ));
}

#[test]
fn config_validation_names_the_key() {
    assert_eq!(PolicyConfig::default().validate(), Ok(()));
    let bad = PolicyConfig {
        sender: Rate {
            burst: 0,
            per_minute: 5,
        },
        ..PolicyConfig::default()
    };
    assert_eq!(bad.validate().map_err(|e| e.key), Err("sender"));
}

proptest! {
    /// A refused message takes no token: the sender can send exactly the burst at once,
    /// whatever else was refused in between.
    #[test]
    fn refusals_take_no_tokens(burst in 1u32..20, extra in 0usize..40) {
        let cfg = PolicyConfig {
            pair: Rate { burst, per_minute: 1 },
            sender: Rate { burst: burst + 5, per_minute: 1 },
            ..PolicyConfig::default()
        };
        let all = on(ThirdPartyMode::All);
        let w = world("k@birdy.interop.hub.example/1", "alice@hub.example");
        let mut l = Limiter::new(&cfg);
        let allowed = (0..burst as usize + extra)
            .filter(|_| l.decide(&w.parties(), &facts(&all, &all), 0) == ALLOW)
            .count();
        prop_assert_eq!(allowed, burst as usize);
        // The sender bucket still holds its five spare tokens for another recipient.
        let w2 = world("k@birdy.interop.hub.example/1", "bob@hub.example");
        let more = (0..10)
            .filter(|_| l.decide(&w2.parties(), &facts(&all, &all), 0) == ALLOW)
            .count();
        prop_assert_eq!(more, 5.min(burst as usize));
    }
}
