//! XML namespace names used by XMPP and by Portico's own extensions.

/// The client-to-server stanza namespace (RFC 6120), the default namespace of a c2s stream.
pub const JABBER_CLIENT: &str = "jabber:client";
/// The server-to-server stanza namespace (RFC 6120).
pub const JABBER_SERVER: &str = "jabber:server";
/// The stream namespace, bound to the `stream` prefix (RFC 6120 §4.8.1).
pub const STREAM: &str = "http://etherx.jabber.org/streams";
/// Stream error conditions (RFC 6120 §4.9.3).
pub const STREAM_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
/// Stanza error conditions (RFC 6120 §8.3.3).
pub const STANZA_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
/// STARTTLS negotiation (RFC 6120 §5).
pub const TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
/// SASL negotiation (RFC 6120 §6).
pub const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
/// Resource binding (RFC 6120 §7).
pub const BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
/// Stream management (XEP-0198).
pub const SM: &str = "urn:xmpp:sm:3";
/// XMPP ping (XEP-0199).
pub const PING: &str = "urn:xmpp:ping";
/// Service discovery, info (XEP-0030).
pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
/// The `xml` prefix's namespace, bound by the XML Namespaces specification itself.
pub const XML: &str = "http://www.w3.org/XML/1998/namespace";
/// Portico's end-to-end encrypted payloads: `<e2ee>`, `<ack>`, `<received>`, `<device-mismatch>`.
pub const PORTICO_E2EE: &str = "urn:portico:e2ee:1";
/// Portico's key directory IQ payloads: publish, fetch, count, low-stock, device lists.
pub const PORTICO_KEYS: &str = "urn:portico:keys:1";
/// Portico's hub-stamped third-party origin marker `<interop provider= visible=/>`.
pub const PORTICO_INTEROP: &str = "urn:portico:interop:1";
/// WebSocket framing (RFC 7395).
pub const FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";

/// Every namespace above; the parser shares these strings instead of allocating per element.
pub(crate) const KNOWN: &[&str] = &[
    JABBER_CLIENT,
    PORTICO_E2EE,
    STREAM,
    STANZA_ERRORS,
    STREAM_ERRORS,
    SASL,
    BIND,
    SM,
    PORTICO_KEYS,
    PORTICO_INTEROP,
    TLS,
    PING,
    DISCO_INFO,
    JABBER_SERVER,
    XML,
    FRAMING,
];
