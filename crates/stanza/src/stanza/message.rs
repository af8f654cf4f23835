//! `<message/>` stanzas (RFC 6121 §5) with Portico's payloads typed.

use super::StanzaError;
use super::e2ee::{Ack, E2ee, Interop, Received};
use super::util::{DecodeError, expect, jid_attr, wire_enum};
use crate::element::{Element, Node, write_attr, write_jid_attr};
use crate::jid::Jid;
use crate::ns;
use compact_str::CompactString;

wire_enum! {
    /// The `type` of a message.
    pub enum MessageType {
        /// One-to-one chat.
        Chat => "chat",
        /// An error reply.
        Error => "error",
        /// Group chat.
        Groupchat => "groupchat",
        /// An alert or notice that expects no reply.
        Headline => "headline",
        /// A standalone message (the default).
        Normal => "normal",
    }
}

/// A message stanza.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// `id`.
    pub id: Option<CompactString>,
    /// `from`.
    pub from: Option<Jid>,
    /// `to`.
    pub to: Option<Jid>,
    /// `type` (absent means `normal`).
    pub kind: Option<MessageType>,
    /// `xml:lang`.
    pub lang: Option<CompactString>,
    /// A plaintext `<body>` (Portico clients never send one; kept for standard clients).
    pub body: Option<CompactString>,
    /// The end-to-end encrypted payload.
    pub e2ee: Option<E2ee>,
    /// The hub's durable-queue acknowledgement.
    pub ack: Option<Ack>,
    /// A device's delivery acknowledgement.
    pub received: Option<Received>,
    /// The hub's third-party origin stamp.
    pub interop: Option<Interop>,
    /// The error, on messages of type `error`.
    pub error: Option<StanzaError>,
    /// Other child elements, kept in order.
    pub payloads: Vec<Element>,
}

impl From<Message> for Element {
    fn from(m: Message) -> Element {
        let mut el = Element::new("message", ns::JABBER_CLIENT);
        if let Some(v) = m.id {
            el.set_attr("id", v);
        }
        if let Some(v) = m.from {
            el.set_attr("from", v.to_string());
        }
        if let Some(v) = m.to {
            el.set_attr("to", v.to_string());
        }
        if let Some(v) = m.kind {
            el.set_attr("type", v.as_str());
        }
        if let Some(v) = m.lang {
            el.set_attr("xml:lang", v);
        }
        if let Some(b) = m.body {
            el.push_child(Element::new("body", ns::JABBER_CLIENT).with_text(b));
        }
        if let Some(x) = m.e2ee {
            el.push_child(x.into());
        }
        if let Some(x) = m.ack {
            el.push_child(x.into());
        }
        if let Some(x) = m.received {
            el.push_child(x.into());
        }
        if let Some(x) = m.interop {
            el.push_child(x.into());
        }
        if let Some(x) = m.error {
            el.push_child(x.into());
        }
        for p in m.payloads {
            el.push_child(p);
        }
        el
    }
}

impl Message {
    /// Serializes as a top-level stanza of a `jabber:client` stream; byte-identical to
    /// `Element::from(self.clone()).to_bytes()`, but without building a tree (the hot path).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        self.write_to(&mut out);
        out
    }

    /// Appends the serialization of [`to_bytes`](Self::to_bytes) to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"<message");
        if let Some(v) = &self.id {
            write_attr(out, "id", v);
        }
        if let Some(v) = &self.from {
            write_jid_attr(out, "from", v);
        }
        if let Some(v) = &self.to {
            write_jid_attr(out, "to", v);
        }
        if let Some(v) = self.kind {
            write_attr(out, "type", v.as_str());
        }
        if let Some(v) = &self.lang {
            write_attr(out, "xml:lang", v);
        }
        let empty = self.body.is_none()
            && self.e2ee.is_none()
            && self.ack.is_none()
            && self.received.is_none()
            && self.interop.is_none()
            && self.error.is_none()
            && self.payloads.is_empty();
        if empty {
            out.extend_from_slice(b"/>");
            return;
        }
        out.push(b'>');
        if let Some(b) = &self.body {
            if b.is_empty() {
                out.extend_from_slice(b"<body/>");
            } else {
                out.extend_from_slice(b"<body>");
                crate::element::escape_text(b, out);
                out.extend_from_slice(b"</body>");
            }
        }
        if let Some(x) = &self.e2ee {
            x.write_in(ns::JABBER_CLIENT, out);
        }
        if let Some(x) = &self.ack {
            Element::from(x.clone()).write_to(out);
        }
        if let Some(x) = &self.received {
            Element::from(x.clone()).write_to(out);
        }
        if let Some(x) = &self.interop {
            Element::from(x.clone()).write_to(out);
        }
        if let Some(x) = &self.error {
            Element::from(x.clone()).write_to(out);
        }
        for p in &self.payloads {
            p.write_to(out);
        }
        out.extend_from_slice(b"</message>");
    }
}

impl TryFrom<Element> for Message {
    type Error = DecodeError;
    fn try_from(mut el: Element) -> Result<Self, DecodeError> {
        expect(&el, "message", ns::JABBER_CLIENT)?;
        let mut m = Message {
            from: jid_attr(&el, "message", "from")?,
            to: jid_attr(&el, "message", "to")?,
            kind: el
                .attr("type")
                .map(|t| {
                    MessageType::from_name(t).ok_or(DecodeError::InvalidAttribute {
                        element: "message",
                        attribute: "type",
                    })
                })
                .transpose()?,
            id: el.take_attr("id"),
            lang: el.take_attr("xml:lang"),
            ..Message::default()
        };
        for node in el.take_nodes() {
            let Node::Element(child) = node else { continue };
            match (child.ns(), child.name()) {
                (ns::JABBER_CLIENT, "body") if m.body.is_none() => m.body = Some(child.into_text()),
                (ns::PORTICO_E2EE, "e2ee") if m.e2ee.is_none() => m.e2ee = Some(child.try_into()?),
                (ns::PORTICO_E2EE, "ack") if m.ack.is_none() => m.ack = Some(child.try_into()?),
                (ns::PORTICO_E2EE, "received") if m.received.is_none() => {
                    m.received = Some(child.try_into()?)
                }
                (ns::PORTICO_INTEROP, "interop") if m.interop.is_none() => {
                    m.interop = Some(child.try_into()?)
                }
                (ns::JABBER_CLIENT, "error") if m.error.is_none() => {
                    m.error = Some(child.try_into()?)
                }
                _ => m.payloads.push(child),
            }
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_unknown_payloads() {
        let el = Element::from_bytes(
            b"<message to='b@d' id='1' type='chat'><body>hi</body><x xmlns='urn:other'><y/></x></message>",
        )
        .expect("parses");
        let m = Message::try_from(el).expect("valid");
        assert_eq!(m.kind, Some(MessageType::Chat));
        assert_eq!(m.body.as_deref(), Some("hi"));
        assert_eq!(m.payloads.len(), 1);
        let out = String::from_utf8(Element::from(m).to_bytes()).expect("utf8");
        assert!(out.contains("<x xmlns='urn:other'><y/></x>"), "{out}");
    }

    #[test]
    fn bad_to_is_reported() {
        let el = Element::from_bytes(b"<message to='@d'/>").expect("parses");
        assert!(matches!(
            Message::try_from(el),
            Err(DecodeError::InvalidJid {
                attribute: "to",
                ..
            })
        ));
    }
}
