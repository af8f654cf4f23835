//! Builds [`Element`] trees from complete byte ranges with quick-xml, resolving namespaces
//! and enforcing the per-element limits (attributes, attribute length, text length, depth).

use super::error::truncated;
use super::{Limits, ParseError};
use crate::element::{Element, intern_ns};
use crate::ns;
use compact_str::CompactString;
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

/// Namespace bindings in scope: the default namespace and prefixed bindings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NsContext {
    pub(crate) default_ns: CompactString,
    pub(crate) prefixes: Vec<(CompactString, CompactString)>,
}

impl NsContext {
    /// No default namespace and no prefixes (WebSocket framing: each element declares).
    pub(crate) fn empty() -> Self {
        NsContext {
            default_ns: CompactString::default(),
            prefixes: Vec::new(),
        }
    }

    /// `jabber:client` by default, `stream:` bound: the context of a c2s stream.
    pub(crate) fn client() -> Self {
        NsContext {
            default_ns: CompactString::const_new(ns::JABBER_CLIENT),
            prefixes: vec![(
                CompactString::const_new("stream"),
                CompactString::const_new(ns::STREAM),
            )],
        }
    }
}

/// Scoped namespace resolution while walking one stanza.
struct Scopes<'c> {
    base: &'c NsContext,
    /// Prefix bindings declared inside the stanza, innermost last.
    bindings: Vec<(CompactString, CompactString)>,
    /// Per open element: (bindings length before it, default namespace inside it).
    frames: Vec<(usize, CompactString)>,
}

impl Scopes<'_> {
    fn default_ns(&self) -> &CompactString {
        self.frames
            .last()
            .map(|f| &f.1)
            .unwrap_or(&self.base.default_ns)
    }

    fn lookup(&self, prefix: &[u8]) -> Option<CompactString> {
        if prefix == b"xml" {
            return Some(CompactString::const_new(ns::XML));
        }
        self.bindings
            .iter()
            .rev()
            .chain(self.base.prefixes.iter().rev())
            .find(|(p, _)| p.as_bytes() == prefix)
            .map(|(_, u)| u.clone())
    }
}

/// An XML NCName (no colon). Non-ASCII characters are accepted as name characters (UTF-8
/// validity is checked separately); ASCII punctuation other than `-`, `.`, `_` is not.
fn is_ncname(b: &[u8]) -> bool {
    match b.split_first() {
        None => false,
        Some((&first, rest)) => {
            (first.is_ascii_alphabetic() || first == b'_' || first >= 0x80)
                && rest.iter().all(|&c| {
                    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_') || c >= 0x80
                })
        }
    }
}

/// Splits a qualified name into (prefix, local), checking both are NCNames.
fn split_qname(q: &[u8]) -> Option<(Option<&[u8]>, &[u8])> {
    match q.iter().position(|&b| b == b':') {
        Some(i) => {
            let (p, l) = (&q[..i], &q[i + 1..]);
            (is_ncname(p) && is_ncname(l)).then_some((Some(p), l))
        }
        None => is_ncname(q).then_some((None, q)),
    }
}

fn utf8(bytes: &[u8]) -> Result<&str, ParseError> {
    std::str::from_utf8(bytes).map_err(|_| ParseError::InvalidUtf8)
}

fn xml_err(e: quick_xml::Error) -> ParseError {
    match e {
        quick_xml::Error::Encoding(_) => ParseError::InvalidUtf8,
        quick_xml::Error::Escape(quick_xml::escape::EscapeError::UnrecognizedEntity(_, name)) => {
            ParseError::UnknownEntity {
                name: truncated(name.as_bytes()),
            }
        }
        other => ParseError::not_well_formed(other),
    }
}

/// Converts one start tag into an element, pushing its namespace scope.
fn open(
    start: &BytesStart<'_>,
    scopes: &mut Scopes<'_>,
    limits: &Limits,
) -> Result<Element, ParseError> {
    let mut attrs: Vec<(CompactString, CompactString)> = Vec::new();
    let mut default_ns: Option<CompactString> = None;
    let mark = scopes.bindings.len();
    let mut count = 0usize;
    // Duplicates are checked below against the (few) attributes kept, without the
    // per-element allocation quick-xml's own check makes.
    for attr in start.attributes().with_checks(false) {
        let attr = attr.map_err(ParseError::not_well_formed)?;
        count += 1;
        if count > limits.max_attributes {
            return Err(ParseError::TooManyAttributes {
                limit: limits.max_attributes,
            });
        }
        if attr.value.len() > limits.max_attribute_bytes {
            return Err(ParseError::AttributeTooLong {
                limit: limits.max_attribute_bytes,
            });
        }
        let key = attr.key.as_ref();
        if split_qname(key).is_none() {
            return Err(ParseError::not_well_formed("invalid attribute name"));
        }
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(xml_err)?;
        if value.len() > limits.max_attribute_bytes {
            return Err(ParseError::AttributeTooLong {
                limit: limits.max_attribute_bytes,
            });
        }
        if key == b"xmlns" {
            if default_ns.is_some() {
                return Err(ParseError::not_well_formed("duplicate attribute"));
            }
            default_ns = Some(intern_ns(&value));
            continue;
        }
        if attrs.iter().any(|(k, _)| k.as_bytes() == key) {
            return Err(ParseError::not_well_formed("duplicate attribute"));
        }
        if let Some(prefix) = key.strip_prefix(b"xmlns:") {
            if value.is_empty() {
                return Err(ParseError::not_well_formed(
                    "a namespace prefix cannot be unbound",
                ));
            }
            let reserved = match prefix {
                b"xmlns" => true,
                b"xml" => *value != *ns::XML,
                b"stream" => *value != *ns::STREAM,
                _ => false,
            };
            if reserved {
                return Err(ParseError::ReservedPrefix {
                    prefix: truncated(prefix),
                });
            }
            scopes
                .bindings
                .push((CompactString::from(utf8(prefix)?), intern_ns(&value)));
        }
        attrs.push((CompactString::from(utf8(key)?), CompactString::from(value)));
    }
    // Prefixed attribute names must be bound too. A prefix bound only outside the stanza (by
    // the stream header) is declared on this element, so that the element stays the same
    // when serialized on its own.
    let mut inherited: Vec<(CompactString, CompactString)> = Vec::new();
    for (k, _) in &attrs {
        if let Some(colon) = k.find(':') {
            let prefix = &k.as_bytes()[..colon];
            if prefix == b"xmlns" || prefix == b"xml" {
                continue;
            }
            let local = scopes.bindings.iter().any(|(p, _)| p.as_bytes() == prefix);
            if local {
                continue;
            }
            let uri = scopes
                .lookup(prefix)
                .ok_or_else(|| ParseError::UnboundPrefix {
                    prefix: truncated(prefix),
                })?;
            let decl = CompactString::from(format!("xmlns:{}", &k[..colon]));
            if !inherited.iter().any(|(d, _)| *d == decl) {
                inherited.push((decl, uri.clone()));
                scopes
                    .bindings
                    .push((CompactString::from(&k[..colon]), uri));
            }
        }
    }
    attrs.extend(inherited);
    let inner_default = default_ns.unwrap_or_else(|| scopes.default_ns().clone());
    let qname = start.name();
    let (prefix, local) = split_qname(qname.as_ref())
        .ok_or_else(|| ParseError::not_well_formed("invalid element name"))?;
    let element_ns = match prefix {
        None => inner_default.clone(),
        Some(p) => scopes.lookup(p).ok_or_else(|| ParseError::UnboundPrefix {
            prefix: truncated(p),
        })?,
    };
    scopes.frames.push((mark, inner_default));
    Ok(Element::from_parts(
        CompactString::from(utf8(local)?),
        element_ns,
        attrs,
    ))
}

fn close(scopes: &mut Scopes<'_>) {
    if let Some((mark, _)) = scopes.frames.pop() {
        scopes.bindings.truncate(mark);
    }
}

fn push_text(el: &mut Element, text: &str, limits: &Limits) -> Result<(), ParseError> {
    let existing = match el.nodes().last() {
        Some(crate::element::Node::Text(t)) => t.len(),
        _ => 0,
    };
    if existing + text.len() > limits.max_text_bytes {
        return Err(ParseError::TextTooLong {
            limit: limits.max_text_bytes,
        });
    }
    el.push_text(text);
    Ok(())
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Parses exactly one element from `bytes` (surrounding whitespace allowed).
pub(crate) fn parse_element(
    bytes: &[u8],
    ctx: &NsContext,
    limits: &Limits,
) -> Result<Element, ParseError> {
    let mut reader = Reader::from_reader(bytes);
    reader.config_mut().check_end_names = true;
    let mut scopes = Scopes {
        base: ctx,
        bindings: Vec::new(),
        frames: Vec::new(),
    };
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader.read_event().map_err(xml_err)?;
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(ParseError::not_well_formed("more than one root element"));
                }
                if stack.len() >= limits.max_depth {
                    return Err(ParseError::TooDeep {
                        limit: limits.max_depth,
                    });
                }
                let el = open(&start, &mut scopes, limits)?;
                stack.push(el);
            }
            Event::Empty(start) => {
                if root.is_some() {
                    return Err(ParseError::not_well_formed("more than one root element"));
                }
                if stack.len() >= limits.max_depth {
                    return Err(ParseError::TooDeep {
                        limit: limits.max_depth,
                    });
                }
                let el = open(&start, &mut scopes, limits)?;
                close(&mut scopes);
                match stack.last_mut() {
                    Some(parent) => parent.push_child(el),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                close(&mut scopes);
                let Some(el) = stack.pop() else {
                    return Err(ParseError::not_well_formed("unmatched end tag"));
                };
                match stack.last_mut() {
                    Some(parent) => parent.push_child(el),
                    None => root = Some(el),
                }
            }
            Event::Text(text) => {
                let content = text.xml10_content().map_err(|_| ParseError::InvalidUtf8)?;
                match stack.last_mut() {
                    Some(el) => push_text(el, &content, limits)?,
                    None => {
                        if !content
                            .bytes()
                            .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
                        {
                            return Err(ParseError::TextAtStreamLevel);
                        }
                    }
                }
            }
            Event::CData(data) => {
                let content = data.xml10_content().map_err(|_| ParseError::InvalidUtf8)?;
                match stack.last_mut() {
                    Some(el) => push_text(el, &content, limits)?,
                    None => return Err(ParseError::not_well_formed("CDATA outside an element")),
                }
            }
            Event::GeneralRef(r) => {
                let Some(el) = stack.last_mut() else {
                    return Err(ParseError::TextAtStreamLevel);
                };
                let c = if r.is_char_ref() {
                    let c = r.resolve_char_ref().map_err(|_| {
                        ParseError::InvalidCharacterReference {
                            reference: truncated(&r),
                        }
                    })?;
                    match c {
                        Some(c) if is_xml_char(c) => c,
                        _ => {
                            return Err(ParseError::InvalidCharacterReference {
                                reference: truncated(&r),
                            });
                        }
                    }
                } else {
                    match r.as_ref() {
                        b"lt" => '<',
                        b"gt" => '>',
                        b"amp" => '&',
                        b"apos" => '\'',
                        b"quot" => '"',
                        other => {
                            return Err(ParseError::UnknownEntity {
                                name: truncated(other),
                            });
                        }
                    }
                };
                let mut tmp = [0u8; 4];
                push_text(el, c.encode_utf8(&mut tmp), limits)?;
            }
            Event::Comment(_) => return Err(ParseError::CommentRefused),
            Event::PI(_) | Event::Decl(_) => return Err(ParseError::ProcessingInstructionRefused),
            Event::DocType(_) => return Err(ParseError::DoctypeRefused),
            Event::Eof => {
                return match (root, stack.is_empty()) {
                    (Some(root), true) => Ok(root),
                    _ => Err(ParseError::not_well_formed("element not closed")),
                };
            }
        }
    }
}

/// The parsed stream header start tag and the namespace context it sets up.
pub(crate) fn parse_header(
    bytes: &[u8],
    limits: &Limits,
) -> Result<(Element, NsContext), ParseError> {
    let mut reader = Reader::from_reader(bytes);
    let base = NsContext {
        default_ns: CompactString::default(),
        prefixes: Vec::new(),
    };
    let mut scopes = Scopes {
        base: &base,
        bindings: Vec::new(),
        frames: Vec::new(),
    };
    loop {
        match reader.read_event().map_err(xml_err)? {
            Event::Start(start) => {
                let el = open(&start, &mut scopes, limits)?;
                if !el.is("stream", ns::STREAM) {
                    return Err(ParseError::InvalidStreamNamespace);
                }
                let ctx = NsContext {
                    default_ns: scopes.default_ns().clone(),
                    prefixes: scopes.bindings.clone(),
                };
                return Ok((el, ctx));
            }
            Event::Text(t) if t.iter().all(|&b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')) => {}
            _ => return Err(ParseError::not_well_formed("expected the stream header")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Element, ParseError> {
        parse_element(s.as_bytes(), &NsContext::client(), &Limits::default())
    }

    #[test]
    fn resolves_namespaces_and_prefixes() {
        let el = parse(
            "<message xmlns:e='urn:portico:e2ee:1'><e:e2ee><to/></e:e2ee><stream:x/></message>",
        )
        .expect("valid");
        assert!(el.is("message", ns::JABBER_CLIENT));
        let e2ee = el.children().next().expect("child");
        assert!(e2ee.is("e2ee", ns::PORTICO_E2EE));
        // An unprefixed child of a prefixed element keeps the default namespace.
        assert!(
            e2ee.children()
                .next()
                .expect("to")
                .is("to", ns::JABBER_CLIENT)
        );
        assert!(el.children().nth(1).expect("x").is("x", ns::STREAM));
    }

    #[test]
    fn unescapes_text_and_attributes() {
        let el = parse("<a v='&lt;&#x41;&apos;'>x &amp; &#66;<![CDATA[<c>]]></a>").expect("valid");
        assert_eq!(el.attr("v"), Some("<A'"));
        assert_eq!(el.text(), "x & B<c>");
        assert_eq!(el.nodes().len(), 1);
    }

    #[test]
    fn errors_are_specific() {
        assert_eq!(
            parse("<a>&foo;</a>").expect_err("must fail"),
            ParseError::UnknownEntity { name: "foo".into() }
        );
        assert!(matches!(
            parse("<a xmlns:stream='urn:x'/>").expect_err("must fail"),
            ParseError::ReservedPrefix { .. }
        ));
        assert!(matches!(
            parse("<x:a/>").expect_err("must fail"),
            ParseError::UnboundPrefix { .. }
        ));
        assert!(matches!(
            parse("<a>&#0;</a>").expect_err("must fail"),
            ParseError::InvalidCharacterReference { .. }
        ));
        for bad in [
            "<a\"b/>",
            "<a:b:c xmlns:a='u'/>",
            "<1a/>",
            "<a x\"y='1'/>",
            "<a :x='1'/>",
        ] {
            assert!(
                matches!(parse(bad).expect_err(bad), ParseError::NotWellFormed { .. }),
                "{bad}"
            );
        }
        assert!(parse("<é-x.y_z/>").is_ok());
        // A prefix bound by the stream header is declared where an attribute uses it.
        let el = parse("<a stream:x='1'><b stream:y='2'/></a>").expect("valid");
        assert_eq!(el.attr("xmlns:stream"), Some(ns::STREAM));
        assert_eq!(
            el.children().next().and_then(|b| b.attr("xmlns:stream")),
            None
        );
        assert_eq!(
            parse(std::str::from_utf8(&el.to_bytes()).expect("utf8")),
            Ok(el)
        );
        for dup in [
            "<a xmlns='u' xmlns='v'/>",
            "<a xmlns:p='u' xmlns:p='v'/>",
            "<a b='1' c='2' b='3'/>",
        ] {
            assert!(
                matches!(parse(dup).expect_err(dup), ParseError::NotWellFormed { .. }),
                "{dup}"
            );
        }
        assert!(matches!(
            parse("<a></b>").expect_err("must fail"),
            ParseError::NotWellFormed { .. }
        ));
        assert!(matches!(
            parse("<a a='1' a='2'/>").expect_err("must fail"),
            ParseError::NotWellFormed { .. }
        ));
    }
}
