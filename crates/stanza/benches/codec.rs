//! The hot path of the hub: one ~1.2 KB end-to-end encrypted `<message>` with three device
//! ciphertexts, parsed from stream bytes into its typed form and serialized back; with the
//! raw quick-xml `NsReader` pass over the same bytes as the baseline.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use portico_stanza::parser::{Event, Limits, StreamParser};
use portico_stanza::stanza::{
    Ciphertext, CiphertextKind, DeviceCiphertext, E2ee, Message, MessageType,
};
use portico_stanza::{Element, Jid};
use std::hint::black_box;

const HEADER: &[u8] = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='hub.example' version='1.0'>";

fn sample() -> Message {
    let ct = |device, kind, len: usize, seed: u8| DeviceCiphertext {
        device,
        kind,
        payload: Ciphertext::encode(
            &(0..len)
                .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
                .collect::<Vec<_>>(),
        ),
    };
    Message {
        id: Some("01JDX3Q7ZB6M5E8V2K9N4R1T0A".into()),
        from: Some(Jid::parse("alice@hub.example/3").expect("jid")),
        to: Some(Jid::parse("k7f3qz9x2mbw@birdy.interop.hub.example").expect("jid")),
        kind: Some(MessageType::Chat),
        e2ee: Some(E2ee {
            to: vec![
                ct(1, CiphertextKind::PreKey, 250, 1),
                ct(2, CiphertextKind::Message, 220, 2),
            ],
            own: vec![ct(4, CiphertextKind::Message, 220, 3)],
            ..E2ee::default()
        }),
        ..Message::default()
    }
}

fn bench(c: &mut Criterion) {
    let msg = sample();
    let bytes = Element::from(msg.clone()).to_bytes();
    eprintln!("sample stanza: {} bytes", bytes.len());

    let mut parser = StreamParser::new(Limits::default());
    parser.feed(HEADER);
    assert!(matches!(
        parser.next_event(),
        Ok(Some(Event::StreamHeader(_)))
    ));
    c.bench_function("parse e2ee message to typed", |b| {
        b.iter(|| {
            parser.feed(black_box(&bytes));
            let Ok(Some(Event::Stanza(el))) = parser.next_event() else {
                panic!("stanza")
            };
            let m = Message::try_from(el).expect("message");
            black_box(m)
        })
    });

    c.bench_function("parse e2ee message to Element (framing, no typing)", |b| {
        b.iter(|| {
            parser.feed(black_box(&bytes));
            let Ok(Some(Event::Stanza(el))) = parser.next_event() else {
                panic!("stanza")
            };
            black_box(el)
        })
    });
    c.bench_function(
        "parse e2ee message to Element (no framing, no typing)",
        |b| b.iter(|| black_box(Element::from_bytes(black_box(&bytes)).expect("element"))),
    );

    let el = Element::from(msg.clone());
    c.bench_function(
        "type an Element into a Message (includes cloning the Element)",
        |b| b.iter(|| black_box(Message::try_from(black_box(&el).clone()).expect("message"))),
    );
    c.bench_function("clone the Element (to subtract from the line above)", |b| {
        b.iter(|| black_box(black_box(&el).clone()))
    });

    let mut out = Vec::with_capacity(2048);
    c.bench_function("serialize e2ee message (typed to bytes)", |b| {
        b.iter(|| {
            out.clear();
            black_box(&msg).write_to(&mut out);
            black_box(out.len())
        })
    });
    c.bench_function("serialize e2ee message (element to bytes)", |b| {
        b.iter(|| {
            out.clear();
            black_box(&el).write_to(&mut out);
            black_box(out.len())
        })
    });

    c.bench_function("baseline: quick-xml NsReader events", |b| {
        b.iter(|| {
            let mut reader = quick_xml::NsReader::from_reader(black_box(&bytes[..]));
            let mut n = 0usize;
            loop {
                match reader.read_resolved_event() {
                    Ok((_, quick_xml::events::Event::Eof)) => break,
                    Ok((ns, ev)) => {
                        n += matches!(ns, quick_xml::name::ResolveResult::Bound(_)) as usize;
                        if let quick_xml::events::Event::Start(s)
                        | quick_xml::events::Event::Empty(s) = &ev
                        {
                            n += s.attributes().count();
                        }
                    }
                    Err(_) => break,
                }
            }
            black_box(n)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
