//! Fuzzes the stream parser: arbitrary bytes in arbitrary chunks must never panic, and every
//! element it accepts must survive serialize → parse, generically and as a typed stanza.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portico_stanza::Element;
use portico_stanza::parser::{Event, Limits, StreamParser};
use portico_stanza::stanza::TopLevel;

const HEADER: &[u8] = b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='hub.example' version='1.0'>";

fn check(el: Element) {
    let bytes = el.to_bytes();
    let again = Element::from_bytes(&bytes).expect("serialized element parses");
    assert_eq!(again, el, "generic round trip");
    if let Ok(typed) = TopLevel::try_from(el) {
        let bytes = Element::from(typed.clone()).to_bytes();
        let el = Element::from_bytes(&bytes).expect("serialized stanza parses");
        let again = TopLevel::try_from(el).expect("serialized stanza converts");
        // The first conversion may normalise (trim, lowercase a domain); the second must not change it.
        let bytes2 = Element::from(again).to_bytes();
        assert_eq!(bytes, bytes2, "typed round trip");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        max_stanza_bytes: 4096,
        max_depth: 8,
        max_attributes: 8,
        max_attribute_bytes: 256,
        max_text_bytes: 1024,
    };
    // Mode bits: 0 = stream with a valid header fed first (so the fuzzer spends its time
    // on stanzas), 1 = stream from raw bytes, 2 and 3 = WebSocket framing (RFC 7395).
    let mut p = match mode & 3 {
        0 => {
            let mut p = StreamParser::new(limits);
            p.feed(HEADER);
            p
        }
        1 => StreamParser::new(limits),
        _ => StreamParser::new_framed(limits),
    };
    let chunk = usize::from(mode >> 2).max(1);
    for piece in rest.chunks(chunk) {
        p.feed(piece);
        loop {
            match p.next_event() {
                Ok(Some(Event::Stanza(el))) => check(el),
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    let _ = e.to_stream_error();
                    return;
                }
            }
        }
    }
    let _ = p.finish();
});
