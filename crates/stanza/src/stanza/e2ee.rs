//! Portico's end-to-end encryption elements (namespace `urn:portico:e2ee:1`, DESIGN.md §4)
//! and the interop stamp (`urn:portico:interop:1`).
//!
//! ```xml
//! <e2ee xmlns='urn:portico:e2ee:1' device='3' stanza-id='…' t='1732350000000'>
//!   <to device='1' type='pkmsg'>BASE64</to>
//!   <self device='4' type='msg'>BASE64</self>
//! </e2ee>
//! <ack xmlns='urn:portico:e2ee:1' id='01J…' stanza-id='…' t='1732350000000'/>
//! <received xmlns='urn:portico:e2ee:1' stanza-id='…'/>
//! <device-mismatch xmlns='urn:portico:e2ee:1'><missing jid='b@d' device='2'/><stale jid='b@d' device='5'/></device-mismatch>
//! <interop xmlns='urn:portico:interop:1' provider='birdy' visible-id='bob@birdy.example'/>
//! ```

use super::util::{
    DecodeError, b64_decode, b64_encode, expect, parse_attr, parse_req, req_attr, wire_enum,
};
use crate::element::{Element, Node, write_attr};
use crate::jid::Jid;
use crate::ns;
use compact_str::CompactString;

wire_enum! {
    /// Which Signal message a ciphertext is.
    pub enum CiphertextKind {
        /// A `PreKeySignalMessage` (starts a session).
        PreKey => "pkmsg",
        /// A `SignalMessage` on an established session.
        Message => "msg",
    }
}

/// Base64 text (standard alphabet, padded) checked for shape, kept as sent: the hub
/// forwards it without decoding; clients call [`Ciphertext::decode`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ciphertext(CompactString);

fn is_base64_shape(s: &[u8]) -> bool {
    if s.len() % 4 != 0 {
        return false;
    }
    let body = s
        .strip_suffix(b"==")
        .or_else(|| s.strip_suffix(b"="))
        .unwrap_or(s);
    // Branch-free over the whole text so that it vectorizes.
    body.iter().fold(true, |ok, &b| {
        ok & (b.is_ascii_lowercase()
            | b.is_ascii_uppercase()
            | b.is_ascii_digit()
            | (b == b'+')
            | (b == b'/'))
    })
}

impl Ciphertext {
    /// Encodes raw ciphertext bytes.
    pub fn encode(bytes: &[u8]) -> Self {
        Ciphertext(CompactString::from(b64_encode(bytes)))
    }

    /// Wraps base64 text after checking its shape. `None` if it is not base64.
    pub fn from_base64(text: impl Into<CompactString>) -> Option<Self> {
        let text = text.into();
        is_base64_shape(text.as_bytes()).then_some(Ciphertext(text))
    }

    /// The base64 text.
    pub fn as_base64(&self) -> &str {
        &self.0
    }

    /// The raw ciphertext bytes.
    pub fn decode(&self) -> Result<Vec<u8>, DecodeError> {
        b64_decode(&self.0, "to")
    }
}

/// One device's ciphertext inside `<e2ee>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCiphertext {
    /// The recipient device id.
    pub device: u32,
    /// Pre-key message or normal message.
    pub kind: CiphertextKind,
    /// The Signal ciphertext.
    pub payload: Ciphertext,
}

impl DeviceCiphertext {
    fn to_element(&self, name: &'static str) -> Element {
        let mut device = itoa_buf();
        Element::new(name, ns::PORTICO_E2EE)
            .with_attr("device", fmt_u64(&mut device, self.device.into()))
            .with_attr("type", self.kind.as_str())
            .with_text(self.payload.0.clone())
    }

    fn from_element(mut el: Element, name: &'static str) -> Result<Self, DecodeError> {
        let device = parse_req(&el, name, "device")?;
        let kind = el
            .attr("type")
            .map(|t| {
                CiphertextKind::from_name(t).ok_or(DecodeError::InvalidAttribute {
                    element: name,
                    attribute: "type",
                })
            })
            .transpose()?
            .ok_or(DecodeError::MissingAttribute {
                element: name,
                attribute: "type",
            })?;
        el.nodes_mut().retain(|n| matches!(n, Node::Text(_)));
        let text = el.into_text();
        let payload =
            Ciphertext::from_base64(text).ok_or(DecodeError::InvalidBase64 { element: name })?;
        Ok(DeviceCiphertext {
            device,
            kind,
            payload,
        })
    }
}

fn itoa_buf() -> [u8; 20] {
    [0; 20]
}

/// Formats without going through `fmt` machinery (the serializer is on the hot path).
pub(crate) fn fmt_u64(buf: &mut [u8; 20], mut v: u64) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

/// The `<e2ee>` payload of a message: one ciphertext per recipient device (`to`) and per
/// other device of the sender (`own`, written as `<self>`). On copies the hub delivers, it
/// also carries the hub-assigned `stanza-id` and timestamp `t` (Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct E2ee {
    /// The sending device's id (`device` attribute).
    pub sender_device: Option<u32>,
    /// Hub-assigned id of the delivered copy (`stanza-id`).
    pub stanza_id: Option<CompactString>,
    /// Hub-assigned timestamp, Unix milliseconds (`t`).
    pub timestamp: Option<u64>,
    /// Ciphertexts for the recipient's devices.
    pub to: Vec<DeviceCiphertext>,
    /// Ciphertexts for the sender's other devices.
    pub own: Vec<DeviceCiphertext>,
    /// Unknown child elements, kept.
    pub extra: Vec<Element>,
}

impl From<E2ee> for Element {
    fn from(e: E2ee) -> Element {
        let mut buf = itoa_buf();
        let mut el = Element::new("e2ee", ns::PORTICO_E2EE);
        if let Some(d) = e.sender_device {
            el.set_attr("device", fmt_u64(&mut buf, d.into()));
        }
        if let Some(id) = e.stanza_id {
            el.set_attr("stanza-id", id);
        }
        if let Some(t) = e.timestamp {
            el.set_attr("t", fmt_u64(&mut buf, t));
        }
        el.nodes_mut()
            .reserve(e.to.len() + e.own.len() + e.extra.len());
        for c in &e.to {
            el.push_child(c.to_element("to"));
        }
        for c in &e.own {
            el.push_child(c.to_element("self"));
        }
        for x in e.extra {
            el.push_child(x);
        }
        el
    }
}

impl E2ee {
    /// Appends the serialization (identical to `Element::from(self.clone())` written inside
    /// an element whose default namespace is `parent_ns`) without building a tree.
    pub fn write_in(&self, parent_ns: &str, out: &mut Vec<u8>) {
        let mut buf = itoa_buf();
        out.extend_from_slice(b"<e2ee");
        if parent_ns != ns::PORTICO_E2EE {
            out.extend_from_slice(b" xmlns='urn:portico:e2ee:1'");
        }
        if let Some(d) = self.sender_device {
            write_attr(out, "device", fmt_u64(&mut buf, d.into()));
        }
        if let Some(id) = &self.stanza_id {
            write_attr(out, "stanza-id", id);
        }
        if let Some(t) = self.timestamp {
            write_attr(out, "t", fmt_u64(&mut buf, t));
        }
        if self.to.is_empty() && self.own.is_empty() && self.extra.is_empty() {
            out.extend_from_slice(b"/>");
            return;
        }
        out.push(b'>');
        for (name, list) in [("to", &self.to), ("self", &self.own)] {
            for c in list {
                out.push(b'<');
                out.extend_from_slice(name.as_bytes());
                write_attr(out, "device", fmt_u64(&mut buf, c.device.into()));
                write_attr(out, "type", c.kind.as_str());
                if c.payload.0.is_empty() {
                    out.extend_from_slice(b"/>");
                    continue;
                }
                out.push(b'>');
                // Base64 text needs no escaping (its shape was checked when it was made).
                out.extend_from_slice(c.payload.0.as_bytes());
                out.extend_from_slice(b"</");
                out.extend_from_slice(name.as_bytes());
                out.push(b'>');
            }
        }
        for x in &self.extra {
            x.write_in(ns::PORTICO_E2EE, out);
        }
        out.extend_from_slice(b"</e2ee>");
    }
}

impl TryFrom<Element> for E2ee {
    type Error = DecodeError;
    fn try_from(mut el: Element) -> Result<Self, DecodeError> {
        expect(&el, "e2ee", ns::PORTICO_E2EE)?;
        let mut out = E2ee {
            sender_device: parse_attr(&el, "e2ee", "device")?,
            stanza_id: el.take_attr("stanza-id"),
            timestamp: parse_attr(&el, "e2ee", "t")?,
            ..E2ee::default()
        };
        for node in el.take_nodes() {
            let Node::Element(child) = node else { continue };
            if child.ns() == ns::PORTICO_E2EE && child.name() == "to" {
                out.to.push(DeviceCiphertext::from_element(child, "to")?);
            } else if child.ns() == ns::PORTICO_E2EE && child.name() == "self" {
                out.own.push(DeviceCiphertext::from_element(child, "self")?);
            } else {
                out.extra.push(child);
            }
        }
        Ok(out)
    }
}

/// The hub's acknowledgement to the sender: the message is durably queued for every
/// recipient device (the sender's single tick).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The sender's message id.
    pub id: CompactString,
    /// The hub-assigned stanza id.
    pub stanza_id: CompactString,
    /// When the hub queued it, Unix milliseconds.
    pub timestamp: u64,
}

impl From<Ack> for Element {
    fn from(a: Ack) -> Element {
        let mut buf = itoa_buf();
        Element::new("ack", ns::PORTICO_E2EE)
            .with_attr("id", a.id)
            .with_attr("stanza-id", a.stanza_id)
            .with_attr("t", fmt_u64(&mut buf, a.timestamp))
    }
}

impl TryFrom<Element> for Ack {
    type Error = DecodeError;
    fn try_from(mut el: Element) -> Result<Self, DecodeError> {
        expect(&el, "ack", ns::PORTICO_E2EE)?;
        Ok(Ack {
            timestamp: parse_req(&el, "ack", "t")?,
            id: req_attr(&mut el, "ack", "id")?,
            stanza_id: req_attr(&mut el, "ack", "stanza-id")?,
        })
    }
}

/// A device's acknowledgement of a delivered copy: the hub may delete it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The hub-assigned stanza id of the copy received.
    pub stanza_id: CompactString,
}

impl From<Received> for Element {
    fn from(r: Received) -> Element {
        Element::new("received", ns::PORTICO_E2EE).with_attr("stanza-id", r.stanza_id)
    }
}

impl TryFrom<Element> for Received {
    type Error = DecodeError;
    fn try_from(mut el: Element) -> Result<Self, DecodeError> {
        expect(&el, "received", ns::PORTICO_E2EE)?;
        Ok(Received {
            stanza_id: req_attr(&mut el, "received", "stanza-id")?,
        })
    }
}

/// One device of one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceAddress {
    /// The account's bare JID.
    pub jid: Jid,
    /// The device id.
    pub device: u32,
}

/// The application condition of the hub's rejection of a message whose device set does not
/// match the current device lists: which devices lack a ciphertext, which are gone.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceMismatch {
    /// Devices that exist but got no ciphertext.
    pub missing: Vec<DeviceAddress>,
    /// Devices that got a ciphertext but no longer exist.
    pub stale: Vec<DeviceAddress>,
}

impl DeviceMismatch {
    /// The stanza error the hub returns: `modify`/`not-acceptable` with this as app condition.
    pub fn into_stanza_error(self) -> super::StanzaError {
        let mut e = super::StanzaError::new(super::StanzaCondition::NotAcceptable)
            .with_text("device set mismatch: fetch keys for the missing devices and retry");
        e.app = Some(self.into());
        e
    }

    /// Reads the mismatch out of a stanza error, if it carries one.
    pub fn from_stanza_error(e: &super::StanzaError) -> Option<Result<Self, DecodeError>> {
        let app = e.app.as_ref()?;
        app.is("device-mismatch", ns::PORTICO_E2EE)
            .then(|| DeviceMismatch::try_from(app.clone()))
    }
}

impl From<DeviceMismatch> for Element {
    fn from(m: DeviceMismatch) -> Element {
        let mut el = Element::new("device-mismatch", ns::PORTICO_E2EE);
        for (name, list) in [("missing", m.missing), ("stale", m.stale)] {
            for d in list {
                let mut buf = itoa_buf();
                el.push_child(
                    Element::new(name, ns::PORTICO_E2EE)
                        .with_attr("jid", d.jid.to_string())
                        .with_attr("device", fmt_u64(&mut buf, d.device.into())),
                );
            }
        }
        el
    }
}

impl TryFrom<Element> for DeviceMismatch {
    type Error = DecodeError;
    fn try_from(el: Element) -> Result<Self, DecodeError> {
        expect(&el, "device-mismatch", ns::PORTICO_E2EE)?;
        let mut out = DeviceMismatch::default();
        for child in el.children() {
            let name = match child.name() {
                "missing" => "missing",
                "stale" => "stale",
                _ => continue,
            };
            let jid = super::util::jid_attr(child, name, "jid")?.ok_or(
                DecodeError::MissingAttribute {
                    element: name,
                    attribute: "jid",
                },
            )?;
            let addr = DeviceAddress {
                jid,
                device: parse_req(child, name, "device")?,
            };
            if name == "missing" {
                out.missing.push(addr);
            } else {
                out.stale.push(addr);
            }
        }
        Ok(out)
    }
}

/// The hub's stamp on a message from a third-party user: which provider, and the sender's
/// user-visible identifier there (clients show such chats in a separate inbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interop {
    /// The provider's registered name.
    pub provider: CompactString,
    /// The sender's visible identifier on that provider.
    pub visible: CompactString,
}

impl From<Interop> for Element {
    fn from(i: Interop) -> Element {
        Element::new("interop", ns::PORTICO_INTEROP)
            .with_attr("provider", i.provider)
            .with_attr("visible-id", i.visible)
    }
}

impl TryFrom<Element> for Interop {
    type Error = DecodeError;
    fn try_from(mut el: Element) -> Result<Self, DecodeError> {
        expect(&el, "interop", ns::PORTICO_INTEROP)?;
        Ok(Interop {
            provider: req_attr(&mut el, "interop", "provider")?,
            visible: req_attr(&mut el, "interop", "visible-id")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_design_example() {
        let el = Element::from_bytes(
            b"<e2ee xmlns='urn:portico:e2ee:1'>\n  <to device='1' type='pkmsg'>AAEC</to>\n  <to device='2' type='msg'>AwQ=</to>\n  <self device='3' type='msg'>BQ==</self>\n</e2ee>",
        )
        .expect("parses");
        let e = E2ee::try_from(el).expect("valid");
        assert_eq!(e.to.len(), 2);
        assert_eq!(e.to[0].kind, CiphertextKind::PreKey);
        assert_eq!(e.to[1].payload.decode().expect("b64"), vec![3, 4]);
        assert_eq!(e.own[0].device, 3);
    }

    #[test]
    fn rejects_bad_ciphertexts() {
        let el = Element::from_bytes(
            b"<e2ee xmlns='urn:portico:e2ee:1'><to device='1' type='msg'>not base64!</to></e2ee>",
        )
        .expect("parses");
        assert_eq!(
            E2ee::try_from(el),
            Err(DecodeError::InvalidBase64 { element: "to" })
        );
        let el = Element::from_bytes(
            b"<e2ee xmlns='urn:portico:e2ee:1'><to device='x' type='msg'>AA==</to></e2ee>",
        )
        .expect("parses");
        assert_eq!(
            E2ee::try_from(el),
            Err(DecodeError::InvalidAttribute {
                element: "to",
                attribute: "device"
            })
        );
        let el = Element::from_bytes(
            b"<e2ee xmlns='urn:portico:e2ee:1'><to device='1' type='sms'>AA==</to></e2ee>",
        )
        .expect("parses");
        assert_eq!(
            E2ee::try_from(el),
            Err(DecodeError::InvalidAttribute {
                element: "to",
                attribute: "type"
            })
        );
    }

    #[test]
    fn mismatch_travels_in_a_stanza_error() {
        let m = DeviceMismatch {
            missing: vec![DeviceAddress {
                jid: Jid::parse("b@d").expect("jid"),
                device: 2,
            }],
            stale: vec![DeviceAddress {
                jid: Jid::parse("b@d").expect("jid"),
                device: 5,
            }],
        };
        let err = m.clone().into_stanza_error();
        let el = Element::from(err);
        let back = super::super::StanzaError::try_from(
            Element::from_bytes(&el.to_bytes()).expect("parses"),
        )
        .expect("valid");
        assert_eq!(DeviceMismatch::from_stanza_error(&back), Some(Ok(m)));
    }
}
