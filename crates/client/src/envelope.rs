//! What this client puts inside Signal encryption: a `portico_content::Content`, padded as
//! that crate does, plus this client's extension in protobuf field 100 of the same message,
//! which other Portico decoders skip as an unknown field:
//!
//! - `sync_to`: the conversation a message belongs to, so the sender's other devices can file
//!   their copy (the hub delivers copies addressed to the receiving device only);
//! - `retry`: a request to re-establish the session and resend message `id` that the asking
//!   device could not decrypt (a content-less plaintext).

use portico_content::{Content, Limits, pad, unpad};
use prost::Message as _;
use zeroize::Zeroizing;

use crate::error::Result;

/// Field 100 of the content message.
#[derive(Clone, PartialEq, prost::Message)]
struct Wrapper {
    #[prost(message, optional, tag = "100")]
    ext: Option<Ext>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Ext {
    #[prost(message, optional, tag = "1")]
    retry: Option<RetryRequest>,
    #[prost(string, tag = "2")]
    sync_to: String,
}

/// A request to resend a message the asker could not decrypt.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct RetryRequest {
    /// The message id that failed.
    #[prost(string, tag = "1")]
    pub id: String,
    /// The device that sent it (the one asked to resend).
    #[prost(uint32, tag = "2")]
    pub device: u32,
}

/// A decrypted plaintext, interpreted.
#[derive(Debug, PartialEq)]
pub enum Plain {
    /// Content, with the conversation named by the sender for its own devices.
    Content {
        /// The content.
        content: Box<Content>,
        /// The conversation (peer bare JID), if the sender named it.
        sync_to: Option<String>,
    },
    /// A resend request.
    Retry(RetryRequest),
}

/// Encodes content for the conversation with `sync_to`.
pub fn seal_content(
    content: &Content,
    sync_to: &str,
    limits: &Limits,
) -> Result<Zeroizing<Vec<u8>>> {
    let padded = portico_content::encode(content, limits)?;
    let ext = Wrapper {
        ext: Some(Ext {
            retry: None,
            sync_to: sync_to.to_owned(),
        }),
    };
    let mut raw = Zeroizing::new(unpad(&padded)?.to_vec());
    ext.encode_raw(&mut *raw);
    pad(&mut raw);
    Ok(raw)
}

/// Encodes a resend request.
pub fn seal_retry(request: RetryRequest) -> Zeroizing<Vec<u8>> {
    let mut raw = Zeroizing::new(
        Wrapper {
            ext: Some(Ext {
                retry: Some(request),
                sync_to: String::new(),
            }),
        }
        .encode_to_vec(),
    );
    pad(&mut raw);
    raw
}

/// Decodes a decrypted plaintext.
pub fn open(plaintext: &[u8], limits: &Limits) -> Result<Plain> {
    let raw = unpad(plaintext)?;
    let ext = Wrapper::decode(raw)
        .map_err(portico_content::ContentError::from)?
        .ext
        .unwrap_or_default();
    if let Some(retry) = ext.retry {
        return Ok(Plain::Retry(retry));
    }
    let content = portico_content::decode(plaintext, limits)?;
    Ok(Plain::Content {
        content: Box::new(content),
        sync_to: (!ext.sync_to.is_empty()).then_some(ext.sync_to),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use portico_content::{Body, Text};

    #[test]
    fn content_and_retry_round_trip_and_plain_content_decoders_still_read_it() {
        let limits = Limits::default();
        let c = Content {
            body: Some(Body::Text(Text {
                body: "hi".into(),
                reply_to: None,
            })),
            sent_at_ms: 5,
            group: None,
        };
        let sealed = seal_content(&c, "bob@localhost", &limits).expect("seal");
        assert_eq!(sealed.len() % portico_content::PADDING_BLOCK, 0);
        assert_eq!(
            open(&sealed, &limits).expect("open"),
            Plain::Content {
                content: Box::new(c.clone()),
                sync_to: Some("bob@localhost".into())
            }
        );
        // A decoder that knows only the content schema reads the same message.
        assert_eq!(portico_content::decode(&sealed, &limits), Ok(c));
        let r = RetryRequest {
            id: "m1".into(),
            device: 3,
        };
        assert_eq!(
            open(&seal_retry(r.clone()), &limits).expect("open"),
            Plain::Retry(r)
        );
    }
}
