//! XEP-0199 ping and XEP-0030 disco#info payloads.

use super::util::{DecodeError, expect, req_attr};
use crate::element::{Element, Node};
use crate::ns;
use compact_str::CompactString;

/// `<ping xmlns='urn:xmpp:ping'/>` (answered by an empty IQ result).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ping;

impl From<Ping> for Element {
    fn from(_: Ping) -> Element {
        Element::new("ping", ns::PING)
    }
}

impl TryFrom<Element> for Ping {
    type Error = DecodeError;
    fn try_from(el: Element) -> Result<Self, DecodeError> {
        expect(&el, "ping", ns::PING).map(|_| Ping)
    }
}

/// A disco#info identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `category`, e.g. `server`.
    pub category: CompactString,
    /// `type`, e.g. `im`.
    pub kind: CompactString,
    /// `name`.
    pub name: Option<CompactString>,
    /// `xml:lang`.
    pub lang: Option<CompactString>,
}

/// `<query xmlns='http://jabber.org/protocol/disco#info'>`: empty as a request, with
/// identities and features as a result.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DiscoInfo {
    /// `node`.
    pub node: Option<CompactString>,
    /// Identities.
    pub identities: Vec<Identity>,
    /// Feature namespaces.
    pub features: Vec<CompactString>,
    /// Other children (e.g. XEP-0128 data forms), kept.
    pub extra: Vec<Element>,
}

impl From<DiscoInfo> for Element {
    fn from(d: DiscoInfo) -> Element {
        let mut el = Element::new("query", ns::DISCO_INFO).with_opt_attr("node", d.node);
        for i in d.identities {
            el.push_child(
                Element::new("identity", ns::DISCO_INFO)
                    .with_attr("category", i.category)
                    .with_attr("type", i.kind)
                    .with_opt_attr("name", i.name)
                    .with_opt_attr("xml:lang", i.lang),
            );
        }
        for f in d.features {
            el.push_child(Element::new("feature", ns::DISCO_INFO).with_attr("var", f));
        }
        for x in d.extra {
            el.push_child(x);
        }
        el
    }
}

impl TryFrom<Element> for DiscoInfo {
    type Error = DecodeError;
    fn try_from(mut el: Element) -> Result<Self, DecodeError> {
        expect(&el, "query", ns::DISCO_INFO)?;
        let mut d = DiscoInfo {
            node: el.take_attr("node"),
            ..DiscoInfo::default()
        };
        for node in el.take_nodes() {
            let Node::Element(mut child) = node else {
                continue;
            };
            match (child.ns(), child.name()) {
                (ns::DISCO_INFO, "identity") => d.identities.push(Identity {
                    category: req_attr(&mut child, "identity", "category")?,
                    kind: req_attr(&mut child, "identity", "type")?,
                    name: child.take_attr("name"),
                    lang: child.take_attr("xml:lang"),
                }),
                (ns::DISCO_INFO, "feature") => {
                    d.features.push(req_attr(&mut child, "feature", "var")?)
                }
                _ => d.extra.push(child),
            }
        }
        Ok(d)
    }
}
