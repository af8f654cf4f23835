//! Property tests of the streaming parser: any chunking of a valid stream yields the same
//! events, and no input (random, or a valid stream corrupted) makes it panic.

use portico_stanza::Element;
use portico_stanza::parser::{Event, Limits, ParseError, STREAM_END, StreamParser};
use proptest::collection::vec;
use proptest::prelude::*;

const HEADER: &[u8] = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='hub.example' version='1.0'>";

const NAMESPACES: &[&str] = &["jabber:client", "urn:portico:e2ee:1", "urn:x:other", ""];

fn text() -> impl Strategy<Value = String> {
    "[ -~\t\r\néß€😀<>&'\"]{0,16}"
}

fn element() -> impl Strategy<Value = Element> {
    let leaf = (
        "[a-z][a-z0-9-]{0,5}",
        0..NAMESPACES.len(),
        vec(("[a-z]{1,4}", text()), 0..3),
        text(),
    )
        .prop_map(|(name, ns, attrs, t)| {
            let mut el = Element::new(name, NAMESPACES[ns]);
            for (k, v) in attrs {
                el.set_attr(k, v);
            }
            el.push_text(&t);
            el
        });
    leaf.prop_recursive(3, 12, 3, |inner| {
        (inner.clone(), vec(inner, 0..3)).prop_map(|(mut el, kids)| {
            for k in kids {
                el.push_child(k);
            }
            el
        })
    })
}

/// Feeds `input` split at `cuts` and collects events until the first error.
fn events(input: &[u8], cuts: &[usize]) -> (Vec<Event>, Option<ParseError>) {
    let mut p = StreamParser::new(Limits::default());
    let mut out = Vec::new();
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.push(input.len());
    points.sort_unstable();
    let mut at = 0;
    for cut in points {
        p.feed(&input[at..cut]);
        at = cut;
        loop {
            match p.next_event() {
                Ok(Some(e)) => out.push(e),
                Ok(None) => break,
                Err(e) => {
                    // Errors are sticky.
                    assert_eq!(p.next_event(), Err(e.clone()));
                    return (out, Some(e));
                }
            }
        }
    }
    let err = p.finish().err();
    (out, err)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_chunking_yields_the_same_stanzas(
        stanzas in vec(element(), 0..6),
        spaces in vec("[ \t\r\n]{0,3}", 6),
        cuts in vec(any::<usize>(), 0..40),
    ) {
        let mut input = HEADER.to_vec();
        for (el, ws) in stanzas.iter().zip(spaces.iter().cycle()) {
            input.extend_from_slice(ws.as_bytes());
            el.write_to(&mut input);
        }
        input.extend_from_slice(STREAM_END);
        let (whole, err) = events(&input, &[]);
        prop_assert_eq!(err, None);
        let (chunked, err) = events(&input, &cuts);
        prop_assert_eq!(err, None);
        prop_assert_eq!(&chunked, &whole);
        let got: Vec<&Element> = whole.iter().filter_map(|e| match e { Event::Stanza(el) => Some(el), _ => None }).collect();
        prop_assert_eq!(got, stanzas.iter().collect::<Vec<_>>());
        prop_assert!(matches!(whole.first(), Some(Event::StreamHeader(_))));
        prop_assert_eq!(whole.last(), Some(&Event::StreamEnd));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512), cuts in vec(any::<usize>(), 0..8), with_header: bool) {
        let mut input = if with_header { HEADER.to_vec() } else { Vec::new() };
        input.extend_from_slice(&bytes);
        let _ = events(&input, &cuts);
    }

    #[test]
    fn corrupted_streams_never_panic(
        stanzas in vec(element(), 1..4),
        edits in vec((any::<usize>(), any::<u8>(), 0..3u8), 1..6),
        cuts in vec(any::<usize>(), 0..8),
    ) {
        let mut input = HEADER.to_vec();
        for el in &stanzas {
            el.write_to(&mut input);
        }
        input.extend_from_slice(STREAM_END);
        for (at, byte, op) in edits {
            let at = at % input.len();
            match op {
                0 => input[at] = byte,
                1 => input.insert(at, byte),
                _ => { input.remove(at); }
            }
        }
        let (events, _) = events(&input, &cuts);
        // Whatever was accepted re-serializes to something that parses to the same tree.
        for e in events {
            if let Event::Stanza(el) = e {
                prop_assert_eq!(Element::from_bytes(&el.to_bytes()), Ok(el));
            }
        }
    }
}
