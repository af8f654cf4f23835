//! Each input limit and each refused XML construct ends the stream with its own error,
//! the right RFC 6120 stream error condition, and a text that names the limit or rule.

use portico_stanza::parser::{Event, Limits, ParseError, StreamParser};
use portico_stanza::stanza::StreamErrorCondition;

const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='hub.example' version='1.0'>";

/// Feeds `body` after a valid header (in 7-byte chunks) and returns the first error.
fn first_error_with(limits: Limits, body: &str) -> ParseError {
    let mut p = StreamParser::new(limits);
    let input = format!("{HEADER}{body}");
    for chunk in input.as_bytes().chunks(7) {
        p.feed(chunk);
        loop {
            match p.next_event() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => return e,
            }
        }
    }
    match p.finish() {
        Err(e) => e,
        Ok(()) => panic!("no error for {body:?}"),
    }
}

fn first_error(body: &str) -> ParseError {
    first_error_with(Limits::default(), body)
}

fn assert_names(err: &ParseError, condition: StreamErrorCondition, words: &str) {
    assert_eq!(err.condition(), condition, "{err}");
    let text = err.to_stream_error().text.expect("text").to_string();
    assert!(text.contains(words), "{text:?} should name {words:?}");
}

#[test]
fn billion_laughs_is_refused_at_the_doctype() {
    let mut p = StreamParser::new(Limits::default());
    p.feed(b"<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;&lol;&lol;'>]>");
    let err = p.next_event().expect_err("refused");
    assert_eq!(err, ParseError::DoctypeRefused);
    assert_names(&err, StreamErrorCondition::RestrictedXml, "DTD");
    // Inside a stream it is refused the same way.
    assert_eq!(
        first_error("<!DOCTYPE x [<!ENTITY a 'b'>]><message>&a;</message>"),
        ParseError::DoctypeRefused
    );
}

#[test]
fn external_entity_is_refused() {
    let err = first_error("<!ENTITY xxe SYSTEM 'file:///etc/passwd'>");
    assert_eq!(err, ParseError::EntityDeclarationRefused);
    assert_names(
        &err,
        StreamErrorCondition::RestrictedXml,
        "entity declarations",
    );
    // A reference to an undeclared entity (as a smuggled external entity would be).
    let err = first_error("<message><body>&xxe;</body></message>");
    assert_eq!(err, ParseError::UnknownEntity { name: "xxe".into() });
    assert_names(&err, StreamErrorCondition::RestrictedXml, "&xxe;");
    let err = first_error("<message a='&xxe;'/>");
    assert_eq!(err, ParseError::UnknownEntity { name: "xxe".into() });
}

#[test]
fn deep_nesting_is_refused() {
    let deep = format!("<message>{}", "<a>".repeat(40));
    let err = first_error(&deep);
    assert_eq!(err, ParseError::TooDeep { limit: 32 });
    assert_names(&err, StreamErrorCondition::PolicyViolation, "max_depth");
    // Exactly at the limit is fine.
    let ok = format!(
        "<message>{}{}</message>",
        "<a>".repeat(31),
        "</a>".repeat(31)
    );
    let mut p = StreamParser::new(Limits::default());
    p.feed(format!("{HEADER}{ok}").as_bytes());
    assert!(matches!(p.next_event(), Ok(Some(Event::StreamHeader(_)))));
    assert!(matches!(p.next_event(), Ok(Some(Event::Stanza(_)))));
}

#[test]
fn oversized_stanza_is_refused_before_it_completes() {
    let limits = Limits {
        max_stanza_bytes: 1024,
        ..Limits::default()
    };
    let big = format!("<message><body>{}", "x".repeat(2000));
    let err = first_error_with(limits.clone(), &big);
    assert_eq!(err, ParseError::StanzaTooLarge { limit: 1024 });
    assert_names(
        &err,
        StreamErrorCondition::PolicyViolation,
        "max_stanza_bytes",
    );
    // The default is 256 KiB.
    let big = format!("<message><body>{}</body></message>", "x".repeat(300 * 1024));
    assert_eq!(
        first_error(&big),
        ParseError::StanzaTooLarge { limit: 256 * 1024 }
    );
}

#[test]
fn too_many_attributes_is_refused() {
    let attrs: String = (0..65).map(|i| format!(" a{i}='v'")).collect();
    let err = first_error(&format!("<message{attrs}/>"));
    assert_eq!(err, ParseError::TooManyAttributes { limit: 64 });
    assert_names(
        &err,
        StreamErrorCondition::PolicyViolation,
        "max_attributes",
    );
}

#[test]
fn too_long_attribute_is_refused() {
    let limits = Limits {
        max_attribute_bytes: 100,
        ..Limits::default()
    };
    let err = first_error_with(limits, &format!("<message id='{}'/>", "i".repeat(101)));
    assert_eq!(err, ParseError::AttributeTooLong { limit: 100 });
    assert_names(
        &err,
        StreamErrorCondition::PolicyViolation,
        "max_attribute_bytes",
    );
}

#[test]
fn too_long_text_is_refused() {
    let limits = Limits {
        max_text_bytes: 100,
        ..Limits::default()
    };
    let err = first_error_with(
        limits.clone(),
        &format!("<message><body>{}</body></message>", "t".repeat(101)),
    );
    assert_eq!(err, ParseError::TextTooLong { limit: 100 });
    assert_names(
        &err,
        StreamErrorCondition::PolicyViolation,
        "max_text_bytes",
    );
    // Entity references count towards the same text.
    let err = first_error_with(
        limits,
        &format!("<message><body>{}</body></message>", "&amp;".repeat(101)),
    );
    assert_eq!(err, ParseError::TextTooLong { limit: 100 });
}

#[test]
fn processing_instruction_is_refused() {
    let err = first_error("<?evil x?>");
    assert_eq!(err, ParseError::ProcessingInstructionRefused);
    assert_names(
        &err,
        StreamErrorCondition::RestrictedXml,
        "processing instructions",
    );
    assert_eq!(
        first_error("<message><?pi?></message>"),
        ParseError::ProcessingInstructionRefused
    );
    // A second XML declaration is a PI too.
    assert_eq!(
        first_error("<?xml version='1.0'?>"),
        ParseError::ProcessingInstructionRefused
    );
}

#[test]
fn comment_is_refused() {
    let err = first_error("<message><!-- hi --></message>");
    assert_eq!(err, ParseError::CommentRefused);
    assert_names(&err, StreamErrorCondition::RestrictedXml, "comments");
}

#[test]
fn unclosed_stream_is_reported_at_end_of_input() {
    let err = first_error("<message><body>never closed");
    assert_eq!(err, ParseError::UnclosedStream);
    assert_names(
        &err,
        StreamErrorCondition::NotWellFormed,
        "</stream:stream>",
    );
    // Also with no open stanza.
    assert_eq!(first_error("<presence/>"), ParseError::UnclosedStream);
}

#[test]
fn wrong_stream_namespace_and_unbound_prefix() {
    let mut p = StreamParser::new(Limits::default());
    p.feed(b"<stream xmlns='jabber:client'>");
    let err = p.next_event().expect_err("refused");
    assert_eq!(err, ParseError::InvalidStreamNamespace);
    assert_eq!(err.condition(), StreamErrorCondition::InvalidNamespace);
    let err = first_error("<foo:message/>");
    assert_eq!(
        err,
        ParseError::UnboundPrefix {
            prefix: "foo".into()
        }
    );
    assert_eq!(err.condition(), StreamErrorCondition::BadNamespacePrefix);
}

#[test]
fn malformed_xml_and_bad_utf8() {
    assert!(matches!(
        first_error("<message></presence>"),
        ParseError::NotWellFormed { .. }
    ));
    assert_eq!(first_error("hello"), ParseError::TextAtStreamLevel);
    let mut p = StreamParser::new(Limits::default());
    p.feed(HEADER.as_bytes());
    p.feed(b"<message><body>\xff\xfe</body></message>");
    assert!(matches!(p.next_event(), Ok(Some(Event::StreamHeader(_)))));
    assert_eq!(p.next_event(), Err(ParseError::InvalidUtf8));
    // Errors are sticky.
    assert_eq!(p.next_event(), Err(ParseError::InvalidUtf8));
}
