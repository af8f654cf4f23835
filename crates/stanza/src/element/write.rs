//! Serialization of [`Element`] trees to UTF-8 XML bytes.
//!
//! Namespaces are written as default-namespace declarations where an element's namespace
//! differs from the one in scope; elements in the stream namespace use the `stream:`
//! prefix. Text escapes `&`, `<`, `>` and `\r`; attribute values (single-quoted) also escape
//! quotes and whitespace controls, so that parsing the output gives back the same tree.

use super::{Element, Node};
use crate::ns;

/// Appends `s` escaped for character data.
pub fn escape_text(s: &str, out: &mut Vec<u8>) {
    escape(s.as_bytes(), out, false);
}

/// Appends `s` escaped for a single- or double-quoted attribute value.
pub fn escape_attribute(s: &str, out: &mut Vec<u8>) {
    escape(s.as_bytes(), out, true);
}

/// 0 = copy; 1 = escape in text and attributes; 2 = escape in attributes only.
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'&' as usize] = 1;
    t[b'<' as usize] = 1;
    t[b'>' as usize] = 1;
    t[b'\r' as usize] = 1;
    t[b'\'' as usize] = 2;
    t[b'"' as usize] = 2;
    t[b'\t' as usize] = 2;
    t[b'\n' as usize] = 2;
    t
};

/// True if any byte of `chunk` may need escaping (branch-free so it vectorizes).
#[inline]
fn chunk_needs_escape(chunk: &[u8], attr: bool) -> bool {
    let mut hit = false;
    for &b in chunk {
        let text = (b == b'&') | (b == b'<') | (b == b'>') | (b == b'\r');
        let quote = (b == b'\'') | (b == b'"') | (b == b'\t') | (b == b'\n');
        hit |= text | (attr & quote);
    }
    hit
}

fn escape(bytes: &[u8], out: &mut Vec<u8>, attr: bool) {
    out.reserve(bytes.len());
    let mut clean = 0;
    // Most content (base64 ciphertext, ids) needs no escaping: skip it 32 bytes at a time.
    for chunk in bytes.chunks(32) {
        if chunk_needs_escape(chunk, attr) {
            break;
        }
        clean += chunk.len();
    }
    out.extend_from_slice(&bytes[..clean]);
    let bytes = &bytes[clean..];
    let limit = if attr { 2 } else { 1 };
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let class = CLASS[b as usize];
        if class == 0 || class > limit {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        let rep: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'\r' => b"&#xD;",
            b'\'' => b"&apos;",
            b'"' => b"&quot;",
            b'\t' => b"&#x9;",
            _ => b"&#xA;",
        };
        out.extend_from_slice(rep);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends ` name='value'` with the value escaped.
pub(crate) fn write_attr(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(b' ');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"='");
    escape_attribute(value, out);
    out.push(b'\'');
}

/// Appends ` name='jid'` without formatting the JID into a temporary string.
pub(crate) fn write_jid_attr(out: &mut Vec<u8>, name: &str, jid: &crate::Jid) {
    out.push(b' ');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"='");
    if let Some(n) = jid.node() {
        escape_attribute(n, out);
        out.push(b'@');
    }
    escape_attribute(jid.domain(), out);
    if let Some(r) = jid.resource() {
        out.push(b'/');
        escape_attribute(r, out);
    }
    out.push(b'\'');
}

/// Writes `el` where `parent_ns` is the default namespace in scope and `stream_bound` says
/// whether the `stream:` prefix is already declared.
pub(super) fn write_element(el: &Element, parent_ns: &str, stream_bound: bool, out: &mut Vec<u8>) {
    out.push(b'<');
    let stream_prefixed = el.ns == ns::STREAM;
    // A preserved `xmlns:stream` attribute (the parser only accepts it bound to the stream
    // namespace) declares the prefix for this element and its descendants.
    let declares_stream = el.attrs.iter().any(|(k, _)| k == "xmlns:stream");
    let mut inner_bound = stream_bound || declares_stream;
    let scope_ns: &str = if stream_prefixed {
        out.extend_from_slice(b"stream:");
        out.extend_from_slice(el.name.as_bytes());
        if !inner_bound {
            out.extend_from_slice(b" xmlns:stream='");
            out.extend_from_slice(ns::STREAM.as_bytes());
            out.push(b'\'');
            inner_bound = true;
        }
        parent_ns
    } else {
        out.extend_from_slice(el.name.as_bytes());
        if el.ns != parent_ns {
            out.extend_from_slice(b" xmlns='");
            escape_attribute(&el.ns, out);
            out.push(b'\'');
        }
        &el.ns
    };
    for (k, v) in &el.attrs {
        out.push(b' ');
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"='");
        escape_attribute(v, out);
        out.push(b'\'');
    }
    if el.children.is_empty() {
        out.extend_from_slice(b"/>");
        return;
    }
    out.push(b'>');
    for child in &el.children {
        match child {
            Node::Element(e) => write_element(e, scope_ns, inner_bound, out),
            Node::Text(t) => escape_text(t, out),
        }
    }
    out.extend_from_slice(b"</");
    if stream_prefixed {
        out.extend_from_slice(b"stream:");
    }
    out.extend_from_slice(el.name.as_bytes());
    out.push(b'>');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_and_attributes() {
        let mut out = Vec::new();
        escape_text("a<b>&'\"\r\n", &mut out);
        assert_eq!(out, b"a&lt;b&gt;&amp;'\"&#xD;\n");
        out.clear();
        escape_attribute("'\"\t\n<", &mut out);
        assert_eq!(out, b"&apos;&quot;&#x9;&#xA;&lt;");
    }

    #[test]
    fn namespaces_declared_only_where_they_change() {
        let el = Element::new("message", ns::JABBER_CLIENT)
            .with_attr("to", "a@b")
            .with_child(
                Element::new("e2ee", ns::PORTICO_E2EE)
                    .with_child(Element::new("to", ns::PORTICO_E2EE).with_text("QQ==")),
            );
        assert_eq!(
            String::from_utf8_lossy(&el.to_bytes()),
            "<message to='a@b'><e2ee xmlns='urn:portico:e2ee:1'><to>QQ==</to></e2ee></message>"
        );
    }

    #[test]
    fn stream_prefix_is_declared_only_where_unbound() {
        // Inside a stream, `stream:` is bound, even under an element in no namespace.
        let el = Element::new("a", "").with_child(Element::new("features", ns::STREAM));
        assert_eq!(
            String::from_utf8_lossy(&el.to_bytes()),
            "<a xmlns=''><stream:features/></a>"
        );
        // Self-contained (WebSocket framing) output declares it once.
        let el = Element::new("features", ns::STREAM).with_child(Element::new("x", ns::STREAM));
        let mut out = Vec::new();
        el.write_in("", &mut out);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "<stream:features xmlns:stream='http://etherx.jabber.org/streams'><stream:x/></stream:features>"
        );
    }

    #[test]
    fn stream_namespace_uses_prefix() {
        let el = Element::new("error", ns::STREAM)
            .with_child(Element::new("not-well-formed", ns::STREAM_ERRORS));
        assert_eq!(
            String::from_utf8_lossy(&el.to_bytes()),
            "<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
        );
    }
}
