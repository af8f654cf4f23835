//! The server side of SASL SCRAM-SHA-256 (RFC 5802, RFC 7677) and PLAIN (RFC 4616), over
//! verifiers from the store. No channel binding: a client asking for it (`p=`) is refused,
//! one that says it supports it but thinks the server does not (`y`) is accepted, as the
//! hub does not advertise `-PLUS` mechanisms.

use base64::Engine;
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::store::StoredCredentials;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Why a SASL exchange failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SaslError {
    /// The client's message does not follow the mechanism's syntax.
    #[error("malformed SASL message: {0}")]
    Malformed(&'static str),
    /// The client asked for channel binding, which the hub does not offer.
    #[error("channel binding is not supported; use SCRAM-SHA-256 without -PLUS")]
    ChannelBinding,
    /// Wrong user name or password.
    #[error("wrong user name or password")]
    NotAuthorized,
}

/// SCRAM's first server step: parse client-first, produce server-first.
pub struct ScramStart {
    /// The user name the client gave (lowercased).
    pub username: String,
    gs2_header: String,
    client_first_bare: String,
    client_nonce: String,
}

/// Parses `client-first-message`.
pub fn scram_client_first(msg: &[u8]) -> Result<ScramStart, SaslError> {
    let text = std::str::from_utf8(msg).map_err(|_| SaslError::Malformed("not UTF-8"))?;
    let (cb, rest) = text
        .split_once(',')
        .ok_or(SaslError::Malformed("no GS2 header"))?;
    match cb {
        "n" | "y" => {}
        c if c.starts_with("p=") => return Err(SaslError::ChannelBinding),
        _ => return Err(SaslError::Malformed("bad channel-binding flag")),
    }
    let (authzid, bare) = rest
        .split_once(',')
        .ok_or(SaslError::Malformed("no GS2 header"))?;
    let gs2_header = format!("{cb},{authzid},");
    let mut username = None;
    let mut nonce = None;
    for attr in bare.split(',') {
        if let Some(v) = attr.strip_prefix("n=") {
            username = Some(decode_saslname(v)?);
        } else if let Some(v) = attr.strip_prefix("r=") {
            nonce = Some(v.to_owned());
        } else if attr.starts_with("m=") {
            return Err(SaslError::Malformed("mandatory extension not supported"));
        }
    }
    let username = username.ok_or(SaslError::Malformed("no user name"))?;
    let client_nonce = nonce
        .filter(|n| !n.is_empty() && n.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b','))
        .ok_or(SaslError::Malformed("no valid nonce"))?;
    Ok(ScramStart {
        username: username.to_lowercase(),
        gs2_header,
        client_first_bare: bare.to_owned(),
        client_nonce,
    })
}

fn decode_saslname(v: &str) -> Result<String, SaslError> {
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let code = rest
            .get(i..i + 3)
            .ok_or(SaslError::Malformed("bad user name escape"))?;
        match code {
            "=2C" => out.push(','),
            "=3D" => out.push('='),
            _ => return Err(SaslError::Malformed("bad user name escape")),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    if out.is_empty() {
        return Err(SaslError::Malformed("empty user name"));
    }
    Ok(out)
}

/// SCRAM state after the server-first message.
pub struct ScramChallenge {
    start: ScramStart,
    server_first: String,
    nonce: String,
    creds: Option<StoredCredentials>,
}

impl ScramStart {
    /// Builds server-first with `server_nonce` (random, printable) for `creds` (`None` for an
    /// unknown user: the exchange goes on with made-up parameters and fails at the end, so
    /// user names cannot be probed).
    pub fn challenge(
        self,
        creds: Option<StoredCredentials>,
        server_nonce: &str,
    ) -> (ScramChallenge, Vec<u8>) {
        let nonce = format!("{}{}", self.client_nonce, server_nonce);
        let (salt, iterations) = match &creds {
            Some(c) => (c.salt.clone(), c.iterations),
            None => (
                Sha256::digest(self.username.as_bytes())[..16].to_vec(),
                crate::accounts::SCRAM_ITERATIONS,
            ),
        };
        let server_first = format!("r={nonce},s={},i={iterations}", B64.encode(salt));
        let bytes = server_first.clone().into_bytes();
        (
            ScramChallenge {
                start: self,
                server_first,
                nonce,
                creds,
            },
            bytes,
        )
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .expect("HMAC takes keys of any length");
    mac.update(data);
    Zeroizing::new(mac.finalize().into_bytes().to_vec())
}

impl ScramChallenge {
    /// Checks client-final; on success returns server-final (`v=…`).
    pub fn finish(self, msg: &[u8]) -> Result<Vec<u8>, SaslError> {
        let text = std::str::from_utf8(msg).map_err(|_| SaslError::Malformed("not UTF-8"))?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or(SaslError::Malformed("no proof"))?;
        let mut cbind = None;
        let mut nonce = None;
        for attr in without_proof.split(',') {
            if let Some(v) = attr.strip_prefix("c=") {
                cbind = Some(v);
            } else if let Some(v) = attr.strip_prefix("r=") {
                nonce = Some(v);
            }
        }
        let expected_cbind = B64.encode(self.start.gs2_header.as_bytes());
        if cbind != Some(expected_cbind.as_str()) {
            return Err(SaslError::Malformed(
                "channel-binding data does not match the GS2 header",
            ));
        }
        if nonce != Some(self.nonce.as_str()) {
            return Err(SaslError::Malformed("nonce does not match"));
        }
        let proof = Zeroizing::new(
            B64.decode(proof)
                .map_err(|_| SaslError::Malformed("proof is not base64"))?,
        );
        let Some(creds) = self.creds else {
            return Err(SaslError::NotAuthorized);
        };
        let auth_message = format!(
            "{},{},{}",
            self.start.client_first_bare, self.server_first, without_proof
        );
        let client_signature = hmac(&creds.stored_key, auth_message.as_bytes());
        if proof.len() != client_signature.len() {
            return Err(SaslError::NotAuthorized);
        }
        let client_key: Zeroizing<Vec<u8>> = Zeroizing::new(
            proof
                .iter()
                .zip(client_signature.iter())
                .map(|(a, b)| a ^ b)
                .collect(),
        );
        let stored = Sha256::digest(client_key.as_slice());
        if !bool::from(stored.as_slice().ct_eq(&creds.stored_key)) {
            return Err(SaslError::NotAuthorized);
        }
        let server_signature = hmac(&creds.server_key, auth_message.as_bytes());
        Ok(format!("v={}", B64.encode(server_signature.as_slice())).into_bytes())
    }
}

/// Parses a PLAIN message into (authcid, password); the authzid must be empty or equal the
/// authcid's bare JID or name.
pub fn plain(msg: &[u8]) -> Result<(String, Zeroizing<String>), SaslError> {
    let mut parts = msg.split(|b| *b == 0);
    let (Some(authzid), Some(authcid), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed(
            "PLAIN wants authzid NUL authcid NUL password",
        ));
    };
    let authcid = std::str::from_utf8(authcid)
        .map_err(|_| SaslError::Malformed("not UTF-8"))?
        .to_lowercase();
    let password = Zeroizing::new(
        std::str::from_utf8(password)
            .map_err(|_| SaslError::Malformed("not UTF-8"))?
            .to_owned(),
    );
    let authzid = std::str::from_utf8(authzid).map_err(|_| SaslError::Malformed("not UTF-8"))?;
    if !authzid.is_empty() && authzid.split('@').next() != Some(authcid.as_str()) {
        return Err(SaslError::NotAuthorized);
    }
    if authcid.is_empty() {
        return Err(SaslError::Malformed("empty user name"));
    }
    Ok((authcid, password))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7677_exchange() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").expect("salt");
        let creds = crate::accounts::derive_credentials("pencil", &salt, 4096);
        let start = scram_client_first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO").expect("client-first");
        assert_eq!(start.username, "user");
        let (state, server_first) =
            start.challenge(Some(creds.clone()), "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
        assert_eq!(
            server_first,
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let final_msg = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert_eq!(
            state.finish(final_msg).expect("proof accepted"),
            b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        let start = scram_client_first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO").expect("client-first");
        let (state, _) = start.challenge(Some(creds), "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
        let wrong = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAAAapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert_eq!(state.finish(wrong), Err(SaslError::NotAuthorized));
    }

    #[test]
    fn refuses_channel_binding_and_garbage() {
        assert_eq!(
            scram_client_first(b"p=tls-unique,,n=u,r=x").err(),
            Some(SaslError::ChannelBinding)
        );
        assert!(scram_client_first(b"garbage").is_err());
        assert!(scram_client_first(b"n,,n=a=ZZb,r=x").is_err());
        assert_eq!(plain(b"\0alice\0pw").expect("plain").0, "alice");
        assert!(plain(b"alice\0pw").is_err());
    }
}
