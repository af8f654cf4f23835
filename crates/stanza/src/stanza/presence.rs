//! `<presence/>` stanzas (RFC 6121 §4).

use super::StanzaError;
use super::util::{DecodeError, expect, jid_attr, wire_enum};
use crate::element::{Element, Node};
use crate::jid::Jid;
use crate::ns;
use compact_str::CompactString;

wire_enum! {
    /// The `type` of a presence (absent means available).
    pub enum PresenceType {
        /// An error reply.
        Error => "error",
        /// A request for the current presence.
        Probe => "probe",
        /// A subscription request.
        Subscribe => "subscribe",
        /// A subscription approval.
        Subscribed => "subscribed",
        /// The sender is offline.
        Unavailable => "unavailable",
        /// Unsubscribing.
        Unsubscribe => "unsubscribe",
        /// A subscription denied or cancelled.
        Unsubscribed => "unsubscribed",
    }
}

wire_enum! {
    /// The `<show/>` availability sub-state.
    pub enum Show {
        /// Temporarily away.
        Away => "away",
        /// Free to chat.
        Chat => "chat",
        /// Do not disturb.
        Dnd => "dnd",
        /// Away for a long time.
        Xa => "xa",
    }
}

/// A presence stanza.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Presence {
    /// `id`.
    pub id: Option<CompactString>,
    /// `from`.
    pub from: Option<Jid>,
    /// `to`.
    pub to: Option<Jid>,
    /// `type`.
    pub kind: Option<PresenceType>,
    /// `xml:lang`.
    pub lang: Option<CompactString>,
    /// `<show/>`.
    pub show: Option<Show>,
    /// `<status/>`.
    pub status: Option<CompactString>,
    /// `<priority/>` (-128..=127).
    pub priority: Option<i8>,
    /// The error, on presences of type `error`.
    pub error: Option<StanzaError>,
    /// Other child elements, kept in order.
    pub payloads: Vec<Element>,
}

impl From<Presence> for Element {
    fn from(p: Presence) -> Element {
        let mut el = Element::new("presence", ns::JABBER_CLIENT)
            .with_opt_attr("id", p.id)
            .with_opt_attr("from", p.from.map(|j| j.to_string()))
            .with_opt_attr("to", p.to.map(|j| j.to_string()))
            .with_opt_attr("type", p.kind.map(|k| k.as_str()))
            .with_opt_attr("xml:lang", p.lang);
        if let Some(s) = p.show {
            el.push_child(Element::new("show", ns::JABBER_CLIENT).with_text(s.as_str()));
        }
        if let Some(s) = p.status {
            el.push_child(Element::new("status", ns::JABBER_CLIENT).with_text(s));
        }
        if let Some(n) = p.priority {
            el.push_child(Element::new("priority", ns::JABBER_CLIENT).with_text(n.to_string()));
        }
        if let Some(e) = p.error {
            el.push_child(e.into());
        }
        for x in p.payloads {
            el.push_child(x);
        }
        el
    }
}

impl TryFrom<Element> for Presence {
    type Error = DecodeError;
    fn try_from(mut el: Element) -> Result<Self, DecodeError> {
        expect(&el, "presence", ns::JABBER_CLIENT)?;
        let invalid = |attribute| DecodeError::InvalidAttribute {
            element: "presence",
            attribute,
        };
        let mut p = Presence {
            from: jid_attr(&el, "presence", "from")?,
            to: jid_attr(&el, "presence", "to")?,
            kind: el
                .attr("type")
                .map(|t| PresenceType::from_name(t).ok_or(invalid("type")))
                .transpose()?,
            id: el.take_attr("id"),
            lang: el.take_attr("xml:lang"),
            ..Presence::default()
        };
        for node in el.take_nodes() {
            let Node::Element(child) = node else { continue };
            match (child.ns(), child.name()) {
                (ns::JABBER_CLIENT, "show") if p.show.is_none() => {
                    p.show = Some(Show::from_name(child.text().trim()).ok_or(
                        DecodeError::InvalidContent {
                            element: "show",
                            reason: "must be away, chat, dnd or xa",
                        },
                    )?)
                }
                (ns::JABBER_CLIENT, "status") if p.status.is_none() => {
                    p.status = Some(child.into_text())
                }
                (ns::JABBER_CLIENT, "priority") if p.priority.is_none() => {
                    p.priority = Some(child.text().trim().parse().map_err(|_| {
                        DecodeError::InvalidContent {
                            element: "priority",
                            reason: "must be an integer from -128 to 127",
                        }
                    })?)
                }
                (ns::JABBER_CLIENT, "error") if p.error.is_none() => {
                    p.error = Some(child.try_into()?)
                }
                _ => p.payloads.push(child),
            }
        }
        Ok(p)
    }
}
