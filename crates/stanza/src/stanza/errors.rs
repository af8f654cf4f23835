//! Stream errors (RFC 6120 §4.9) and stanza errors (RFC 6120 §8.3).

use super::util::{DecodeError, expect, jid_attr, wire_enum};
use crate::element::{Element, Node};
use crate::jid::Jid;
use crate::ns;
use compact_str::CompactString;

wire_enum! {
    /// A stream error condition (RFC 6120 §4.9.3).
    pub enum StreamErrorCondition {
        /// The entity sent XML that cannot be processed.
        BadFormat => "bad-format",
        /// An unsupported or unbound namespace prefix.
        BadNamespacePrefix => "bad-namespace-prefix",
        /// A new stream for this entity replaces this one.
        Conflict => "conflict",
        /// The peer has not sent traffic for too long.
        ConnectionTimeout => "connection-timeout",
        /// The `to` domain is no longer served.
        HostGone => "host-gone",
        /// The `to` domain is not served here.
        HostUnknown => "host-unknown",
        /// A stanza lacks a required `to` or `from`.
        ImproperAddressing => "improper-addressing",
        /// The server hit an internal error.
        InternalServerError => "internal-server-error",
        /// `from` does not match the authenticated identity.
        InvalidFrom => "invalid-from",
        /// The stream or content namespace is wrong.
        InvalidNamespace => "invalid-namespace",
        /// Invalid XML.
        InvalidXml => "invalid-xml",
        /// Data sent before the stream was authenticated.
        NotAuthorized => "not-authorized",
        /// The XML is not well-formed.
        NotWellFormed => "not-well-formed",
        /// A local policy (such as a size limit) was broken.
        PolicyViolation => "policy-violation",
        /// The server could not reach a remote server.
        RemoteConnectionFailed => "remote-connection-failed",
        /// The server is resetting the stream.
        Reset => "reset",
        /// The server lacks resources to serve the stream.
        ResourceConstraint => "resource-constraint",
        /// Restricted XML (comments, PIs, DTDs, entity references) was sent.
        RestrictedXml => "restricted-xml",
        /// Connect to another host.
        SeeOtherHost => "see-other-host",
        /// The server is shutting down.
        SystemShutdown => "system-shutdown",
        /// None of the above.
        UndefinedCondition => "undefined-condition",
        /// An encoding other than UTF-8.
        UnsupportedEncoding => "unsupported-encoding",
        /// A required stream feature is not supported.
        UnsupportedFeature => "unsupported-feature",
        /// A top-level element the server does not understand.
        UnsupportedStanzaType => "unsupported-stanza-type",
        /// An unsupported stream version.
        UnsupportedVersion => "unsupported-version",
    }
}

wire_enum! {
    /// The `type` of a stanza error (RFC 6120 §8.3.2).
    pub enum ErrorType {
        /// Retry after providing credentials.
        Auth => "auth",
        /// Do not retry.
        Cancel => "cancel",
        /// Proceed; the condition was only a warning.
        Continue => "continue",
        /// Retry after changing the data sent.
        Modify => "modify",
        /// Retry after waiting.
        Wait => "wait",
    }
}

wire_enum! {
    /// A stanza error condition (RFC 6120 §8.3.3).
    pub enum StanzaCondition {
        /// The request was malformed.
        BadRequest => "bad-request",
        /// A resource or session with that name already exists.
        Conflict => "conflict",
        /// The feature is not implemented.
        FeatureNotImplemented => "feature-not-implemented",
        /// The requester lacks permission.
        Forbidden => "forbidden",
        /// The recipient is no longer at this address.
        Gone => "gone",
        /// The server hit an internal error.
        InternalServerError => "internal-server-error",
        /// The addressed item does not exist.
        ItemNotFound => "item-not-found",
        /// The JID is malformed.
        JidMalformed => "jid-malformed",
        /// The request does not meet the recipient's criteria.
        NotAcceptable => "not-acceptable",
        /// No entity may perform this action.
        NotAllowed => "not-allowed",
        /// Authenticate first.
        NotAuthorized => "not-authorized",
        /// A local policy was broken (such as a rate limit).
        PolicyViolation => "policy-violation",
        /// The recipient is temporarily unavailable.
        RecipientUnavailable => "recipient-unavailable",
        /// Redirected elsewhere.
        Redirect => "redirect",
        /// Registration is required.
        RegistrationRequired => "registration-required",
        /// The remote server does not exist.
        RemoteServerNotFound => "remote-server-not-found",
        /// The remote server timed out.
        RemoteServerTimeout => "remote-server-timeout",
        /// The server lacks resources.
        ResourceConstraint => "resource-constraint",
        /// The service is unavailable.
        ServiceUnavailable => "service-unavailable",
        /// A subscription is required.
        SubscriptionRequired => "subscription-required",
        /// None of the above.
        UndefinedCondition => "undefined-condition",
        /// The request was not expected now.
        UnexpectedRequest => "unexpected-request",
    }
}

impl StanzaCondition {
    /// The error type RFC 6120 suggests for this condition.
    pub fn default_type(self) -> ErrorType {
        use StanzaCondition::*;
        match self {
            BadRequest | JidMalformed | NotAcceptable | PolicyViolation | Redirect | Gone => {
                ErrorType::Modify
            }
            NotAuthorized | Forbidden | RegistrationRequired | SubscriptionRequired => {
                ErrorType::Auth
            }
            RecipientUnavailable | RemoteServerTimeout | ResourceConstraint | UnexpectedRequest => {
                ErrorType::Wait
            }
            _ => ErrorType::Cancel,
        }
    }
}

/// A `<stream:error>`: sent just before the stream is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamError {
    /// The defined condition.
    pub condition: StreamErrorCondition,
    /// Human-readable text (no user content).
    pub text: Option<CompactString>,
    /// An application-specific condition element.
    pub app: Option<Element>,
}

impl StreamError {
    /// An error with a condition and explanatory text.
    pub fn new(condition: StreamErrorCondition, text: impl Into<CompactString>) -> Self {
        StreamError {
            condition,
            text: Some(text.into()),
            app: None,
        }
    }

    /// The `<stream:error>` followed by `</stream:stream>`, ready to write.
    pub fn to_closing_bytes(&self) -> Vec<u8> {
        let mut out = Element::from(self.clone()).to_bytes();
        out.extend_from_slice(crate::parser::STREAM_END);
        out
    }
}

impl From<StreamError> for Element {
    fn from(e: StreamError) -> Element {
        let mut el = Element::new("error", ns::STREAM);
        el.push_child(Element::new(e.condition.as_str(), ns::STREAM_ERRORS));
        if let Some(t) = e.text {
            el.push_child(Element::new("text", ns::STREAM_ERRORS).with_text(t));
        }
        if let Some(app) = e.app {
            el.push_child(app);
        }
        el
    }
}

impl TryFrom<Element> for StreamError {
    type Error = DecodeError;
    fn try_from(mut el: Element) -> Result<Self, DecodeError> {
        expect(&el, "error", ns::STREAM)?;
        let (condition, text, app) = conditions(&mut el, ns::STREAM_ERRORS, "error", |n| {
            StreamErrorCondition::from_name(n).unwrap_or(StreamErrorCondition::UndefinedCondition)
        })?;
        Ok(StreamError {
            condition,
            text,
            app,
        })
    }
}

type Parts<C> = (C, Option<CompactString>, Option<Element>);

/// Splits the children of an error element into condition, text and application element.
fn conditions<C>(
    el: &mut Element,
    cond_ns: &str,
    element: &'static str,
    parse: impl Fn(&str) -> C,
) -> Result<Parts<C>, DecodeError> {
    let mut condition = None;
    let mut text = None;
    let mut app = None;
    for node in el.take_nodes() {
        let Node::Element(child) = node else { continue };
        if child.ns() == cond_ns {
            if child.name() == "text" {
                text = Some(child.into_text());
            } else if condition.is_none() {
                condition = Some(parse(child.name()));
            }
        } else if app.is_none() {
            app = Some(child);
        }
    }
    let condition = condition.ok_or(DecodeError::MissingChild {
        element,
        child: "condition",
    })?;
    Ok((condition, text, app))
}

/// An `<error>` child of a stanza of type `error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StanzaError {
    /// What the requester should do.
    pub kind: ErrorType,
    /// The defined condition.
    pub condition: StanzaCondition,
    /// The entity that generated the error.
    pub by: Option<Jid>,
    /// Human-readable text (no user content).
    pub text: Option<CompactString>,
    /// An application-specific condition, e.g. a Portico `<device-mismatch>`.
    pub app: Option<Element>,
}

impl StanzaError {
    /// An error with the condition's default type and no text.
    pub fn new(condition: StanzaCondition) -> Self {
        StanzaError {
            kind: condition.default_type(),
            condition,
            by: None,
            text: None,
            app: None,
        }
    }

    /// Adds explanatory text.
    pub fn with_text(mut self, text: impl Into<CompactString>) -> Self {
        self.text = Some(text.into());
        self
    }
}

impl From<StanzaError> for Element {
    fn from(e: StanzaError) -> Element {
        let mut el = Element::new("error", ns::JABBER_CLIENT)
            .with_attr("type", e.kind.as_str())
            .with_opt_attr("by", e.by.map(|j| j.to_string()));
        el.push_child(Element::new(e.condition.as_str(), ns::STANZA_ERRORS));
        if let Some(t) = e.text {
            el.push_child(Element::new("text", ns::STANZA_ERRORS).with_text(t));
        }
        if let Some(app) = e.app {
            el.push_child(app);
        }
        el
    }
}

impl TryFrom<Element> for StanzaError {
    type Error = DecodeError;
    fn try_from(mut el: Element) -> Result<Self, DecodeError> {
        expect(&el, "error", ns::JABBER_CLIENT)?;
        let kind = el
            .attr("type")
            .ok_or(DecodeError::MissingAttribute {
                element: "error",
                attribute: "type",
            })
            .and_then(|t| {
                ErrorType::from_name(t).ok_or(DecodeError::InvalidAttribute {
                    element: "error",
                    attribute: "type",
                })
            })?;
        let by = jid_attr(&el, "error", "by")?;
        let (condition, text, app) = conditions(&mut el, ns::STANZA_ERRORS, "error", |n| {
            StanzaCondition::from_name(n).unwrap_or(StanzaCondition::UndefinedCondition)
        })?;
        Ok(StanzaError {
            kind,
            condition,
            by,
            text,
            app,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_error_round_trips_and_reads_wire_form() {
        let e = StreamError::new(StreamErrorCondition::PolicyViolation, "too big");
        let el = Element::from(e.clone());
        assert_eq!(
            String::from_utf8_lossy(&el.to_bytes()),
            "<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>too big</text></stream:error>"
        );
        let back = Element::from_bytes(&el.to_bytes()).expect("parses");
        assert_eq!(StreamError::try_from(back), Ok(e));
    }

    #[test]
    fn stanza_error_needs_type_and_condition() {
        let el = Element::from_bytes(b"<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>")
            .expect("parses");
        let e = StanzaError::try_from(el).expect("valid");
        assert_eq!(e.condition, StanzaCondition::ItemNotFound);
        let el = Element::from_bytes(
            b"<error><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>",
        )
        .expect("parses");
        assert_eq!(
            StanzaError::try_from(el),
            Err(DecodeError::MissingAttribute {
                element: "error",
                attribute: "type"
            })
        );
    }
}
