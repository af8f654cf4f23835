//! Finds where each top-level unit of an XMPP stream ends, across arbitrary chunk boundaries.
//!
//! The framer scans incrementally (each byte once, with `memchr` over text and attribute
//! values), tracks element depth, and reports the byte range of the stream header, of each
//! complete top-level stanza and of the stream end. It refuses DTDs, comments and processing
//! instructions as soon as their opening bytes arrive, and enforces the size and depth limits
//! before anything is parsed, so a hostile peer cannot make the parser buffer or recurse
//! without bound. The complete range is then parsed by `tree` with quick-xml.

use super::{Limits, ParseError};
use memchr::{memchr, memchr3, memmem};
use std::ops::Range;

/// A complete top-level unit found in the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unit {
    /// The stream header start tag.
    Header(Range<usize>),
    /// One complete top-level element.
    Stanza(Range<usize>),
    /// The stream's closing tag.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lex {
    /// Between markup; `pos` is the next byte to look at.
    Text,
    /// Inside a start tag that began at `start`.
    Tag { start: usize },
    /// Inside a quoted attribute value of a start tag.
    Quote { start: usize, quote: u8 },
    /// Inside an end tag.
    EndTag { start: usize },
    /// Inside a CDATA section.
    CData,
    /// Inside the leading XML declaration.
    Decl,
}

/// Incremental scanner state. Positions are offsets into the caller's buffer.
#[derive(Debug, Clone)]
pub(crate) struct Framer {
    lex: Lex,
    /// 0 = before the stream header, 1 = between stanzas, 2+ = inside a stanza.
    depth: usize,
    /// Where the unit being scanned (header or stanza) started.
    unit_start: usize,
    pos: usize,
    seen_markup: bool,
    ended: bool,
    /// WebSocket framing (RFC 7395): no enclosing stream element, so scanning starts at
    /// stanza level, as if a header had been seen.
    framed: bool,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// How a `<!…` construct may continue.
const BANG: &[(&[u8], Option<ParseError>)] = &[
    (b"<!--", Some(ParseError::CommentRefused)),
    (b"<![CDATA[", None),
    (b"<!DOCTYPE", Some(ParseError::DoctypeRefused)),
    (b"<!ENTITY", Some(ParseError::EntityDeclarationRefused)),
    (b"<!ELEMENT", Some(ParseError::DoctypeRefused)),
    (b"<!ATTLIST", Some(ParseError::DoctypeRefused)),
    (b"<!NOTATION", Some(ParseError::DoctypeRefused)),
];

impl Framer {
    pub(crate) fn new() -> Self {
        Framer {
            lex: Lex::Text,
            depth: 0,
            unit_start: 0,
            pos: 0,
            seen_markup: false,
            ended: false,
            framed: false,
        }
    }

    /// A framer for WebSocket framing: every top-level element is a unit.
    pub(crate) fn new_framed() -> Self {
        Framer {
            depth: 1,
            seen_markup: true,
            framed: true,
            ..Framer::new()
        }
    }

    /// True between units: everything before `pos` may be discarded.
    pub(crate) fn at_boundary(&self) -> bool {
        self.lex == Lex::Text && self.depth <= 1
    }

    /// Bytes before this offset are no longer needed (valid when `at_boundary`).
    pub(crate) fn consumed(&self) -> usize {
        self.pos
    }

    /// The buffer lost its first `n` bytes.
    pub(crate) fn shift(&mut self, n: usize) {
        self.pos -= n;
        self.unit_start = self.unit_start.saturating_sub(n);
    }

    /// True once `</stream:stream>` was seen.
    pub(crate) fn ended(&self) -> bool {
        self.ended
    }

    /// True while inside the stream (header seen, end not yet).
    pub(crate) fn in_stream(&self) -> bool {
        self.depth >= 1 && !self.ended
    }

    /// Scans forward; returns the next complete unit, or `None` if more bytes are needed.
    pub(crate) fn next(&mut self, buf: &[u8], limits: &Limits) -> Result<Option<Unit>, ParseError> {
        let r = self.scan(buf, limits);
        if let Ok(None) = r {
            if !self.at_boundary() && buf.len() - self.unit_start > limits.max_stanza_bytes {
                return Err(ParseError::StanzaTooLarge {
                    limit: limits.max_stanza_bytes,
                });
            }
        }
        r
    }

    fn scan(&mut self, buf: &[u8], limits: &Limits) -> Result<Option<Unit>, ParseError> {
        loop {
            if self.ended {
                self.pos = buf.len();
                return Ok(None);
            }
            match self.lex {
                Lex::Text => {
                    let rest = &buf[self.pos..];
                    if self.depth <= 1 {
                        match rest.iter().position(|&b| !is_ws(b)) {
                            None => {
                                self.pos = buf.len();
                                return Ok(None);
                            }
                            Some(i) if rest[i] == b'<' => self.pos += i,
                            Some(_) => return Err(ParseError::TextAtStreamLevel),
                        }
                    } else {
                        match memchr(b'<', rest) {
                            None => {
                                self.pos = buf.len();
                                return Ok(None);
                            }
                            Some(i) => self.pos += i,
                        }
                    }
                    // buf[pos] == '<'
                    let start = self.pos;
                    let Some(&next) = buf.get(start + 1) else {
                        return Ok(None);
                    };
                    match next {
                        b'/' => {
                            self.lex = Lex::EndTag { start };
                            self.pos = start + 2;
                        }
                        b'?' => {
                            let Some(target) = buf.get(start..start + 6) else {
                                return Ok(None);
                            };
                            let is_decl = &target[..5] == b"<?xml" && is_ws(target[5]);
                            if !is_decl || self.depth != 0 || self.seen_markup {
                                return Err(ParseError::ProcessingInstructionRefused);
                            }
                            self.seen_markup = true;
                            self.unit_start = start;
                            self.lex = Lex::Decl;
                            self.pos = start + 6;
                        }
                        b'!' => {
                            let avail = &buf[start..];
                            let mut prefix_of_some = false;
                            for (word, refusal) in BANG {
                                if avail.len() >= word.len() {
                                    if avail.starts_with(word) {
                                        if let Some(err) = refusal {
                                            return Err(err.clone());
                                        }
                                        if self.depth < 2 {
                                            return Err(ParseError::not_well_formed(
                                                "CDATA section outside a stanza",
                                            ));
                                        }
                                        self.lex = Lex::CData;
                                        self.pos = start + word.len();
                                        prefix_of_some = false;
                                        break;
                                    }
                                } else if word.starts_with(avail) {
                                    prefix_of_some = true;
                                }
                            }
                            if prefix_of_some {
                                return Ok(None);
                            }
                            if self.lex != Lex::CData {
                                return Err(ParseError::not_well_formed("unexpected '<!' markup"));
                            }
                        }
                        _ => {
                            if self.depth <= 1 {
                                self.unit_start = start;
                            }
                            self.seen_markup = true;
                            self.lex = Lex::Tag { start };
                            self.pos = start + 1;
                        }
                    }
                }
                Lex::Tag { start } => match memchr3(b'>', b'"', b'\'', &buf[self.pos..]) {
                    None => {
                        self.pos = buf.len();
                        return Ok(None);
                    }
                    Some(i) => {
                        let at = self.pos + i;
                        let b = buf[at];
                        if b != b'>' {
                            self.lex = Lex::Quote { start, quote: b };
                            self.pos = at + 1;
                            continue;
                        }
                        self.pos = at + 1;
                        self.lex = Lex::Text;
                        let empty = at > start + 1 && buf[at - 1] == b'/';
                        if empty {
                            match self.depth {
                                0 => {
                                    return Err(ParseError::not_well_formed(
                                        "the stream header must not be an empty element",
                                    ));
                                }
                                1 => return Ok(Some(Unit::Stanza(self.unit_start..self.pos))),
                                _ => {}
                            }
                        } else {
                            self.depth += 1;
                            if self.depth == 1 {
                                return Ok(Some(Unit::Header(start..self.pos)));
                            }
                            if self.depth - 1 > limits.max_depth {
                                return Err(ParseError::TooDeep {
                                    limit: limits.max_depth,
                                });
                            }
                        }
                    }
                },
                Lex::Quote { start, quote } => match memchr(quote, &buf[self.pos..]) {
                    None => {
                        self.pos = buf.len();
                        return Ok(None);
                    }
                    Some(i) => {
                        self.pos += i + 1;
                        self.lex = Lex::Tag { start };
                    }
                },
                Lex::EndTag { start: _ } => match memchr(b'>', &buf[self.pos..]) {
                    None => {
                        self.pos = buf.len();
                        return Ok(None);
                    }
                    Some(i) => {
                        self.pos += i + 1;
                        self.lex = Lex::Text;
                        match self.depth {
                            0 => {
                                return Err(ParseError::not_well_formed(
                                    "end tag before the stream header",
                                ));
                            }
                            1 if self.framed => {
                                return Err(ParseError::not_well_formed(
                                    "end tag without a start tag",
                                ));
                            }
                            1 => {
                                self.depth = 0;
                                self.ended = true;
                                return Ok(Some(Unit::End));
                            }
                            2 => {
                                self.depth = 1;
                                return Ok(Some(Unit::Stanza(self.unit_start..self.pos)));
                            }
                            _ => self.depth -= 1,
                        }
                    }
                },
                Lex::CData => match memmem::find(&buf[self.pos..], b"]]>") {
                    None => {
                        self.pos = buf.len().saturating_sub(2).max(self.pos);
                        return Ok(None);
                    }
                    Some(i) => {
                        self.pos += i + 3;
                        self.lex = Lex::Text;
                    }
                },
                Lex::Decl => match memmem::find(&buf[self.pos..], b"?>") {
                    None => {
                        self.pos = buf.len().saturating_sub(1).max(self.pos);
                        return Ok(None);
                    }
                    Some(i) => {
                        self.pos += i + 2;
                        self.lex = Lex::Text;
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(input: &[u8]) -> Result<Vec<Unit>, ParseError> {
        let mut f = Framer::new();
        let mut out = Vec::new();
        while let Some(u) = f.next(input, &Limits::default())? {
            out.push(u);
        }
        Ok(out)
    }

    #[test]
    fn frames_header_stanzas_and_end() {
        let s = b"<?xml version='1.0'?><stream:stream a='>'> <m x=\"/>\"><b>t</b></m><p/></stream:stream>";
        let u = units(s).expect("valid stream");
        assert_eq!(u.len(), 4);
        assert!(matches!(u[0], Unit::Header(_)));
        match &u[1] {
            Unit::Stanza(r) => assert_eq!(&s[r.clone()], b"<m x=\"/>\"><b>t</b></m>"),
            other => panic!("{other:?}"),
        }
        assert_eq!(u[3], Unit::End);
    }

    #[test]
    fn refuses_constructs_early() {
        assert_eq!(
            units(b"<!DOCTYPE x [").expect_err("must fail"),
            ParseError::DoctypeRefused
        );
        assert_eq!(
            units(b"<s><!-- c").expect_err("must fail"),
            ParseError::CommentRefused
        );
        assert_eq!(
            units(b"<s><?pi x?>").expect_err("must fail"),
            ParseError::ProcessingInstructionRefused
        );
        assert_eq!(
            units(b"<s>text").expect_err("must fail"),
            ParseError::TextAtStreamLevel
        );
    }

    #[test]
    fn waits_on_partial_bang() {
        assert_eq!(
            units(b"<s><m><![CDA").expect("partial"),
            vec![Unit::Header(0..3)]
        );
    }
}
