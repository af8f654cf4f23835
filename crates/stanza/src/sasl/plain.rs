//! SASL PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`. Only safe over TLS.

use super::SaslError;
use zeroize::Zeroizing;

/// What a PLAIN client sent. The password is wiped on drop and never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainCredentials {
    /// Authorization identity, if the client asked to act as someone else.
    pub authzid: Option<String>,
    /// Authentication identity (the username).
    pub username: String,
    /// The password.
    pub password: Zeroizing<String>,
}

impl std::fmt::Debug for PlainCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainCredentials")
            .field("authzid", &self.authzid)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The client's PLAIN message.
pub fn plain_message(authzid: Option<&str>, username: &str, password: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(username.len() + password.len() + 2));
    if let Some(a) = authzid {
        out.extend_from_slice(a.as_bytes());
    }
    out.push(0);
    out.extend_from_slice(username.as_bytes());
    out.push(0);
    out.extend_from_slice(password);
    out
}

/// Parses a client's PLAIN message.
pub fn parse_plain(message: &[u8]) -> Result<PlainCredentials, SaslError> {
    let malformed = |what| SaslError::Malformed { what };
    let mut parts = message.splitn(3, |&b| b == 0);
    let (Some(authzid), Some(username), Some(password)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("PLAIN needs authzid NUL username NUL password"));
    };
    if password.contains(&0) {
        return Err(malformed("PLAIN password contains NUL"));
    }
    fn text<'a>(b: &'a [u8], what: &'static str) -> Result<&'a str, SaslError> {
        std::str::from_utf8(b).map_err(|_| SaslError::Malformed { what })
    }
    let authzid = text(authzid, "PLAIN authzid is not UTF-8")?;
    let username = text(username, "PLAIN username is not UTF-8")?;
    let password = Zeroizing::new(text(password, "PLAIN password is not UTF-8")?.to_owned());
    if username.is_empty() || password.is_empty() {
        return Err(malformed("PLAIN username and password must not be empty"));
    }
    Ok(PlainCredentials {
        authzid: (!authzid.is_empty()).then(|| authzid.to_owned()),
        username: username.to_owned(),
        password,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects() {
        let m = plain_message(None, "alice", b"s3cret");
        let c = parse_plain(&m).expect("valid");
        assert_eq!(
            (
                c.authzid.as_deref(),
                c.username.as_str(),
                c.password.as_str()
            ),
            (None, "alice", "s3cret")
        );
        assert!(!format!("{c:?}").contains("s3cret"));
        let c = parse_plain(&plain_message(Some("admin"), "alice", b"x")).expect("valid");
        assert_eq!(c.authzid.as_deref(), Some("admin"));
        assert!(parse_plain(b"alice").is_err());
        assert!(parse_plain(b"\0alice\0").is_err());
        assert!(parse_plain(b"\0\0pw").is_err());
    }
}
