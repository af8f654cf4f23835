//! The generic XML element tree that every stanza passes through.
//!
//! An [`Element`] has a local name, a resolved namespace, attributes in document order and
//! child nodes (elements and text). Unknown children are kept as they are, so a stanza that
//! passes through the hub loses nothing it did not understand. Strings are
//! [`CompactString`]s: short names and values live inline, known namespaces are shared
//! `'static` strings, so building a tree allocates little.

mod write;

use compact_str::CompactString;

pub use write::{escape_attribute, escape_text};
pub(crate) use write::{write_attr, write_jid_attr};

/// One child node of an [`Element`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A child element.
    Element(Element),
    /// Character data (already unescaped).
    Text(CompactString),
}

/// A generic XML element with its namespace resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    name: CompactString,
    ns: CompactString,
    attrs: Vec<(CompactString, CompactString)>,
    children: Vec<Node>,
}

/// Returns the shared `'static` string for a well-known namespace, or an owned copy.
pub(crate) fn intern_ns(ns: &str) -> CompactString {
    for known in crate::ns::KNOWN {
        if *known == ns {
            return CompactString::const_new(known);
        }
    }
    CompactString::from(ns)
}

impl Element {
    /// A new empty element `name` in namespace `ns`.
    pub fn new(name: impl Into<CompactString>, ns: &str) -> Self {
        Element {
            name: name.into(),
            ns: intern_ns(ns),
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Assembles an element from parts the parser has already checked.
    pub(crate) fn from_parts(
        name: CompactString,
        ns: CompactString,
        attrs: Vec<(CompactString, CompactString)>,
    ) -> Self {
        Element {
            name,
            ns,
            attrs,
            children: Vec::new(),
        }
    }

    /// The local name (without prefix).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace name (URI); empty for an element in no namespace.
    pub fn ns(&self) -> &str {
        &self.ns
    }

    /// True if this element is `name` in namespace `ns`.
    pub fn is(&self, name: &str, ns: &str) -> bool {
        self.name == name && self.ns == ns
    }

    /// The value of attribute `name` (qualified as written, e.g. `xml:lang`), if present.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Removes attribute `name` and returns its value, without copying it.
    pub fn take_attr(&mut self, name: &str) -> Option<CompactString> {
        let i = self.attrs.iter().position(|(k, _)| k == name)?;
        Some(self.attrs.remove(i).1)
    }

    /// All attributes in document order.
    pub fn attrs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.attrs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Sets attribute `name` to `value`, replacing an earlier value.
    pub fn set_attr(&mut self, name: impl Into<CompactString>, value: impl Into<CompactString>) {
        let name = name.into();
        let value = value.into();
        match self.attrs.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.attrs.push((name, value)),
        }
    }

    /// Builder form of [`set_attr`](Self::set_attr).
    pub fn with_attr(
        mut self,
        name: impl Into<CompactString>,
        value: impl Into<CompactString>,
    ) -> Self {
        self.set_attr(name, value);
        self
    }

    /// Builder form of [`set_attr`](Self::set_attr) that skips `None`.
    pub fn with_opt_attr<V: Into<CompactString>>(self, name: &str, value: Option<V>) -> Self {
        match value {
            Some(v) => self.with_attr(name, v),
            None => self,
        }
    }

    /// Appends a child element.
    pub fn push_child(&mut self, child: Element) {
        self.children.push(Node::Element(child));
    }

    /// Builder form of [`push_child`](Self::push_child).
    pub fn with_child(mut self, child: Element) -> Self {
        self.push_child(child);
        self
    }

    /// Appends text, merging with a preceding text node.
    pub fn push_text(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        if let Some(Node::Text(t)) = self.children.last_mut() {
            t.push_str(text);
        } else {
            self.children.push(Node::Text(CompactString::from(text)));
        }
    }

    /// Appends an owned text node (merging with a preceding text node).
    pub fn push_text_owned(&mut self, text: CompactString) {
        if text.is_empty() {
            return;
        }
        if let Some(Node::Text(t)) = self.children.last_mut() {
            t.push_str(&text);
        } else {
            self.children.push(Node::Text(text));
        }
    }

    /// Builder form of [`push_text`](Self::push_text).
    pub fn with_text(mut self, text: impl Into<CompactString>) -> Self {
        self.push_text_owned(text.into());
        self
    }

    /// All child nodes in document order.
    pub fn nodes(&self) -> &[Node] {
        &self.children
    }

    /// Takes all child nodes out, leaving the element empty.
    pub fn take_nodes(&mut self) -> Vec<Node> {
        std::mem::take(&mut self.children)
    }

    /// Mutable access to the child nodes.
    pub fn nodes_mut(&mut self) -> &mut Vec<Node> {
        &mut self.children
    }

    /// Child elements in document order.
    pub fn children(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// The first child element named `name` in namespace `ns`.
    pub fn get_child(&self, name: &str, ns: &str) -> Option<&Element> {
        self.children().find(|c| c.is(name, ns))
    }

    /// Removes and returns the first child element named `name` in namespace `ns`.
    pub fn take_child(&mut self, name: &str, ns: &str) -> Option<Element> {
        let i = self
            .children
            .iter()
            .position(|n| matches!(n, Node::Element(e) if e.is(name, ns)))?;
        match self.children.remove(i) {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        }
    }

    /// Consumes the element and returns its concatenated direct text.
    pub fn into_text(self) -> CompactString {
        let mut out = CompactString::default();
        for node in self.children {
            if let Node::Text(t) = node {
                if out.is_empty() {
                    out = t;
                } else {
                    out.push_str(&t);
                }
            }
        }
        out
    }

    /// The concatenated direct text of this element.
    pub fn text(&self) -> CompactString {
        let mut out = CompactString::default();
        for node in &self.children {
            if let Node::Text(t) = node {
                out.push_str(t);
            }
        }
        out
    }

    /// True if this element has no child elements and no non-whitespace text.
    pub fn is_empty_content(&self) -> bool {
        self.children.iter().all(|n| match n {
            Node::Element(_) => false,
            Node::Text(t) => t.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')),
        })
    }

    /// Parses one standalone element (a stanza or fragment) with default limits, in a
    /// context where the default namespace is `jabber:client` and `stream:` is bound.
    pub fn from_bytes(bytes: &[u8]) -> Result<Element, crate::parser::ParseError> {
        crate::parser::parse_fragment(bytes, &crate::parser::Limits::default())
    }

    /// Serializes this element as a top-level stanza of a `jabber:client` stream.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.write_to(&mut out);
        out
    }

    /// Appends the serialization to `out`, as a top-level element of a `jabber:client` stream
    /// (no `xmlns` is written for an element in `jabber:client`; elements in the stream
    /// namespace are written with the `stream:` prefix).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        write::write_element(self, crate::ns::JABBER_CLIENT, true, out);
    }

    /// Appends the serialization to `out`, as a child of an element whose default namespace
    /// is `parent_ns` (with `stream:` declared). Pass `""` to write a self-contained element
    /// that declares its namespace and the `stream:` prefix where used (as WebSocket framing,
    /// RFC 7395, wants).
    pub fn write_in(&self, parent_ns: &str, out: &mut Vec<u8>) {
        write::write_element(self, parent_ns, !parent_ns.is_empty(), out);
    }
}

impl std::fmt::Display for Element {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_and_accessors() {
        let mut e = Element::new("message", crate::ns::JABBER_CLIENT)
            .with_attr("to", "a@b")
            .with_child(Element::new("body", crate::ns::JABBER_CLIENT).with_text("hi"));
        assert_eq!(e.attr("to"), Some("a@b"));
        e.set_attr("to", "c@d");
        assert_eq!(e.attr("to"), Some("c@d"));
        assert_eq!(e.attrs().count(), 1);
        let body = e
            .get_child("body", crate::ns::JABBER_CLIENT)
            .map(|b| b.text());
        assert_eq!(body.as_deref(), Some("hi"));
        assert!(e.take_child("body", crate::ns::JABBER_CLIENT).is_some());
        assert!(e.is_empty_content());
    }

    #[test]
    fn adjacent_text_merges() {
        let mut e = Element::new("a", "");
        e.push_text("x");
        e.push_text("y");
        assert_eq!(e.nodes().len(), 1);
        assert_eq!(e.text(), "xy");
    }
}
