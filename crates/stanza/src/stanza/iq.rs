//! `<iq/>` stanzas (RFC 6120 §8.2.3): request/response with exactly one payload.

use super::StanzaError;
use super::util::{DecodeError, expect, jid_attr, req_attr};
use crate::element::{Element, Node};
use crate::jid::Jid;
use crate::ns;
use compact_str::CompactString;

/// The type of an IQ and the payload that type carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IqKind {
    /// `get` with its one request payload.
    Get(Element),
    /// `set` with its one request payload.
    Set(Element),
    /// `result`, with at most one payload.
    Result(Option<Element>),
    /// `error`, with the error and optionally the request payload echoed back.
    Error {
        /// The error.
        error: StanzaError,
        /// The request payload, if echoed.
        payload: Option<Element>,
    },
}

/// An IQ stanza.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iq {
    /// `id` (required).
    pub id: CompactString,
    /// `from`.
    pub from: Option<Jid>,
    /// `to`.
    pub to: Option<Jid>,
    /// `xml:lang`.
    pub lang: Option<CompactString>,
    /// Type and payload.
    pub kind: IqKind,
}

impl Iq {
    /// A `get` request.
    pub fn get(id: impl Into<CompactString>, payload: Element) -> Self {
        Iq {
            id: id.into(),
            from: None,
            to: None,
            lang: None,
            kind: IqKind::Get(payload),
        }
    }

    /// A `set` request.
    pub fn set(id: impl Into<CompactString>, payload: Element) -> Self {
        Iq {
            id: id.into(),
            from: None,
            to: None,
            lang: None,
            kind: IqKind::Set(payload),
        }
    }

    /// The `result` answering this request (addresses swapped).
    pub fn result(&self, payload: Option<Element>) -> Iq {
        Iq {
            id: self.id.clone(),
            from: self.to.clone(),
            to: self.from.clone(),
            lang: None,
            kind: IqKind::Result(payload),
        }
    }

    /// The `error` answering this request (addresses swapped).
    pub fn error(&self, error: StanzaError) -> Iq {
        Iq {
            id: self.id.clone(),
            from: self.to.clone(),
            to: self.from.clone(),
            lang: None,
            kind: IqKind::Error {
                error,
                payload: None,
            },
        }
    }

    /// The request payload of a `get` or `set`.
    pub fn request_payload(&self) -> Option<&Element> {
        match &self.kind {
            IqKind::Get(p) | IqKind::Set(p) => Some(p),
            _ => None,
        }
    }
}

impl From<Iq> for Element {
    fn from(iq: Iq) -> Element {
        let kind = match &iq.kind {
            IqKind::Get(_) => "get",
            IqKind::Set(_) => "set",
            IqKind::Result(_) => "result",
            IqKind::Error { .. } => "error",
        };
        let mut el = Element::new("iq", ns::JABBER_CLIENT)
            .with_attr("id", iq.id)
            .with_opt_attr("from", iq.from.map(|j| j.to_string()))
            .with_opt_attr("to", iq.to.map(|j| j.to_string()))
            .with_attr("type", kind)
            .with_opt_attr("xml:lang", iq.lang);
        match iq.kind {
            IqKind::Get(p) | IqKind::Set(p) => el.push_child(p),
            IqKind::Result(p) => {
                if let Some(p) = p {
                    el.push_child(p);
                }
            }
            IqKind::Error { error, payload } => {
                if let Some(p) = payload {
                    el.push_child(p);
                }
                el.push_child(error.into());
            }
        }
        el
    }
}

impl TryFrom<Element> for Iq {
    type Error = DecodeError;
    fn try_from(mut el: Element) -> Result<Self, DecodeError> {
        expect(&el, "iq", ns::JABBER_CLIENT)?;
        let id = req_attr(&mut el, "iq", "id")?;
        let from = jid_attr(&el, "iq", "from")?;
        let to = jid_attr(&el, "iq", "to")?;
        let lang = el.take_attr("xml:lang");
        let kind = req_attr(&mut el, "iq", "type")?;
        let mut children: Vec<Element> = el
            .take_nodes()
            .into_iter()
            .filter_map(|n| match n {
                Node::Element(e) => Some(e),
                Node::Text(_) => None,
            })
            .collect();
        let one = |mut children: Vec<Element>| -> Result<Element, DecodeError> {
            if children.len() != 1 {
                return Err(DecodeError::InvalidContent {
                    element: "iq",
                    reason: "a get or set must carry exactly one payload element",
                });
            }
            children.pop().ok_or(DecodeError::MissingChild {
                element: "iq",
                child: "payload",
            })
        };
        let kind = match kind.as_str() {
            "get" => IqKind::Get(one(children)?),
            "set" => IqKind::Set(one(children)?),
            "result" => {
                if children.len() > 1 {
                    return Err(DecodeError::InvalidContent {
                        element: "iq",
                        reason: "a result carries at most one payload element",
                    });
                }
                IqKind::Result(children.pop())
            }
            "error" => {
                let pos = children
                    .iter()
                    .position(|c| c.is("error", ns::JABBER_CLIENT))
                    .ok_or(DecodeError::MissingChild {
                        element: "iq",
                        child: "error",
                    })?;
                let error = StanzaError::try_from(children.remove(pos))?;
                IqKind::Error {
                    error,
                    payload: children.into_iter().next(),
                }
            }
            _ => {
                return Err(DecodeError::InvalidAttribute {
                    element: "iq",
                    attribute: "type",
                });
            }
        };
        Ok(Iq {
            id,
            from,
            to,
            lang,
            kind,
        })
    }
}
