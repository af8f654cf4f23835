//! Portico key directory payloads (namespace `urn:portico:keys:1`, DESIGN.md §4), carried in
//! IQs (publish, fetch, count) and messages (low-stock). Key bytes are base64 on the wire.
//!
//! ```xml
//! <publish xmlns='urn:portico:keys:1' registration-id='4711'>
//!   <identity>B64</identity>
//!   <signed-prekey id='1' signature='B64'>B64</signed-prekey>
//!   <last-resort-kyber id='1' signature='B64'>B64</last-resort-kyber>
//!   <prekey id='100'>B64</prekey>                         (one-time EC, ≤ 100)
//!   <kyber-prekey id='200' signature='B64'>B64</kyber-prekey> (one-time Kyber, ≤ 100)
//! </publish>
//! <fetch xmlns='urn:portico:keys:1' jid='bob@hub.example'><device id='2'/></fetch>
//! <bundles xmlns='urn:portico:keys:1' jid='bob@hub.example'>
//!   <bundle device='2' registration-id='9'><identity/><signed-prekey/><kyber-prekey/><prekey/></bundle>
//! </bundles>
//! <count xmlns='urn:portico:keys:1'/>   →   <count xmlns='urn:portico:keys:1' ec='12' kyber='40'/>
//! <low-stock xmlns='urn:portico:keys:1' ec='3' kyber='40'/>
//! <devices xmlns='urn:portico:keys:1' jid='alice@hub.example' version='7' signature='B64'><device id='1'/></devices>
//! ```

use super::util::{DecodeError, b64_decode, b64_encode, expect, jid_attr, parse_attr, parse_req};
use crate::element::{Element, Node};
use crate::jid::Jid;
use crate::ns;

/// Default cap on one-time prekeys of each kind in one `<publish>` (DESIGN.md §4).
pub const DEFAULT_MAX_PREKEYS_PER_UPLOAD: usize = 100;

/// A one-time EC prekey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreKey {
    /// Key id.
    pub id: u32,
    /// Public key bytes.
    pub public: Vec<u8>,
}

/// A prekey signed by the identity key (signed EC prekey or Kyber prekey).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPreKey {
    /// Key id.
    pub id: u32,
    /// Public key bytes.
    pub public: Vec<u8>,
    /// Signature by the identity key.
    pub signature: Vec<u8>,
}

fn key_el(name: &str, public: &[u8]) -> Element {
    Element::new(name, ns::PORTICO_KEYS).with_text(b64_encode(public))
}

fn prekey_el(name: &str, k: &PreKey) -> Element {
    key_el(name, &k.public).with_attr("id", k.id.to_string())
}

fn signed_el(name: &str, k: &SignedPreKey) -> Element {
    key_el(name, &k.public)
        .with_attr("id", k.id.to_string())
        .with_attr("signature", b64_encode(&k.signature))
}

fn read_key(el: &Element, name: &'static str) -> Result<Vec<u8>, DecodeError> {
    b64_decode(&el.text(), name)
}

fn read_prekey(el: &Element, name: &'static str) -> Result<PreKey, DecodeError> {
    Ok(PreKey {
        id: parse_req(el, name, "id")?,
        public: read_key(el, name)?,
    })
}

fn read_signed(el: &Element, name: &'static str) -> Result<SignedPreKey, DecodeError> {
    let signature = el.attr("signature").ok_or(DecodeError::MissingAttribute {
        element: name,
        attribute: "signature",
    })?;
    Ok(SignedPreKey {
        id: parse_req(el, name, "id")?,
        public: read_key(el, name)?,
        signature: b64_decode(signature, name)?,
    })
}

/// A device's key upload. The first upload carries everything; later ones may carry only
/// fresh one-time prekeys.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Publish {
    /// Signal registration id.
    pub registration_id: Option<u32>,
    /// Identity public key.
    pub identity: Option<Vec<u8>>,
    /// Signed EC prekey.
    pub signed_prekey: Option<SignedPreKey>,
    /// Last-resort Kyber prekey.
    pub last_resort_kyber: Option<SignedPreKey>,
    /// One-time EC prekeys.
    pub prekeys: Vec<PreKey>,
    /// One-time Kyber prekeys.
    pub kyber_prekeys: Vec<SignedPreKey>,
}

impl Publish {
    /// Converts, refusing more than `max` one-time prekeys of either kind.
    pub fn from_element_with_limit(el: Element, max: usize) -> Result<Self, DecodeError> {
        expect(&el, "publish", ns::PORTICO_KEYS)?;
        let mut p = Publish {
            registration_id: parse_attr(&el, "publish", "registration-id")?,
            ..Publish::default()
        };
        for child in el.children().filter(|c| c.ns() == ns::PORTICO_KEYS) {
            match child.name() {
                "identity" => p.identity = Some(read_key(child, "identity")?),
                "signed-prekey" => p.signed_prekey = Some(read_signed(child, "signed-prekey")?),
                "last-resort-kyber" => {
                    p.last_resort_kyber = Some(read_signed(child, "last-resort-kyber")?)
                }
                "prekey" => {
                    if p.prekeys.len() == max {
                        return Err(too_many(&el, "prekey", "ec", max));
                    }
                    p.prekeys.push(read_prekey(child, "prekey")?);
                }
                "kyber-prekey" => {
                    if p.kyber_prekeys.len() == max {
                        return Err(too_many(&el, "kyber-prekey", "kyber", max));
                    }
                    p.kyber_prekeys.push(read_signed(child, "kyber-prekey")?);
                }
                _ => {}
            }
        }
        Ok(p)
    }
}

fn too_many(el: &Element, name: &str, kind: &'static str, limit: usize) -> DecodeError {
    DecodeError::TooManyPrekeys {
        kind,
        limit,
        found: el
            .children()
            .filter(|c| c.is(name, ns::PORTICO_KEYS))
            .count(),
    }
}

impl TryFrom<Element> for Publish {
    type Error = DecodeError;
    fn try_from(el: Element) -> Result<Self, DecodeError> {
        Publish::from_element_with_limit(el, DEFAULT_MAX_PREKEYS_PER_UPLOAD)
    }
}

impl From<Publish> for Element {
    fn from(p: Publish) -> Element {
        let mut el = Element::new("publish", ns::PORTICO_KEYS)
            .with_opt_attr("registration-id", p.registration_id.map(|r| r.to_string()));
        if let Some(k) = &p.identity {
            el.push_child(key_el("identity", k));
        }
        if let Some(k) = &p.signed_prekey {
            el.push_child(signed_el("signed-prekey", k));
        }
        if let Some(k) = &p.last_resort_kyber {
            el.push_child(signed_el("last-resort-kyber", k));
        }
        for k in &p.prekeys {
            el.push_child(prekey_el("prekey", k));
        }
        for k in &p.kyber_prekeys {
            el.push_child(signed_el("kyber-prekey", k));
        }
        el
    }
}

/// A request for the key bundles of an account's devices (all, or the ones listed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    /// The account.
    pub jid: Jid,
    /// Only these devices (empty: all).
    pub devices: Vec<u32>,
}

impl From<Fetch> for Element {
    fn from(f: Fetch) -> Element {
        let mut el = Element::new("fetch", ns::PORTICO_KEYS).with_attr("jid", f.jid.to_string());
        for d in f.devices {
            el.push_child(Element::new("device", ns::PORTICO_KEYS).with_attr("id", d.to_string()));
        }
        el
    }
}

impl TryFrom<Element> for Fetch {
    type Error = DecodeError;
    fn try_from(el: Element) -> Result<Self, DecodeError> {
        expect(&el, "fetch", ns::PORTICO_KEYS)?;
        let jid = jid_attr(&el, "fetch", "jid")?.ok_or(DecodeError::MissingAttribute {
            element: "fetch",
            attribute: "jid",
        })?;
        let devices = el
            .children()
            .filter(|c| c.is("device", ns::PORTICO_KEYS))
            .map(|c| parse_req(c, "device", "id"))
            .collect::<Result<_, _>>()?;
        Ok(Fetch { jid, devices })
    }
}

/// One device's prekey bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// Device id.
    pub device: u32,
    /// Signal registration id.
    pub registration_id: u32,
    /// Identity public key.
    pub identity: Vec<u8>,
    /// Signed EC prekey.
    pub signed_prekey: SignedPreKey,
    /// A Kyber prekey (one-time if any is left, else the last-resort one).
    pub kyber_prekey: SignedPreKey,
    /// A one-time EC prekey, if any is left.
    pub prekey: Option<PreKey>,
}

/// The answer to a [`Fetch`]: a bundle per device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundles {
    /// The account.
    pub jid: Jid,
    /// One bundle per device.
    pub bundles: Vec<Bundle>,
}

impl From<Bundles> for Element {
    fn from(b: Bundles) -> Element {
        let mut el = Element::new("bundles", ns::PORTICO_KEYS).with_attr("jid", b.jid.to_string());
        for d in b.bundles {
            let mut be = Element::new("bundle", ns::PORTICO_KEYS)
                .with_attr("device", d.device.to_string())
                .with_attr("registration-id", d.registration_id.to_string())
                .with_child(key_el("identity", &d.identity))
                .with_child(signed_el("signed-prekey", &d.signed_prekey))
                .with_child(signed_el("kyber-prekey", &d.kyber_prekey));
            if let Some(k) = &d.prekey {
                be.push_child(prekey_el("prekey", k));
            }
            el.push_child(be);
        }
        el
    }
}

impl TryFrom<Element> for Bundles {
    type Error = DecodeError;
    fn try_from(el: Element) -> Result<Self, DecodeError> {
        expect(&el, "bundles", ns::PORTICO_KEYS)?;
        let jid = jid_attr(&el, "bundles", "jid")?.ok_or(DecodeError::MissingAttribute {
            element: "bundles",
            attribute: "jid",
        })?;
        let mut bundles = Vec::new();
        for b in el.children().filter(|c| c.is("bundle", ns::PORTICO_KEYS)) {
            let child = |name: &'static str| {
                b.get_child(name, ns::PORTICO_KEYS)
                    .ok_or(DecodeError::MissingChild {
                        element: "bundle",
                        child: name,
                    })
            };
            bundles.push(Bundle {
                device: parse_req(b, "bundle", "device")?,
                registration_id: parse_req(b, "bundle", "registration-id")?,
                identity: read_key(child("identity")?, "identity")?,
                signed_prekey: read_signed(child("signed-prekey")?, "signed-prekey")?,
                kyber_prekey: read_signed(child("kyber-prekey")?, "kyber-prekey")?,
                prekey: b
                    .get_child("prekey", ns::PORTICO_KEYS)
                    .map(|p| read_prekey(p, "prekey"))
                    .transpose()?,
            });
        }
        Ok(Bundles { jid, bundles })
    }
}

/// `<count/>`: as a request (`None`) or the device's remaining one-time prekeys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count(pub Option<KeyStock>);

/// How many one-time prekeys of each kind remain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyStock {
    /// One-time EC prekeys left.
    pub ec: u32,
    /// One-time Kyber prekeys left.
    pub kyber: u32,
}

fn stock_el(name: &str, s: Option<KeyStock>) -> Element {
    let el = Element::new(name, ns::PORTICO_KEYS);
    match s {
        None => el,
        Some(s) => el
            .with_attr("ec", s.ec.to_string())
            .with_attr("kyber", s.kyber.to_string()),
    }
}

fn read_stock(el: &Element, name: &'static str) -> Result<Option<KeyStock>, DecodeError> {
    let ec = parse_attr(el, name, "ec")?;
    let kyber = parse_attr(el, name, "kyber")?;
    match (ec, kyber) {
        (None, None) => Ok(None),
        (Some(ec), Some(kyber)) => Ok(Some(KeyStock { ec, kyber })),
        (None, _) => Err(DecodeError::MissingAttribute {
            element: name,
            attribute: "ec",
        }),
        (_, None) => Err(DecodeError::MissingAttribute {
            element: name,
            attribute: "kyber",
        }),
    }
}

impl From<Count> for Element {
    fn from(c: Count) -> Element {
        stock_el("count", c.0)
    }
}

impl TryFrom<Element> for Count {
    type Error = DecodeError;
    fn try_from(el: Element) -> Result<Self, DecodeError> {
        expect(&el, "count", ns::PORTICO_KEYS)?;
        read_stock(&el, "count").map(Count)
    }
}

/// The hub's notice that a device's one-time prekey stock runs low.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LowStock(pub KeyStock);

impl From<LowStock> for Element {
    fn from(l: LowStock) -> Element {
        stock_el("low-stock", Some(l.0))
    }
}

impl TryFrom<Element> for LowStock {
    type Error = DecodeError;
    fn try_from(el: Element) -> Result<Self, DecodeError> {
        expect(&el, "low-stock", ns::PORTICO_KEYS)?;
        read_stock(&el, "low-stock")?
            .map(LowStock)
            .ok_or(DecodeError::MissingAttribute {
                element: "low-stock",
                attribute: "ec",
            })
    }
}

/// An account's device list, signed by its primary identity key so the hub cannot add a
/// device the user did not approve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceList {
    /// The account (bare JID).
    pub jid: Jid,
    /// Monotonic version; clients refuse a lower one than they have seen.
    pub version: u64,
    /// Device ids.
    pub devices: Vec<u32>,
    /// Signature over [`DeviceList::signing_input`].
    pub signature: Vec<u8>,
}

impl DeviceList {
    /// The bytes the signature covers: `"portico-device-list-v1\0"`, the bare JID, `0x00`,
    /// the version (u64 big-endian), the device count (u32 BE) and each id (u32 BE) in order.
    pub fn signing_input(&self) -> Vec<u8> {
        let jid = self.jid.to_bare().to_string();
        let mut out = Vec::with_capacity(40 + jid.len() + 4 * self.devices.len());
        out.extend_from_slice(b"portico-device-list-v1\0");
        out.extend_from_slice(jid.as_bytes());
        out.push(0);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&(self.devices.len() as u32).to_be_bytes());
        for d in &self.devices {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out
    }
}

impl From<DeviceList> for Element {
    fn from(l: DeviceList) -> Element {
        let mut el = Element::new("devices", ns::PORTICO_KEYS)
            .with_attr("jid", l.jid.to_string())
            .with_attr("version", l.version.to_string())
            .with_attr("signature", b64_encode(&l.signature));
        for d in l.devices {
            el.push_child(Element::new("device", ns::PORTICO_KEYS).with_attr("id", d.to_string()));
        }
        el
    }
}

impl TryFrom<Element> for DeviceList {
    type Error = DecodeError;
    fn try_from(el: Element) -> Result<Self, DecodeError> {
        expect(&el, "devices", ns::PORTICO_KEYS)?;
        let jid = jid_attr(&el, "devices", "jid")?.ok_or(DecodeError::MissingAttribute {
            element: "devices",
            attribute: "jid",
        })?;
        let signature = el.attr("signature").ok_or(DecodeError::MissingAttribute {
            element: "devices",
            attribute: "signature",
        })?;
        let signature = b64_decode(signature, "devices")?;
        let mut devices = Vec::new();
        for node in el.nodes() {
            if let Node::Element(c) = node {
                if c.is("device", ns::PORTICO_KEYS) {
                    devices.push(parse_req(c, "device", "id")?);
                }
            }
        }
        Ok(DeviceList {
            version: parse_req(&el, "devices", "version")?,
            jid,
            devices,
            signature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish_with(n: usize) -> Element {
        let mut el = Element::new("publish", ns::PORTICO_KEYS);
        for i in 0..n {
            el.push_child(prekey_el(
                "prekey",
                &PreKey {
                    id: i as u32,
                    public: vec![5; 33],
                },
            ));
        }
        el
    }

    #[test]
    fn prekey_limit_is_enforced_and_configurable() {
        assert_eq!(
            Publish::try_from(publish_with(100)).map(|p| p.prekeys.len()),
            Ok(100)
        );
        assert_eq!(
            Publish::try_from(publish_with(101)),
            Err(DecodeError::TooManyPrekeys {
                kind: "ec",
                limit: 100,
                found: 101
            })
        );
        let err =
            Publish::from_element_with_limit(publish_with(11), 10).expect_err("over the limit");
        assert!(err.to_string().contains("max_prekeys_per_upload"), "{err}");
    }

    #[test]
    fn signing_input_binds_every_field() {
        let l = DeviceList {
            jid: Jid::parse("a@d").expect("jid"),
            version: 7,
            devices: vec![1, 2],
            signature: vec![],
        };
        let base = l.signing_input();
        let mut other = l.clone();
        other.devices = vec![2, 1];
        assert_ne!(base, other.signing_input());
        other = l.clone();
        other.version = 8;
        assert_ne!(base, other.signing_input());
        other = l;
        other.jid = Jid::parse("b@d").expect("jid");
        assert_ne!(base, other.signing_input());
    }
}
