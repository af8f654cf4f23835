//! Stream negotiation elements: `<stream:features>`, STARTTLS (RFC 6120 §5), SASL
//! (RFC 6120 §6), resource binding (RFC 6120 §7) and stream management (XEP-0198).

use super::StanzaCondition;
use super::util::{
    DecodeError, b64_decode, b64_encode, expect, parse_attr, parse_req, req_attr, unexpected,
    wire_enum,
};
use crate::element::{Element, Node};
use crate::jid::Jid;
use crate::ns;
use compact_str::CompactString;
use zeroize::Zeroizing;

/// `<stream:features>`: what the receiving entity offers at this stage.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamFeatures {
    /// STARTTLS offered; `Some(true)` if required.
    pub starttls: Option<bool>,
    /// SASL mechanisms offered, in preference order (empty: none offered).
    pub mechanisms: Vec<CompactString>,
    /// Resource binding offered.
    pub bind: bool,
    /// Stream management (XEP-0198) offered.
    pub sm: bool,
    /// Other features, kept.
    pub extra: Vec<Element>,
}

impl From<StreamFeatures> for Element {
    fn from(f: StreamFeatures) -> Element {
        let mut el = Element::new("features", ns::STREAM);
        if let Some(required) = f.starttls {
            let mut tls = Element::new("starttls", ns::TLS);
            if required {
                tls.push_child(Element::new("required", ns::TLS));
            }
            el.push_child(tls);
        }
        if !f.mechanisms.is_empty() {
            let mut m = Element::new("mechanisms", ns::SASL);
            for name in f.mechanisms {
                m.push_child(Element::new("mechanism", ns::SASL).with_text(name));
            }
            el.push_child(m);
        }
        if f.bind {
            el.push_child(Element::new("bind", ns::BIND));
        }
        if f.sm {
            el.push_child(Element::new("sm", ns::SM));
        }
        for x in f.extra {
            el.push_child(x);
        }
        el
    }
}

impl TryFrom<Element> for StreamFeatures {
    type Error = DecodeError;
    fn try_from(mut el: Element) -> Result<Self, DecodeError> {
        expect(&el, "features", ns::STREAM)?;
        let mut f = StreamFeatures::default();
        for node in el.take_nodes() {
            let Node::Element(child) = node else { continue };
            match (child.ns(), child.name()) {
                (ns::TLS, "starttls") => {
                    f.starttls = Some(child.get_child("required", ns::TLS).is_some())
                }
                (ns::SASL, "mechanisms") => {
                    f.mechanisms = child
                        .children()
                        .filter(|m| m.is("mechanism", ns::SASL))
                        .map(|m| CompactString::from(m.text().trim()))
                        .collect()
                }
                (ns::BIND, "bind") => f.bind = true,
                (ns::SM, "sm") => f.sm = true,
                _ => f.extra.push(child),
            }
        }
        Ok(f)
    }
}

/// STARTTLS nonzas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartTls {
    /// `<starttls/>`: the initiator asks to upgrade.
    Request,
    /// `<proceed/>`: go ahead with the TLS handshake.
    Proceed,
    /// `<failure/>`: TLS negotiation failed; the stream closes.
    Failure,
}

impl From<StartTls> for Element {
    fn from(s: StartTls) -> Element {
        let name = match s {
            StartTls::Request => "starttls",
            StartTls::Proceed => "proceed",
            StartTls::Failure => "failure",
        };
        Element::new(name, ns::TLS)
    }
}

impl TryFrom<Element> for StartTls {
    type Error = DecodeError;
    fn try_from(el: Element) -> Result<Self, DecodeError> {
        match (el.ns(), el.name()) {
            (ns::TLS, "starttls") => Ok(StartTls::Request),
            (ns::TLS, "proceed") => Ok(StartTls::Proceed),
            (ns::TLS, "failure") => Ok(StartTls::Failure),
            _ => Err(unexpected(&el, "starttls", ns::TLS)),
        }
    }
}

wire_enum! {
    /// A SASL failure condition (RFC 6120 §6.5).
    pub enum SaslCondition {
        /// The initiator aborted.
        Aborted => "aborted",
        /// The account is disabled.
        AccountDisabled => "account-disabled",
        /// The credentials have expired.
        CredentialsExpired => "credentials-expired",
        /// The mechanism needs an encrypted stream.
        EncryptionRequired => "encryption-required",
        /// The data was not correctly base64-encoded.
        IncorrectEncoding => "incorrect-encoding",
        /// The authorization identity is not allowed.
        InvalidAuthzid => "invalid-authzid",
        /// The mechanism is not supported.
        InvalidMechanism => "invalid-mechanism",
        /// The request is malformed.
        MalformedRequest => "malformed-request",
        /// The mechanism is weaker than policy allows.
        MechanismTooWeak => "mechanism-too-weak",
        /// The credentials are wrong.
        NotAuthorized => "not-authorized",
        /// A temporary error; try again later.
        TemporaryAuthFailure => "temporary-auth-failure",
    }
}

/// Bytes carried by SASL nonzas; wiped on drop (PLAIN carries a password).
pub type SaslData = Zeroizing<Vec<u8>>;

/// SASL nonzas (RFC 6120 §6.4). Payloads are raw bytes (base64 on the wire; `=` is empty).
#[derive(Clone, PartialEq, Eq)]
pub enum Sasl {
    /// `<auth mechanism=…>`, with the initial response if any.
    Auth {
        /// The mechanism name.
        mechanism: CompactString,
        /// The initial response (`None`: none sent; `Some(empty)`: sent as `=`).
        initial: Option<SaslData>,
    },
    /// `<challenge>`.
    Challenge(SaslData),
    /// `<response>`.
    Response(SaslData),
    /// `<success>`, with additional data if any.
    Success(Option<SaslData>),
    /// `<failure>`.
    Failure {
        /// The condition.
        condition: SaslCondition,
        /// Human-readable text.
        text: Option<CompactString>,
    },
    /// `<abort/>`.
    Abort,
}

impl std::fmt::Debug for Sasl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = |d: &Option<SaslData>| d.as_ref().map(|d| d.len());
        match self {
            Sasl::Auth { mechanism, initial } => write!(
                f,
                "Auth {{ mechanism: {mechanism:?}, initial: {:?} bytes }}",
                len(initial)
            ),
            Sasl::Challenge(d) => write!(f, "Challenge({} bytes)", d.len()),
            Sasl::Response(d) => write!(f, "Response({} bytes)", d.len()),
            Sasl::Success(d) => write!(f, "Success({:?} bytes)", len(d)),
            Sasl::Failure { condition, text } => {
                write!(f, "Failure {{ condition: {condition:?}, text: {text:?} }}")
            }
            Sasl::Abort => f.write_str("Abort"),
        }
    }
}

fn data_el(name: &str, data: Option<&[u8]>) -> Element {
    let el = Element::new(name, ns::SASL);
    match data {
        None => el,
        Some([]) => el.with_text("="),
        Some(d) => el.with_text(b64_encode(d)),
    }
}

fn read_data(el: &Element, element: &'static str) -> Result<Option<SaslData>, DecodeError> {
    let text = el.text();
    let text = text.trim();
    match text {
        "" => Ok(None),
        "=" => Ok(Some(Zeroizing::new(Vec::new()))),
        t => b64_decode(t, element).map(|v| Some(Zeroizing::new(v))),
    }
}

impl From<Sasl> for Element {
    fn from(s: Sasl) -> Element {
        match s {
            Sasl::Auth { mechanism, initial } => {
                data_el("auth", initial.as_deref().map(Vec::as_slice))
                    .with_attr("mechanism", mechanism)
            }
            Sasl::Challenge(d) => data_el("challenge", Some(&d)),
            Sasl::Response(d) => data_el("response", Some(&d)),
            Sasl::Success(d) => data_el("success", d.as_deref().map(Vec::as_slice)),
            Sasl::Failure { condition, text } => {
                let mut el = Element::new("failure", ns::SASL)
                    .with_child(Element::new(condition.as_str(), ns::SASL));
                if let Some(t) = text {
                    el.push_child(Element::new("text", ns::SASL).with_text(t));
                }
                el
            }
            Sasl::Abort => Element::new("abort", ns::SASL),
        }
    }
}

impl TryFrom<Element> for Sasl {
    type Error = DecodeError;
    fn try_from(mut el: Element) -> Result<Self, DecodeError> {
        if el.ns() != ns::SASL {
            return Err(unexpected(&el, "auth", ns::SASL));
        }
        let empty = || Zeroizing::new(Vec::new());
        Ok(match el.name() {
            "auth" => Sasl::Auth {
                initial: read_data(&el, "auth")?,
                mechanism: req_attr(&mut el, "auth", "mechanism")?,
            },
            "challenge" => Sasl::Challenge(read_data(&el, "challenge")?.unwrap_or_else(empty)),
            "response" => Sasl::Response(read_data(&el, "response")?.unwrap_or_else(empty)),
            "success" => Sasl::Success(read_data(&el, "success")?),
            "failure" => {
                let mut condition = SaslCondition::NotAuthorized;
                let mut text = None;
                for child in el.children() {
                    if child.name() == "text" {
                        text = Some(child.text());
                    } else if let Some(c) = SaslCondition::from_name(child.name()) {
                        condition = c;
                    }
                }
                Sasl::Failure { condition, text }
            }
            "abort" => Sasl::Abort,
            _ => return Err(unexpected(&el, "auth", ns::SASL)),
        })
    }
}

/// Resource binding payloads (inside an IQ).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    /// The client's request, with the resource it wants (or `None`: server decides).
    Request(Option<CompactString>),
    /// The server's answer with the full JID bound.
    Result(Jid),
}

impl From<Bind> for Element {
    fn from(b: Bind) -> Element {
        let el = Element::new("bind", ns::BIND);
        match b {
            Bind::Request(None) => el,
            Bind::Request(Some(r)) => {
                el.with_child(Element::new("resource", ns::BIND).with_text(r))
            }
            Bind::Result(j) => {
                el.with_child(Element::new("jid", ns::BIND).with_text(j.to_string()))
            }
        }
    }
}

impl TryFrom<Element> for Bind {
    type Error = DecodeError;
    fn try_from(el: Element) -> Result<Self, DecodeError> {
        expect(&el, "bind", ns::BIND)?;
        if let Some(j) = el.get_child("jid", ns::BIND) {
            let jid = Jid::parse(&j.text()).map_err(|source| DecodeError::InvalidJid {
                element: "jid",
                attribute: "text",
                source,
            })?;
            return Ok(Bind::Result(jid));
        }
        let resource = el
            .get_child("resource", ns::BIND)
            .map(|r| CompactString::from(r.text().trim()))
            .filter(|r| !r.is_empty());
        Ok(Bind::Request(resource))
    }
}

/// Stream management nonzas (XEP-0198).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sm {
    /// `<enable/>`.
    Enable {
        /// Ask for resumption.
        resume: bool,
        /// Preferred maximum resumption time, seconds.
        max: Option<u32>,
    },
    /// `<enabled/>`.
    Enabled {
        /// The resumption id (present if resumption is allowed).
        id: Option<CompactString>,
        /// Resumption allowed.
        resume: bool,
        /// Maximum resumption time, seconds.
        max: Option<u32>,
        /// Preferred reconnection address.
        location: Option<CompactString>,
    },
    /// `<r/>`: ack request.
    Request,
    /// `<a h=…/>`: ack answer with the count of stanzas handled.
    Answer {
        /// Stanzas handled, modulo 2^32.
        h: u32,
    },
    /// `<resume/>`.
    Resume {
        /// The previous stream's resumption id.
        previd: CompactString,
        /// Stanzas the client handled on the previous stream.
        h: u32,
    },
    /// `<resumed/>`.
    Resumed {
        /// The resumed stream's id.
        previd: CompactString,
        /// Stanzas the server handled on the previous stream.
        h: u32,
    },
    /// `<failed/>`.
    Failed {
        /// Stanzas the server handled, if known.
        h: Option<u32>,
        /// Why.
        condition: Option<StanzaCondition>,
    },
}

fn bool_attr(
    el: &Element,
    element: &'static str,
    attribute: &'static str,
) -> Result<bool, DecodeError> {
    match el.attr(attribute) {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(_) => Err(DecodeError::InvalidAttribute { element, attribute }),
    }
}

impl From<Sm> for Element {
    fn from(s: Sm) -> Element {
        let el = |name| Element::new(name, ns::SM);
        match s {
            Sm::Enable { resume, max } => el("enable")
                .with_opt_attr("resume", resume.then_some("true"))
                .with_opt_attr("max", max.map(|m| m.to_string())),
            Sm::Enabled {
                id,
                resume,
                max,
                location,
            } => el("enabled")
                .with_opt_attr("id", id)
                .with_opt_attr("resume", resume.then_some("true"))
                .with_opt_attr("max", max.map(|m| m.to_string()))
                .with_opt_attr("location", location),
            Sm::Request => el("r"),
            Sm::Answer { h } => el("a").with_attr("h", h.to_string()),
            Sm::Resume { previd, h } => el("resume")
                .with_attr("previd", previd)
                .with_attr("h", h.to_string()),
            Sm::Resumed { previd, h } => el("resumed")
                .with_attr("previd", previd)
                .with_attr("h", h.to_string()),
            Sm::Failed { h, condition } => {
                let mut f = el("failed").with_opt_attr("h", h.map(|h| h.to_string()));
                if let Some(c) = condition {
                    f.push_child(Element::new(c.as_str(), ns::STANZA_ERRORS));
                }
                f
            }
        }
    }
}

impl TryFrom<Element> for Sm {
    type Error = DecodeError;
    fn try_from(mut el: Element) -> Result<Self, DecodeError> {
        if el.ns() != ns::SM {
            return Err(unexpected(&el, "enable", ns::SM));
        }
        Ok(match el.name() {
            "enable" => Sm::Enable {
                resume: bool_attr(&el, "enable", "resume")?,
                max: parse_attr(&el, "enable", "max")?,
            },
            "enabled" => Sm::Enabled {
                resume: bool_attr(&el, "enabled", "resume")?,
                max: parse_attr(&el, "enabled", "max")?,
                id: el.take_attr("id"),
                location: el.take_attr("location"),
            },
            "r" => Sm::Request,
            "a" => Sm::Answer {
                h: parse_req(&el, "a", "h")?,
            },
            "resume" => Sm::Resume {
                h: parse_req(&el, "resume", "h")?,
                previd: req_attr(&mut el, "resume", "previd")?,
            },
            "resumed" => Sm::Resumed {
                h: parse_req(&el, "resumed", "h")?,
                previd: req_attr(&mut el, "resumed", "previd")?,
            },
            "failed" => Sm::Failed {
                h: parse_attr(&el, "failed", "h")?,
                condition: el
                    .children()
                    .filter(|c| c.ns() == ns::STANZA_ERRORS)
                    .find_map(|c| StanzaCondition::from_name(c.name())),
            },
            _ => return Err(unexpected(&el, "enable", ns::SM)),
        })
    }
}
