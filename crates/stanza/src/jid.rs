//! Jabber identifiers (RFC 7622): `localpart@domainpart/resourcepart`.
//!
//! Parsing is strict about structure and lengths (each part at most 1023 bytes) and refuses
//! the characters RFC 7622 forbids in a localpart. Domains are compared case-insensitively by
//! lowercasing ASCII; full PRECIS/IDNA normalisation is not applied.

use compact_str::CompactString;
use std::fmt;
use std::str::FromStr;

/// Longest allowed part, in bytes (RFC 7622 §3.1).
pub const MAX_PART_BYTES: usize = 1023;

/// Fast path: true if `s` is printable ASCII without spaces and without any of `forbidden`
/// (then no character-level check is needed).
fn ascii_clean(s: &str, forbidden: &[u8]) -> bool {
    s.bytes()
        .all(|b| b > b' ' && b < 0x7f && !forbidden.contains(&b))
}

/// Why a string is not a valid JID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JidError {
    /// The domain part is empty.
    #[error("JID has an empty domain part")]
    EmptyDomain,
    /// `@` with nothing before it.
    #[error("JID has an empty localpart before '@'")]
    EmptyLocalpart,
    /// `/` with nothing after it.
    #[error("JID has an empty resource after '/'")]
    EmptyResource,
    /// A part is longer than 1023 bytes.
    #[error("JID {part} is longer than 1023 bytes")]
    PartTooLong {
        /// `localpart`, `domain` or `resource`.
        part: &'static str,
    },
    /// The localpart contains a character RFC 7622 forbids (`"&'/:<>@`, space, controls).
    #[error("JID localpart contains the forbidden character {0:?}")]
    ForbiddenLocalpartChar(char),
    /// The domain contains a character that cannot appear in a domain name.
    #[error("JID domain contains the forbidden character {0:?}")]
    ForbiddenDomainChar(char),
    /// The resource contains a control character.
    #[error("JID resource contains a control character")]
    ForbiddenResourceChar,
}

/// A parsed JID, bare (`user@domain`) or full (`user@domain/resource`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Jid {
    node: Option<CompactString>,
    domain: CompactString,
    resource: Option<CompactString>,
}

impl Jid {
    /// Parses `s`.
    pub fn parse(s: &str) -> Result<Jid, JidError> {
        let (rest, resource) = match s.find('/') {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        };
        let (node, domain) = match rest.find('@') {
            Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
            None => (None, rest),
        };
        Jid::from_parts(node, domain, resource)
    }

    /// Builds a JID from its parts, checking each.
    pub fn from_parts(
        node: Option<&str>,
        domain: &str,
        resource: Option<&str>,
    ) -> Result<Jid, JidError> {
        if let Some(n) = node {
            if n.is_empty() {
                return Err(JidError::EmptyLocalpart);
            }
            if n.len() > MAX_PART_BYTES {
                return Err(JidError::PartTooLong { part: "localpart" });
            }
            let bad = |c: char| {
                matches!(c, '"' | '&' | '\'' | '/' | ':' | '<' | '>' | '@')
                    || c.is_whitespace()
                    || c.is_control()
            };
            if !ascii_clean(n, b"\"&'/:<>@") {
                if let Some(c) = n.chars().find(|&c| bad(c)) {
                    return Err(JidError::ForbiddenLocalpartChar(c));
                }
            }
        }
        let domain = domain.strip_suffix('.').unwrap_or(domain);
        if domain.is_empty() {
            return Err(JidError::EmptyDomain);
        }
        if domain.len() > MAX_PART_BYTES {
            return Err(JidError::PartTooLong { part: "domain" });
        }
        if !ascii_clean(domain, b"@/\"&'<>\\") {
            if let Some(c) = domain.chars().find(|&c| {
                matches!(c, '@' | '/' | '"' | '&' | '\'' | '<' | '>' | '\\')
                    || c.is_whitespace()
                    || c.is_control()
            }) {
                return Err(JidError::ForbiddenDomainChar(c));
            }
        }
        if let Some(r) = resource {
            if r.is_empty() {
                return Err(JidError::EmptyResource);
            }
            if r.len() > MAX_PART_BYTES {
                return Err(JidError::PartTooLong { part: "resource" });
            }
            if !ascii_clean(r, b"") && r.chars().any(char::is_control) {
                return Err(JidError::ForbiddenResourceChar);
            }
        }
        Ok(Jid {
            node: node.map(CompactString::from),
            domain: if domain.bytes().any(|b| b.is_ascii_uppercase()) {
                CompactString::from(domain.to_ascii_lowercase())
            } else {
                CompactString::from(domain)
            },
            resource: resource.map(CompactString::from),
        })
    }

    /// The localpart, if any.
    pub fn node(&self) -> Option<&str> {
        self.node.as_deref()
    }

    /// The domain part.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The resource part, if any.
    pub fn resource(&self) -> Option<&str> {
        self.resource.as_deref()
    }

    /// True if there is no resource.
    pub fn is_bare(&self) -> bool {
        self.resource.is_none()
    }

    /// This JID without its resource.
    pub fn to_bare(&self) -> Jid {
        Jid {
            node: self.node.clone(),
            domain: self.domain.clone(),
            resource: None,
        }
    }

    /// This JID's bare part with `resource`.
    pub fn with_resource(&self, resource: &str) -> Result<Jid, JidError> {
        Jid::from_parts(self.node(), self.domain(), Some(resource))
    }
}

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(n) = &self.node {
            write!(f, "{n}@")?;
        }
        f.write_str(&self.domain)?;
        if let Some(r) = &self.resource {
            write!(f, "/{r}")?;
        }
        Ok(())
    }
}

impl FromStr for Jid {
    type Err = JidError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Jid::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_parts() {
        let j = Jid::parse("alice@Example.ORG/3").expect("valid");
        assert_eq!(j.node(), Some("alice"));
        assert_eq!(j.domain(), "example.org");
        assert_eq!(j.resource(), Some("3"));
        assert_eq!(j.to_string(), "alice@example.org/3");
        assert_eq!(j.to_bare().to_string(), "alice@example.org");
        // The resource may contain '@' and '/'.
        let j = Jid::parse("a@b/c@d/e").expect("valid");
        assert_eq!(j.resource(), Some("c@d/e"));
        assert!(Jid::parse("example.org").expect("domain").is_bare());
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(Jid::parse(""), Err(JidError::EmptyDomain));
        assert_eq!(Jid::parse("@d"), Err(JidError::EmptyLocalpart));
        assert_eq!(Jid::parse("a@d/"), Err(JidError::EmptyResource));
        assert_eq!(
            Jid::parse("a b@d"),
            Err(JidError::ForbiddenLocalpartChar(' '))
        );
        assert_eq!(
            Jid::parse("a<b@d"),
            Err(JidError::ForbiddenLocalpartChar('<'))
        );
        assert_eq!(
            Jid::parse("a\u{a0}b@d"),
            Err(JidError::ForbiddenLocalpartChar('\u{a0}'))
        );
        assert_eq!(
            Jid::parse("a@exa mple"),
            Err(JidError::ForbiddenDomainChar(' '))
        );
        assert_eq!(
            Jid::parse("a@d/x\u{7}"),
            Err(JidError::ForbiddenResourceChar)
        );
        assert!(Jid::parse("ünï@dömain/with space").is_ok());
        let long = "x".repeat(1024);
        assert_eq!(
            Jid::parse(&format!("{long}@d")),
            Err(JidError::PartTooLong { part: "localpart" })
        );
        assert!(Jid::parse(&format!("{}@d", "x".repeat(1023))).is_ok());
    }
}
