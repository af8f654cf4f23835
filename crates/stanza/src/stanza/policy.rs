//! Policy, privacy and abuse payloads (DESIGN.md §8): per-user interop settings, XEP-0191
//! blocking, spam reports with evidence the reporter chooses to reveal, discovery of a
//! third-party user by visible id, and the specific refusals the hub sends back.
//!
//! ```xml
//! <settings xmlns='urn:portico:interop-settings:1' third-party='listed' discoverable='false'>
//!   <provider id='birdy' allow='true'/>
//! </settings>
//! <blocklist xmlns='urn:xmpp:blocking'><item jid='spam@hub.example'/></blocklist>
//! <block xmlns='urn:xmpp:blocking'><item jid='spam@hub.example'/></block>
//! <unblock xmlns='urn:xmpp:blocking'/>                       (no items: unblock everyone)
//! <report xmlns='urn:portico:report:1' jid='k7f3…@birdy.interop.hub.example' reason='spam'>
//!   <evidence id='01J…'>plaintext the reporter decrypted, optional</evidence>
//! </report>
//! <discover xmlns='urn:portico:discover:1' provider='birdy' visible-id='bob@birdy.example'/>
//!   → <discover … jid='k7f3…@birdy.interop.hub.example'/>
//! <rate-limited xmlns='urn:portico:policy:1' limit='pair' retry-after='3'/> (inside <error/>)
//! ```

use super::util::{DecodeError, expect, jid_attr, parse_attr, parse_req, req_attr, wire_enum};
use super::{ErrorType, StanzaCondition, StanzaError};
use crate::element::{Element, Node};
use crate::jid::Jid;
use compact_str::CompactString;

/// Namespace of the interop settings IQ.
pub const NS_SETTINGS: &str = "urn:portico:interop-settings:1";
/// Namespace of XEP-0191 blocking.
pub const NS_BLOCKING: &str = "urn:xmpp:blocking";
/// Namespace of XEP-0191's application error condition `<blocked/>`.
pub const NS_BLOCKING_ERRORS: &str = "urn:xmpp:blocking:errors";
/// Namespace of the spam report IQ.
pub const NS_REPORT: &str = "urn:portico:report:1";
/// Namespace of the discovery IQ.
pub const NS_DISCOVER: &str = "urn:portico:discover:1";
/// Namespace of Portico's policy refusal conditions.
pub const NS_POLICY: &str = "urn:portico:policy:1";

/// Default cap on evidence items in one report.
pub const DEFAULT_MAX_EVIDENCE_ITEMS: usize = 20;
/// Default cap on the revealed plaintext of one evidence item, in bytes.
pub const DEFAULT_MAX_EVIDENCE_BYTES: usize = 4096;
/// Most provider rules one settings payload may carry.
pub const MAX_PROVIDER_RULES: usize = 256;
/// Most JIDs one block or unblock request may carry.
pub const MAX_BLOCK_ITEMS: usize = 1000;

fn bool_attr(
    el: &Element,
    element: &'static str,
    attribute: &'static str,
) -> Result<Option<bool>, DecodeError> {
    match el.attr(attribute) {
        None => Ok(None),
        Some("true" | "1") => Ok(Some(true)),
        Some("false" | "0") => Ok(Some(false)),
        Some(_) => Err(DecodeError::InvalidAttribute { element, attribute }),
    }
}

fn bool_str(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

wire_enum! {
    /// Which third-party providers may reach the user at all.
    pub enum ThirdPartyMode {
        /// No third-party chats (the default for the hub's own users).
        Off => "off",
        /// Only providers with an `allow='true'` rule.
        Listed => "listed",
        /// Every provider except those with an `allow='false'` rule.
        All => "all",
    }
}

/// A per-provider rule in the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRule {
    /// The provider id (e.g. `birdy`).
    pub provider: CompactString,
    /// Allow (`true`) or deny (`false`) this provider.
    pub allow: bool,
}

/// A user's interop settings: who across the boundary may reach them, and whether they
/// can be found by their visible id. Sent empty in a `get`, full in a `set` and a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InteropSettings {
    /// Third-party chats at all, and how providers are chosen.
    pub mode: ThirdPartyMode,
    /// Per-provider allow or deny rules.
    pub providers: Vec<ProviderRule>,
    /// Whether others may find this (third-party) user by visible id.
    pub discoverable: bool,
}

impl Default for InteropSettings {
    fn default() -> Self {
        InteropSettings {
            mode: ThirdPartyMode::Off,
            providers: Vec::new(),
            discoverable: false,
        }
    }
}

impl InteropSettings {
    /// Whether a sender on `provider` may reach this user.
    pub fn allows(&self, provider: &str) -> bool {
        let rule = self.providers.iter().find(|r| r.provider == provider);
        match self.mode {
            ThirdPartyMode::Off => false,
            ThirdPartyMode::Listed => rule.is_some_and(|r| r.allow),
            ThirdPartyMode::All => rule.is_none_or(|r| r.allow),
        }
    }

    /// The request payload of a settings `get`.
    pub fn query() -> Element {
        Element::new("settings", NS_SETTINGS)
    }
}

impl From<InteropSettings> for Element {
    fn from(s: InteropSettings) -> Element {
        let mut el = Element::new("settings", NS_SETTINGS)
            .with_attr("third-party", s.mode.as_str())
            .with_attr("discoverable", bool_str(s.discoverable));
        for r in s.providers {
            el.push_child(
                Element::new("provider", NS_SETTINGS)
                    .with_attr("id", r.provider)
                    .with_attr("allow", bool_str(r.allow)),
            );
        }
        el
    }
}

impl TryFrom<Element> for InteropSettings {
    type Error = DecodeError;
    fn try_from(el: Element) -> Result<Self, DecodeError> {
        expect(&el, "settings", NS_SETTINGS)?;
        let mode = match el.attr("third-party") {
            None => ThirdPartyMode::Off,
            Some(m) => ThirdPartyMode::from_name(m).ok_or(DecodeError::InvalidAttribute {
                element: "settings",
                attribute: "third-party",
            })?,
        };
        let discoverable = bool_attr(&el, "settings", "discoverable")?.unwrap_or(false);
        let mut providers: Vec<ProviderRule> = Vec::new();
        for child in el.children().filter(|c| c.is("provider", NS_SETTINGS)) {
            if providers.len() == MAX_PROVIDER_RULES {
                return Err(DecodeError::InvalidContent {
                    element: "settings",
                    reason: "at most 256 provider rules",
                });
            }
            let provider: CompactString = child
                .attr("id")
                .ok_or(DecodeError::MissingAttribute {
                    element: "provider",
                    attribute: "id",
                })?
                .into();
            if providers.iter().any(|r| r.provider == provider) {
                return Err(DecodeError::InvalidContent {
                    element: "settings",
                    reason: "one rule per provider",
                });
            }
            let allow =
                bool_attr(child, "provider", "allow")?.ok_or(DecodeError::MissingAttribute {
                    element: "provider",
                    attribute: "allow",
                })?;
            providers.push(ProviderRule { provider, allow });
        }
        Ok(InteropSettings {
            mode,
            providers,
            discoverable,
        })
    }
}

/// An XEP-0191 payload: the blocklist request and result, block and unblock (also as the
/// pushes the server sends the user's sessions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocking {
    /// `<blocklist/>`: empty in a `get`, the blocked JIDs in the result.
    Blocklist(Vec<Jid>),
    /// `<block/>`: at least one JID.
    Block(Vec<Jid>),
    /// `<unblock/>`: these JIDs, or everyone when empty.
    Unblock(Vec<Jid>),
}

impl From<Blocking> for Element {
    fn from(b: Blocking) -> Element {
        let (name, items) = match b {
            Blocking::Blocklist(i) => ("blocklist", i),
            Blocking::Block(i) => ("block", i),
            Blocking::Unblock(i) => ("unblock", i),
        };
        let mut el = Element::new(name, NS_BLOCKING);
        for j in items {
            el.push_child(Element::new("item", NS_BLOCKING).with_attr("jid", j.to_string()));
        }
        el
    }
}

impl TryFrom<Element> for Blocking {
    type Error = DecodeError;
    fn try_from(el: Element) -> Result<Self, DecodeError> {
        if el.ns() != NS_BLOCKING {
            return Err(super::util::unexpected(&el, "blocklist", NS_BLOCKING));
        }
        let name: &'static str = match el.name() {
            "blocklist" => "blocklist",
            "block" => "block",
            "unblock" => "unblock",
            _ => return Err(super::util::unexpected(&el, "blocklist", NS_BLOCKING)),
        };
        let mut items = Vec::new();
        for child in el.children().filter(|c| c.is("item", NS_BLOCKING)) {
            if items.len() == MAX_BLOCK_ITEMS {
                return Err(DecodeError::InvalidContent {
                    element: name,
                    reason: "at most 1000 items in one request",
                });
            }
            items.push(
                jid_attr(child, "item", "jid")?.ok_or(DecodeError::MissingAttribute {
                    element: "item",
                    attribute: "jid",
                })?,
            );
        }
        Ok(match name {
            "blocklist" => Blocking::Blocklist(items),
            "block" => {
                if items.is_empty() {
                    // XEP-0191 §3.3: a block without items is a bad request.
                    return Err(DecodeError::MissingChild {
                        element: "block",
                        child: "item",
                    });
                }
                Blocking::Block(items)
            }
            _ => Blocking::Unblock(items),
        })
    }
}

/// Whether `item` (a blocklist entry) matches `jid`, following XEP-0191 §6 (XEP-0016 JID
/// matching): a full JID matches itself, a bare JID every resource of it, a domain with a
/// resource that JID, a domain every JID at that domain.
pub fn block_matches(item: &Jid, jid: &Jid) -> bool {
    if item.domain() != jid.domain() {
        return false;
    }
    match (item.node(), item.resource()) {
        (Some(n), Some(r)) => jid.node() == Some(n) && jid.resource() == Some(r),
        (Some(n), None) => jid.node() == Some(n),
        (None, Some(r)) => jid.node().is_none() && jid.resource() == Some(r),
        (None, None) => true,
    }
}

wire_enum! {
    /// Why a user reports another.
    pub enum ReportReason {
        /// Unsolicited bulk messages.
        Spam => "spam",
        /// Fraud or phishing.
        Scam => "scam",
        /// Harassment or threats.
        Abuse => "abuse",
        /// Anything else.
        Other => "other",
    }
}

/// One piece of evidence: a message the reporter received, and optionally its plaintext,
/// which only the reporter could decrypt and chooses to reveal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The message id (the sender's `id`).
    pub id: CompactString,
    /// The hub's `stanza-id` of the delivered copy, if known.
    pub stanza_id: Option<u64>,
    /// The decrypted text, only if the reporter reveals it.
    pub plaintext: Option<CompactString>,
}

/// A spam or abuse report about a JID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Who is reported (bare JID).
    pub jid: Jid,
    /// Why.
    pub reason: ReportReason,
    /// Optional evidence.
    pub evidence: Vec<Evidence>,
}

impl Report {
    /// Converts, refusing more than `max_items` evidence items or a plaintext longer than
    /// `max_bytes`.
    pub fn from_element_with_limits(
        el: Element,
        max_items: usize,
        max_bytes: usize,
    ) -> Result<Self, DecodeError> {
        expect(&el, "report", NS_REPORT)?;
        let jid = jid_attr(&el, "report", "jid")?.ok_or(DecodeError::MissingAttribute {
            element: "report",
            attribute: "jid",
        })?;
        let reason = el
            .attr("reason")
            .map(|r| {
                ReportReason::from_name(r).ok_or(DecodeError::InvalidAttribute {
                    element: "report",
                    attribute: "reason",
                })
            })
            .transpose()?
            .unwrap_or(ReportReason::Other);
        let mut evidence = Vec::new();
        for child in el.children().filter(|c| c.is("evidence", NS_REPORT)) {
            if evidence.len() == max_items {
                return Err(DecodeError::InvalidContent {
                    element: "report",
                    reason: "too many evidence items (policy.report_max_evidence)",
                });
            }
            let id: CompactString = child
                .attr("id")
                .ok_or(DecodeError::MissingAttribute {
                    element: "evidence",
                    attribute: "id",
                })?
                .into();
            let stanza_id = parse_attr(child, "evidence", "stanza-id")?;
            let has_text = child.nodes().iter().any(|n| matches!(n, Node::Text(_)));
            let plaintext = has_text.then(|| child.text());
            if plaintext.as_ref().is_some_and(|t| t.len() > max_bytes) {
                return Err(DecodeError::InvalidContent {
                    element: "evidence",
                    reason: "revealed plaintext too long (policy.report_max_evidence_bytes)",
                });
            }
            evidence.push(Evidence {
                id,
                stanza_id,
                plaintext,
            });
        }
        Ok(Report {
            jid,
            reason,
            evidence,
        })
    }
}

impl TryFrom<Element> for Report {
    type Error = DecodeError;
    fn try_from(el: Element) -> Result<Self, DecodeError> {
        Report::from_element_with_limits(el, DEFAULT_MAX_EVIDENCE_ITEMS, DEFAULT_MAX_EVIDENCE_BYTES)
    }
}

impl From<Report> for Element {
    fn from(r: Report) -> Element {
        let mut el = Element::new("report", NS_REPORT)
            .with_attr("jid", r.jid.to_string())
            .with_attr("reason", r.reason.as_str());
        for e in r.evidence {
            let mut child = Element::new("evidence", NS_REPORT)
                .with_attr("id", e.id)
                .with_opt_attr("stanza-id", e.stanza_id.map(|s| s.to_string()));
            if let Some(t) = e.plaintext.filter(|t| !t.is_empty()) {
                child.push_text_owned(t);
            }
            el.push_child(child);
        }
        el
    }
}

/// Discovery of a third-party user by provider and visible id. The request has no `jid`;
/// the result carries it (only when that user allows discovery).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discover {
    /// The provider id.
    pub provider: CompactString,
    /// The visible id on that provider.
    pub visible_id: CompactString,
    /// The internal JID (in results).
    pub jid: Option<Jid>,
}

impl From<Discover> for Element {
    fn from(d: Discover) -> Element {
        Element::new("discover", NS_DISCOVER)
            .with_attr("provider", d.provider)
            .with_attr("visible-id", d.visible_id)
            .with_opt_attr("jid", d.jid.map(|j| j.to_string()))
    }
}

impl TryFrom<Element> for Discover {
    type Error = DecodeError;
    fn try_from(mut el: Element) -> Result<Self, DecodeError> {
        expect(&el, "discover", NS_DISCOVER)?;
        let jid = jid_attr(&el, "discover", "jid")?;
        Ok(Discover {
            provider: req_attr(&mut el, "discover", "provider")?,
            visible_id: req_attr(&mut el, "discover", "visible-id")?,
            jid,
        })
    }
}

wire_enum! {
    /// Which token bucket ran dry.
    pub enum RateLimit {
        /// Messages from one sender to one recipient.
        Pair => "pair",
        /// Messages from one sender.
        Sender => "sender",
        /// Messages from all users of one provider.
        Provider => "provider",
        /// Messages from one network address.
        Address => "address",
        /// Discovery lookups (`urn:portico:discover:1`) by one user.
        Discover => "discover",
    }
}

wire_enum! {
    /// Whose settings refused a message across the boundary.
    pub enum Party {
        /// The sender's own settings.
        Sender => "sender",
        /// The recipient's settings.
        Recipient => "recipient",
    }
}

/// A policy refusal, carried as the application condition of a stanza error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A message across the third-party boundary to or from someone who has not opted in
    /// (`forbidden`, `<not-opted-in party=… provider=…/>`).
    NotOptedIn {
        /// Whose settings refused it.
        party: Party,
        /// The provider on the other side, if any.
        provider: Option<CompactString>,
    },
    /// The sender blocked the recipient (XEP-0191: `not-acceptable` with
    /// `<blocked xmlns='urn:xmpp:blocking:errors'/>`).
    Blocked,
    /// A rate limit (`policy-violation`, type `wait`).
    RateLimited {
        /// Which bucket.
        limit: RateLimit,
        /// Seconds until a message would pass.
        retry_after: u64,
    },
    /// A third-party sender wrote to too many new contacts today.
    NewContactLimit {
        /// The limit per day.
        max_per_day: u32,
        /// Seconds until a new contact would pass.
        retry_after: u64,
    },
}

impl Refusal {
    /// The stanza error carrying this refusal, with a text that says what to do.
    pub fn into_stanza_error(self) -> StanzaError {
        let (condition, kind, text) = match &self {
            Refusal::NotOptedIn {
                party: Party::Sender,
                ..
            } => (
                StanzaCondition::Forbidden,
                ErrorType::Cancel,
                "you have not enabled chats with this provider; change your interop settings first"
                    .to_owned(),
            ),
            Refusal::NotOptedIn {
                party: Party::Recipient,
                ..
            } => (
                StanzaCondition::Forbidden,
                ErrorType::Cancel,
                "the recipient does not accept chats from your network".to_owned(),
            ),
            Refusal::Blocked => (
                StanzaCondition::NotAcceptable,
                ErrorType::Cancel,
                "you blocked this contact; unblock them to write to them".to_owned(),
            ),
            Refusal::RateLimited { limit, retry_after } => (
                StanzaCondition::PolicyViolation,
                ErrorType::Wait,
                format!("rate limit reached ({limit}); retry in {retry_after} s"),
            ),
            Refusal::NewContactLimit {
                max_per_day,
                retry_after,
            } => (
                StanzaCondition::PolicyViolation,
                ErrorType::Wait,
                format!("at most {max_per_day} new contacts a day; retry in {retry_after} s"),
            ),
        };
        let mut e = StanzaError::new(condition).with_text(text);
        e.kind = kind;
        e.app = Some(self.into());
        e
    }

    /// Reads the refusal out of a stanza error, if it carries one.
    pub fn from_stanza_error(e: &StanzaError) -> Option<Result<Self, DecodeError>> {
        let app = e.app.as_ref()?;
        (app.ns() == NS_POLICY || app.is("blocked", NS_BLOCKING_ERRORS))
            .then(|| Refusal::try_from(app.clone()))
    }
}

impl From<Refusal> for Element {
    fn from(r: Refusal) -> Element {
        match r {
            Refusal::NotOptedIn { party, provider } => Element::new("not-opted-in", NS_POLICY)
                .with_attr("party", party.as_str())
                .with_opt_attr("provider", provider),
            Refusal::Blocked => Element::new("blocked", NS_BLOCKING_ERRORS),
            Refusal::RateLimited { limit, retry_after } => Element::new("rate-limited", NS_POLICY)
                .with_attr("limit", limit.as_str())
                .with_attr("retry-after", retry_after.to_string()),
            Refusal::NewContactLimit {
                max_per_day,
                retry_after,
            } => Element::new("new-contact-limit", NS_POLICY)
                .with_attr("max", max_per_day.to_string())
                .with_attr("retry-after", retry_after.to_string()),
        }
    }
}

impl TryFrom<Element> for Refusal {
    type Error = DecodeError;
    fn try_from(mut el: Element) -> Result<Self, DecodeError> {
        if el.is("blocked", NS_BLOCKING_ERRORS) {
            return Ok(Refusal::Blocked);
        }
        if el.ns() != NS_POLICY {
            return Err(super::util::unexpected(&el, "not-opted-in", NS_POLICY));
        }
        match el.name() {
            "not-opted-in" => {
                let party = el.attr("party").and_then(Party::from_name).ok_or(
                    DecodeError::InvalidAttribute {
                        element: "not-opted-in",
                        attribute: "party",
                    },
                )?;
                Ok(Refusal::NotOptedIn {
                    party,
                    provider: el.take_attr("provider"),
                })
            }
            "rate-limited" => Ok(Refusal::RateLimited {
                limit: el.attr("limit").and_then(RateLimit::from_name).ok_or(
                    DecodeError::InvalidAttribute {
                        element: "rate-limited",
                        attribute: "limit",
                    },
                )?,
                retry_after: parse_req(&el, "rate-limited", "retry-after")?,
            }),
            "new-contact-limit" => Ok(Refusal::NewContactLimit {
                max_per_day: parse_req(&el, "new-contact-limit", "max")?,
                retry_after: parse_req(&el, "new-contact-limit", "retry-after")?,
            }),
            _ => Err(super::util::unexpected(&el, "not-opted-in", NS_POLICY)),
        }
    }
}
