//! XEP-0363 HTTP File Upload payloads (`urn:xmpp:http:upload:0`): the slot request and the
//! slot; and Portico's media token (`urn:portico:media:1`), which authenticates a
//! first-party user to the hub's media proxy over HTTPS.

use compact_str::CompactString;

use super::util::{DecodeError, expect, parse_req, req_attr};
use crate::element::Element;

/// XEP-0363 namespace.
pub const NS_HTTP_UPLOAD: &str = "urn:xmpp:http:upload:0";
/// Portico media namespace (proxy tokens).
pub const NS_PORTICO_MEDIA: &str = "urn:portico:media:1";

/// `<request xmlns='urn:xmpp:http:upload:0' filename='…' size='…' content-type='…'/>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRequest {
    /// The file's name (informative).
    pub filename: CompactString,
    /// Bytes the client will PUT.
    pub size: u64,
    /// MIME type, if given.
    pub content_type: Option<CompactString>,
}

impl From<UploadRequest> for Element {
    fn from(r: UploadRequest) -> Element {
        Element::new("request", NS_HTTP_UPLOAD)
            .with_attr("filename", r.filename)
            .with_attr("size", r.size.to_string())
            .with_opt_attr("content-type", r.content_type)
    }
}

impl TryFrom<Element> for UploadRequest {
    type Error = DecodeError;
    fn try_from(mut el: Element) -> Result<Self, DecodeError> {
        expect(&el, "request", NS_HTTP_UPLOAD)?;
        Ok(UploadRequest {
            filename: req_attr(&mut el, "request", "filename")?,
            size: parse_req(&el, "request", "size")?,
            content_type: el.take_attr("content-type"),
        })
    }
}

/// `<slot xmlns='urn:xmpp:http:upload:0'><put url='…'><header name='…'>…</header></put>
/// <get url='…'/></slot>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSlot {
    /// Where to PUT the file.
    pub put_url: CompactString,
    /// Headers the PUT must carry (`Authorization`, `Cookie` or `Expires` per XEP-0363).
    pub put_headers: Vec<(CompactString, CompactString)>,
    /// Where the file can be fetched once uploaded.
    pub get_url: CompactString,
}

impl From<UploadSlot> for Element {
    fn from(s: UploadSlot) -> Element {
        let mut put = Element::new("put", NS_HTTP_UPLOAD).with_attr("url", s.put_url);
        for (name, value) in s.put_headers {
            put.push_child(
                Element::new("header", NS_HTTP_UPLOAD)
                    .with_attr("name", name)
                    .with_text(value),
            );
        }
        Element::new("slot", NS_HTTP_UPLOAD)
            .with_child(put)
            .with_child(Element::new("get", NS_HTTP_UPLOAD).with_attr("url", s.get_url))
    }
}

impl TryFrom<Element> for UploadSlot {
    type Error = DecodeError;
    fn try_from(mut el: Element) -> Result<Self, DecodeError> {
        expect(&el, "slot", NS_HTTP_UPLOAD)?;
        let mut put = el
            .take_child("put", NS_HTTP_UPLOAD)
            .ok_or(DecodeError::MissingChild {
                element: "slot",
                child: "put",
            })?;
        let mut get = el
            .take_child("get", NS_HTTP_UPLOAD)
            .ok_or(DecodeError::MissingChild {
                element: "slot",
                child: "get",
            })?;
        let put_url = req_attr(&mut put, "put", "url")?;
        let mut put_headers = Vec::new();
        while let Some(mut h) = put.take_child("header", NS_HTTP_UPLOAD) {
            let name = req_attr(&mut h, "header", "name")?;
            put_headers.push((name, h.into_text()));
        }
        Ok(UploadSlot {
            put_url,
            put_headers,
            get_url: req_attr(&mut get, "get", "url")?,
        })
    }
}

/// `<token xmlns='urn:portico:media:1'/>` asked for with an IQ get; the result carries
/// `token` (an opaque bearer token for `Authorization: Bearer …` on the media endpoints)
/// and `expires` (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MediaToken {
    /// The bearer token (absent in the request).
    pub token: Option<CompactString>,
    /// When it stops working, unix seconds (absent in the request).
    pub expires: Option<u64>,
    /// The proxy's URL (`https://hub:port/v1/media/proxy`; absent in the request).
    pub proxy: Option<CompactString>,
}

impl From<MediaToken> for Element {
    fn from(t: MediaToken) -> Element {
        Element::new("token", NS_PORTICO_MEDIA)
            .with_opt_attr("token", t.token)
            .with_opt_attr("expires", t.expires.map(|e| e.to_string()))
            .with_opt_attr("proxy", t.proxy)
    }
}

impl TryFrom<Element> for MediaToken {
    type Error = DecodeError;
    fn try_from(mut el: Element) -> Result<Self, DecodeError> {
        expect(&el, "token", NS_PORTICO_MEDIA)?;
        let expires = match el.take_attr("expires") {
            Some(v) => Some(v.parse().map_err(|_| DecodeError::InvalidAttribute {
                element: "token",
                attribute: "expires",
            })?),
            None => None,
        };
        Ok(MediaToken {
            token: el.take_attr("token"),
            expires,
            proxy: el.take_attr("proxy"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_slot_and_token_round_trip() {
        let r = UploadRequest {
            filename: "cat.jpg".into(),
            size: 1234,
            content_type: Some("image/jpeg".into()),
        };
        assert_eq!(UploadRequest::try_from(Element::from(r.clone())), Ok(r));
        let s = UploadSlot {
            put_url: "https://h/put/abc".into(),
            put_headers: vec![("Authorization".into(), "Bearer x".into())],
            get_url: "https://h/get/abc".into(),
        };
        assert_eq!(UploadSlot::try_from(Element::from(s.clone())), Ok(s));
        let t = MediaToken {
            token: Some("t".into()),
            expires: Some(9),
            proxy: Some("https://h/v1/media/proxy".into()),
        };
        assert_eq!(MediaToken::try_from(Element::from(t.clone())), Ok(t));
    }

    #[test]
    fn malformed_requests_name_the_problem() {
        let el = Element::new("request", NS_HTTP_UPLOAD).with_attr("filename", "a");
        assert_eq!(
            UploadRequest::try_from(el),
            Err(DecodeError::MissingAttribute {
                element: "request",
                attribute: "size"
            })
        );
        let el = Element::new("request", NS_HTTP_UPLOAD)
            .with_attr("filename", "a")
            .with_attr("size", "-1");
        assert!(matches!(
            UploadRequest::try_from(el),
            Err(DecodeError::InvalidAttribute { .. })
        ));
        let el = Element::new("slot", NS_HTTP_UPLOAD);
        assert!(matches!(
            UploadSlot::try_from(el),
            Err(DecodeError::MissingChild { .. })
        ));
    }
}
