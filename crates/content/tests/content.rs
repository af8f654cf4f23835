//! End-to-end checks of the content codec: round trips, the schema file, golden bytes and
//! every refusal.

use portico_content::{
    Attachment, Body, CallSignal, Content, ContentError, Delete, Edit, GroupContext, GroupUpdate,
    Limits, PADDING_BLOCK, Quote, Reaction, Receipt, ReceiptKind, Text, Typing, decode, encode,
    pad,
};
use proptest::prelude::*;
use prost::Message as _;

fn text(body: &str) -> Content {
    Content {
        body: Some(Body::Text(Text {
            body: body.into(),
            reply_to: None,
        })),
        sent_at_ms: 1_700_000_000_000,
        group: None,
    }
}

fn attachment() -> Attachment {
    Attachment {
        url: "https://media.birdy.example/f/1".into(),
        key: vec![1; 32],
        ciphertext_sha256: vec![2; 32],
        plaintext_sha256: vec![3; 32],
        size: 1234,
        content_type: "image/jpeg".into(),
        file_name: "cat.jpg".into(),
        thumbnail: vec![9; 100],
        width: 640,
        height: 480,
        duration_ms: 0,
        chunk_size: 65536,
        caption: "a cat".into(),
    }
}

fn with_body(body: Body) -> Content {
    Content {
        body: Some(body),
        sent_at_ms: 0,
        group: None,
    }
}

#[test]
fn golden_bytes_pin_the_wire_format() {
    let content = Content {
        body: Some(Body::Text(Text {
            body: "hi".into(),
            reply_to: Some(Quote {
                message_id: "m1".into(),
                author: "a@b".into(),
                snippet: String::new(),
            }),
        })),
        sent_at_ms: 5,
        group: Some(GroupContext {
            id: vec![0xaa; 16],
            revision: 1,
        }),
    };
    let plaintext = encode(&content, &Limits::default()).expect("valid content");
    let expected_content: &[u8] = &[
        0x0a, 0x0f, // field 1 (text), 15 bytes
        0x0a, 0x02, b'h', b'i', // Text.body
        0x12, 0x09, 0x0a, 0x02, b'm', b'1', 0x12, 0x03, b'a', b'@', b'b', // Text.reply_to
        0x70, 0x05, // field 14 (sent_at_ms) = 5
        0x7a, 0x14, 0x0a, 0x10, // field 15 (group), id of 16 bytes
    ];
    assert_eq!(&plaintext[..expected_content.len()], expected_content);
    assert_eq!(
        &plaintext[expected_content.len()..expected_content.len() + 16],
        &[0xaa; 16]
    );
    assert_eq!(
        &plaintext[expected_content.len() + 16..expected_content.len() + 18],
        &[0x10, 0x01]
    );
    assert_eq!(
        plaintext[expected_content.len() + 18],
        0x80,
        "padding marker"
    );
    assert_eq!(plaintext.len(), PADDING_BLOCK);
}

#[test]
fn proto_file_and_rust_types_agree() {
    let schema = include_str!("../content.proto");
    let rust = include_str!("../src/schema.rs");
    let mut checked = 0;
    for line in schema.lines() {
        let code = line.split("//").next().unwrap_or_default().trim();
        let Some((left, number)) = code.split_once('=') else {
            continue;
        };
        let number = number.trim().trim_end_matches(';').trim();
        let Ok(tag) = number.parse::<u32>() else {
            continue;
        };
        let Some(name) = left.split_whitespace().last() else {
            continue;
        };
        if name.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
            continue; // enum constants are checked by ReceiptKind below
        }
        let field = format!("tag = \"{tag}\")]\n    pub {name}:");
        let variant = format!("tag = \"{tag}\")]\n    {}(", camel(name));
        assert!(
            rust.contains(&field) || rust.contains(&variant),
            "content.proto field {name} = {tag} has no twin in schema.rs"
        );
        checked += 1;
    }
    assert!(
        checked >= 40,
        "only {checked} fields checked: the drift check is not reading content.proto"
    );
    assert_eq!(ReceiptKind::Delivered as i32, 0);
    assert_eq!(ReceiptKind::Read as i32, 1);
    assert_eq!(ReceiptKind::Viewed as i32, 2);
}

fn camel(snake: &str) -> String {
    snake
        .split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn every_body_round_trips() {
    let limits = Limits::default();
    let bodies = vec![
        Body::Text(Text {
            body: "hello ✓".into(),
            reply_to: None,
        }),
        Body::Reaction(Reaction {
            target_id: "m1".into(),
            target_author: "a@b".into(),
            emoji: "👍".into(),
            remove: true,
        }),
        Body::Edit(Edit {
            target_id: "m1".into(),
            body: "fixed".into(),
        }),
        Body::Delete(Delete {
            target_id: "m1".into(),
        }),
        Body::Receipt(Receipt {
            kind: ReceiptKind::Read as i32,
            message_ids: vec!["m1".into(), "m2".into()],
        }),
        Body::Typing(Typing { started: true }),
        Body::Attachment(attachment()),
        Body::GroupUpdate(GroupUpdate {
            payload: vec![1, 2, 3],
        }),
        Body::Call(CallSignal {
            call_id: "c1".into(),
            payload: vec![4],
        }),
    ];
    for body in bodies {
        let content = with_body(body);
        let plaintext = encode(&content, &limits).expect("valid content encodes");
        assert_eq!(decode(&plaintext, &limits).expect("and decodes"), content);
    }
}

#[test]
fn attachment_debug_hides_the_key() {
    let shown = format!("{:?}", attachment());
    assert!(shown.contains("<redacted>"));
    assert!(!shown.contains("[1, 1"), "{shown}");
}

#[test]
fn refusals_are_specific() {
    let limits = Limits {
        max_text_bytes: 10,
        max_receipt_ids: 2,
        max_content_bytes: 1000,
        ..Limits::default()
    };
    let refuse = |content: Content| encode(&content, &limits).expect_err("must be refused");

    assert!(matches!(
        refuse(text(&"x".repeat(11))),
        ContentError::FieldTooLong {
            field: "Text.body",
            len: 11,
            limit: 10,
            knob: "max_text_bytes"
        }
    ));
    assert_eq!(refuse(Content::default()), ContentError::UnknownBody);
    assert_eq!(
        refuse(with_body(Body::Receipt(Receipt {
            kind: 0,
            message_ids: vec!["a".into(); 3]
        }))),
        ContentError::TooManyReceiptIds { count: 3, limit: 2 }
    );
    assert_eq!(
        refuse(with_body(Body::Receipt(Receipt {
            kind: 7,
            message_ids: vec!["a".into()]
        }))),
        ContentError::UnknownReceiptKind(7)
    );
    assert_eq!(
        refuse(with_body(Body::Delete(Delete {
            target_id: String::new()
        }))),
        ContentError::EmptyField {
            field: "Delete.target_id"
        }
    );
    let mut short_key = attachment();
    short_key.caption.clear();
    short_key.key = vec![0; 16];
    assert!(matches!(
        refuse(with_body(Body::Attachment(short_key))),
        ContentError::WrongLength {
            field: "Attachment.key",
            len: 16,
            ..
        }
    ));
    let mut plain_http = attachment();
    plain_http.caption.clear();
    plain_http.url = "http://media.birdy.example/f/1".into();
    assert_eq!(
        refuse(with_body(Body::Attachment(plain_http))),
        ContentError::AttachmentNotHttps
    );
    let mut bad_group = text("hi");
    bad_group.group = Some(GroupContext {
        id: vec![1; 8],
        revision: 0,
    });
    assert!(matches!(
        refuse(bad_group),
        ContentError::WrongLength {
            field: "GroupContext.id",
            ..
        }
    ));
    let big = with_body(Body::GroupUpdate(GroupUpdate {
        payload: vec![0; 2000],
    }));
    assert!(matches!(
        refuse(big),
        ContentError::TooLarge { limit: 1000, .. }
    ));
}

#[test]
fn decode_refuses_what_a_conforming_sender_cannot_produce() {
    let limits = Limits::default();
    // Not padded.
    assert_eq!(
        decode(b"\x0a\x00", &limits),
        Err(ContentError::MissingPaddingMarker)
    );
    // Padded garbage: a truncated length-delimited field.
    let mut garbage = vec![0x0a, 0x7f, 0x01];
    pad(&mut garbage);
    assert!(matches!(
        decode(&garbage, &limits),
        Err(ContentError::Malformed(_))
    ));
    // A body from a newer version (field 12 is not a known body): unknown, not a crash.
    let mut future = vec![0x62, 0x00];
    pad(&mut future);
    assert_eq!(decode(&future, &limits), Err(ContentError::UnknownBody));
    // A receiver enforces the limits too, whatever the sender's settings were.
    let long = encode(&text(&"y".repeat(100)), &limits).expect("valid under defaults");
    let strict = Limits {
        max_text_bytes: 50,
        ..Limits::default()
    };
    assert!(matches!(
        decode(&long, &strict),
        Err(ContentError::FieldTooLong {
            field: "Text.body",
            ..
        })
    ));
    // Over the size limit before parsing.
    let tiny = Limits {
        max_content_bytes: 20,
        ..Limits::default()
    };
    assert!(matches!(
        decode(&long, &tiny),
        Err(ContentError::TooLarge { limit: 20, .. })
    ));
}

fn arbitrary_content() -> impl Strategy<Value = Content> {
    let id = "[a-zA-Z0-9]{1,20}";
    let body = prop_oneof![
        (".{0,200}", proptest::option::of((id, ".{0,20}", ".{0,20}"))).prop_map(|(body, quote)| {
            Body::Text(Text {
                body,
                reply_to: quote.map(|(message_id, author, snippet)| Quote {
                    message_id,
                    author,
                    snippet,
                }),
            })
        }),
        (id, ".{0,20}", "[^\\x00]{1,8}", any::<bool>()).prop_map(
            |(target_id, target_author, emoji, remove)| {
                Body::Reaction(Reaction {
                    target_id,
                    target_author,
                    emoji,
                    remove,
                })
            }
        ),
        (id, ".{0,100}").prop_map(|(target_id, body)| Body::Edit(Edit { target_id, body })),
        id.prop_map(|target_id| Body::Delete(Delete { target_id })),
        (0..3i32, proptest::collection::vec(id, 1..10))
            .prop_map(|(kind, message_ids)| Body::Receipt(Receipt { kind, message_ids })),
        any::<bool>().prop_map(|started| Body::Typing(Typing { started })),
        (
            any::<u64>(),
            any::<[u8; 32]>(),
            proptest::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(size, key, thumbnail)| {
                let mut file = attachment();
                file.size = size;
                file.key = key.to_vec();
                file.thumbnail = thumbnail;
                Body::Attachment(file)
            }),
        proptest::collection::vec(any::<u8>(), 0..300)
            .prop_map(|payload| Body::GroupUpdate(GroupUpdate { payload })),
    ];
    let group = proptest::option::of((
        proptest::collection::vec(any::<u8>(), 16..=32),
        any::<u32>(),
    ))
    .prop_map(|group| group.map(|(id, revision)| GroupContext { id, revision }));
    (body, any::<u64>(), group).prop_map(|(body, sent_at_ms, group)| Content {
        body: Some(body),
        sent_at_ms,
        group,
    })
}

proptest! {
    #[test]
    fn valid_content_round_trips_and_hides_its_length(content in arbitrary_content()) {
        let limits = Limits::default();
        let plaintext = encode(&content, &limits).expect("generated content is valid");
        prop_assert_eq!(plaintext.len() % PADDING_BLOCK, 0);
        prop_assert!(plaintext.len() > content.encoded_len());
        prop_assert_eq!(decode(&plaintext, &limits).expect("decodes"), content);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode(&bytes, &Limits::default());
    }
}
