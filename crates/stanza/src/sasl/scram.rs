//! SCRAM-SHA-256 (RFC 5802 with the SHA-256 profile of RFC 7677), client and server, without
//! channel binding.

use super::SaslError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// Fewest PBKDF2 iterations accepted (RFC 7677 §4 asks for at least 4096).
pub const MIN_ITERATIONS: u32 = 4096;
/// Most PBKDF2 iterations a client agrees to compute (a hostile server could ask for more).
pub const MAX_ITERATIONS: u32 = 1_000_000;

/// Random bytes in a nonce (encoded as base64, so printable and comma-free).
const NONCE_BYTES: usize = 18;

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, out.as_mut());
    out
}

fn random_nonce<R: CryptoRng + ?Sized>(rng: &mut R) -> String {
    let mut bytes = [0u8; NONCE_BYTES];
    rng.fill_bytes(&mut bytes);
    STANDARD.encode(bytes)
}

fn malformed(what: &'static str) -> SaslError {
    SaslError::Malformed { what }
}

/// `value-safe-char` nonce check: printable ASCII except `,`.
fn valid_nonce(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// Decodes a `saslname` (`=2C` is `,`, `=3D` is `=`).
fn decode_saslname(s: &str) -> Result<String, SaslError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(malformed("bad '=' escape in SCRAM username")),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

fn encode_saslname(s: &str) -> String {
    s.replace('=', "=3D").replace(',', "=2C")
}

/// What the server stores per account for SCRAM-SHA-256 (never the password itself).
#[derive(Clone)]
pub struct ScramCredentials {
    /// The account's salt.
    pub salt: Vec<u8>,
    /// PBKDF2 iteration count.
    pub iterations: u32,
    /// `H(ClientKey)`.
    pub stored_key: [u8; 32],
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: [u8; 32],
}

impl Drop for ScramCredentials {
    fn drop(&mut self) {
        self.stored_key.zeroize();
        self.server_key.zeroize();
    }
}

impl std::fmt::Debug for ScramCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramCredentials")
            .field("iterations", &self.iterations)
            .field("keys", &"<redacted>")
            .finish()
    }
}

impl ScramCredentials {
    /// Derives the stored credentials from a password (at account creation or password change).
    pub fn derive(password: &[u8], salt: &[u8], iterations: u32) -> Self {
        let salted = salted_password(password, salt, iterations);
        let client_key = Zeroizing::new(hmac(salted.as_ref(), b"Client Key"));
        ScramCredentials {
            salt: salt.to_vec(),
            iterations,
            stored_key: sha256(client_key.as_ref()),
            server_key: hmac(salted.as_ref(), b"Server Key"),
        }
    }

    /// Checks a plaintext password (e.g. from SASL PLAIN) against these credentials, in
    /// constant time.
    pub fn verify_password(&self, password: &[u8]) -> bool {
        let other = ScramCredentials::derive(password, &self.salt, self.iterations);
        let a = self.stored_key.ct_eq(&other.stored_key);
        let b = self.server_key.ct_eq(&other.server_key);
        (a & b).into()
    }

    /// Credentials that match no password, for an unknown user: the exchange then runs to
    /// the end and fails like a wrong password, so it does not reveal which accounts exist.
    pub fn unknown_user<R: CryptoRng + ?Sized>(rng: &mut R, iterations: u32) -> Self {
        let mut c = ScramCredentials {
            salt: vec![0; 16],
            iterations,
            stored_key: [0; 32],
            server_key: [0; 32],
        };
        rng.fill_bytes(&mut c.salt);
        rng.fill_bytes(&mut c.stored_key);
        rng.fill_bytes(&mut c.server_key);
        c
    }
}

/// Server side, first step: the client-first message is parsed; look up the credentials
/// of [`username`](Self::username) and call [`respond`](Self::respond).
#[derive(Debug, Clone)]
pub struct ScramServerStart {
    gs2_header: String,
    client_first_bare: String,
    client_nonce: String,
    username: String,
    authzid: Option<String>,
}

impl ScramServerStart {
    /// Parses `client-first-message`.
    pub fn parse(client_first: &[u8]) -> Result<Self, SaslError> {
        let msg = std::str::from_utf8(client_first)
            .map_err(|_| malformed("SCRAM message is not UTF-8"))?;
        let mut it = msg.splitn(3, ',');
        let (Some(cbind), Some(authz), Some(bare)) = (it.next(), it.next(), it.next()) else {
            return Err(malformed("client-first needs a GS2 header"));
        };
        match cbind {
            "n" | "y" => {}
            p if p.starts_with("p=") => return Err(SaslError::ChannelBindingUnsupported),
            _ => return Err(malformed("unknown GS2 channel binding flag")),
        }
        let authzid = match authz {
            "" => None,
            a => Some(decode_saslname(
                a.strip_prefix("a=")
                    .ok_or(malformed("GS2 authzid must start with a="))?,
            )?),
        };
        let gs2_header = msg[..cbind.len() + authz.len() + 2].to_owned();
        let mut attrs = bare.split(',');
        let user = attrs.next().unwrap_or_default();
        if user.starts_with("m=") {
            return Err(malformed("SCRAM mandatory extensions are not supported"));
        }
        let username = decode_saslname(
            user.strip_prefix("n=")
                .ok_or(malformed("client-first must start with n="))?,
        )?;
        let nonce = attrs
            .next()
            .and_then(|r| r.strip_prefix("r="))
            .ok_or(malformed("client-first lacks r="))?;
        if username.is_empty() || !valid_nonce(nonce) {
            return Err(malformed("empty username or invalid nonce"));
        }
        Ok(ScramServerStart {
            gs2_header,
            client_first_bare: bare.to_owned(),
            client_nonce: nonce.to_owned(),
            username,
            authzid,
        })
    }

    /// The username the client authenticates as (decoded; not SASLprep-normalised).
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The authorization identity, if the client asked for one.
    pub fn authzid(&self) -> Option<&str> {
        self.authzid.as_deref()
    }

    /// Produces `server-first-message` with a fresh nonce from `rng`.
    pub fn respond<R: CryptoRng + ?Sized>(
        self,
        creds: ScramCredentials,
        rng: &mut R,
    ) -> (ScramServerFinal, Vec<u8>) {
        let nonce = random_nonce(rng);
        self.respond_with_nonce(creds, &nonce)
            .expect("base64 nonces are valid")
    }

    /// Like [`respond`](Self::respond) with a given server nonce (for test vectors).
    pub fn respond_with_nonce(
        self,
        creds: ScramCredentials,
        server_nonce: &str,
    ) -> Result<(ScramServerFinal, Vec<u8>), SaslError> {
        if !valid_nonce(server_nonce) {
            return Err(malformed(
                "server nonce must be printable ASCII without ','",
            ));
        }
        let nonce = format!("{}{}", self.client_nonce, server_nonce);
        let server_first = format!(
            "r={},s={},i={}",
            nonce,
            STANDARD.encode(&creds.salt),
            creds.iterations
        );
        let next = ScramServerFinal {
            auth_prefix: format!("{},{},", self.client_first_bare, server_first),
            gs2_header: self.gs2_header,
            nonce,
            creds,
        };
        Ok((next, server_first.into_bytes()))
    }
}

/// Server side, second step: verify `client-final-message`.
#[derive(Debug)]
pub struct ScramServerFinal {
    auth_prefix: String,
    gs2_header: String,
    nonce: String,
    creds: ScramCredentials,
}

impl ScramServerFinal {
    /// Verifies the client's proof; on success returns `server-final-message` (`v=…`).
    pub fn finish(self, client_final: &[u8]) -> Result<Vec<u8>, SaslError> {
        let msg = std::str::from_utf8(client_final)
            .map_err(|_| malformed("SCRAM message is not UTF-8"))?;
        let proof_at = msg.rfind(",p=").ok_or(malformed("client-final lacks p="))?;
        let without_proof = &msg[..proof_at];
        let mut attrs = without_proof.split(',');
        let cbind = attrs
            .next()
            .and_then(|c| c.strip_prefix("c="))
            .ok_or(malformed("client-final must start with c="))?;
        let cbind = STANDARD
            .decode(cbind)
            .map_err(|_| malformed("c= is not base64"))?;
        if cbind != self.gs2_header.as_bytes() {
            return Err(SaslError::ChannelBindingMismatch);
        }
        let nonce = attrs
            .next()
            .and_then(|r| r.strip_prefix("r="))
            .ok_or(malformed("client-final lacks r="))?;
        if nonce.as_bytes().ct_eq(self.nonce.as_bytes()).unwrap_u8() != 1 {
            return Err(SaslError::NonceMismatch);
        }
        let proof = STANDARD
            .decode(&msg[proof_at + 3..])
            .map_err(|_| malformed("p= is not base64"))?;
        let proof: [u8; 32] = proof
            .try_into()
            .map_err(|_| malformed("p= must be 32 bytes"))?;
        let auth_message = format!("{}{}", self.auth_prefix, without_proof);
        let client_signature = hmac(&self.creds.stored_key, auth_message.as_bytes());
        let mut client_key = Zeroizing::new([0u8; 32]);
        for (k, (p, s)) in client_key
            .iter_mut()
            .zip(proof.iter().zip(client_signature.iter()))
        {
            *k = p ^ s;
        }
        if sha256(client_key.as_ref())
            .ct_eq(&self.creds.stored_key)
            .unwrap_u8()
            != 1
        {
            return Err(SaslError::InvalidProof);
        }
        let server_signature = hmac(&self.creds.server_key, auth_message.as_bytes());
        Ok(format!("v={}", STANDARD.encode(server_signature)).into_bytes())
    }
}

/// Client side, first step.
pub struct ScramClient {
    password: Zeroizing<Vec<u8>>,
    client_nonce: String,
    client_first_bare: String,
}

impl std::fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramClient").finish_non_exhaustive()
    }
}

impl ScramClient {
    /// Starts an exchange; returns the client and `client-first-message`.
    pub fn new<R: CryptoRng + ?Sized>(
        username: &str,
        password: &[u8],
        rng: &mut R,
    ) -> (Self, Vec<u8>) {
        Self::with_nonce(username, password, &random_nonce(rng))
    }

    /// Like [`new`](Self::new) with a given nonce (for test vectors; must be printable
    /// ASCII without `,`).
    pub fn with_nonce(username: &str, password: &[u8], nonce: &str) -> (Self, Vec<u8>) {
        let client_first_bare = format!("n={},r={}", encode_saslname(username), nonce);
        let first = format!("n,,{client_first_bare}").into_bytes();
        (
            ScramClient {
                password: Zeroizing::new(password.to_vec()),
                client_nonce: nonce.to_owned(),
                client_first_bare,
            },
            first,
        )
    }

    /// Handles `server-first-message`; returns the verifier and `client-final-message`.
    pub fn handle_server_first(
        self,
        server_first: &[u8],
    ) -> Result<(ScramClientFinal, Vec<u8>), SaslError> {
        let msg = std::str::from_utf8(server_first)
            .map_err(|_| malformed("SCRAM message is not UTF-8"))?;
        let mut attrs = msg.split(',');
        let first = attrs.next().unwrap_or_default();
        if first.starts_with("m=") {
            return Err(malformed("SCRAM mandatory extensions are not supported"));
        }
        let nonce = first
            .strip_prefix("r=")
            .ok_or(malformed("server-first must start with r="))?;
        if !nonce.starts_with(&self.client_nonce)
            || nonce.len() == self.client_nonce.len()
            || !valid_nonce(nonce)
        {
            return Err(SaslError::NonceMismatch);
        }
        let salt = attrs
            .next()
            .and_then(|s| s.strip_prefix("s="))
            .ok_or(malformed("server-first lacks s="))?;
        let salt = STANDARD
            .decode(salt)
            .map_err(|_| malformed("s= is not base64"))?;
        let iterations: u32 = attrs
            .next()
            .and_then(|i| i.strip_prefix("i="))
            .and_then(|i| i.parse().ok())
            .ok_or(malformed("server-first lacks a valid i="))?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(SaslError::IterationsOutOfRange { iterations });
        }
        let salted = salted_password(&self.password, &salt, iterations);
        let client_key = Zeroizing::new(hmac(salted.as_ref(), b"Client Key"));
        let stored_key = Zeroizing::new(sha256(client_key.as_ref()));
        let server_key = Zeroizing::new(hmac(salted.as_ref(), b"Server Key"));
        // c=biws is base64("n,,"): no channel binding, no authzid.
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{},{}", self.client_first_bare, msg, without_proof);
        let client_signature = hmac(stored_key.as_ref(), auth_message.as_bytes());
        let mut proof = [0u8; 32];
        for (p, (k, s)) in proof
            .iter_mut()
            .zip(client_key.iter().zip(client_signature.iter()))
        {
            *p = k ^ s;
        }
        let server_signature = hmac(server_key.as_ref(), auth_message.as_bytes());
        let client_final = format!("{},p={}", without_proof, STANDARD.encode(proof)).into_bytes();
        Ok((ScramClientFinal { server_signature }, client_final))
    }
}

/// Client side, last step: check that the server knew the credentials.
#[derive(Debug)]
pub struct ScramClientFinal {
    server_signature: [u8; 32],
}

impl ScramClientFinal {
    /// Verifies `server-final-message`.
    pub fn verify(self, server_final: &[u8]) -> Result<(), SaslError> {
        let msg = std::str::from_utf8(server_final)
            .map_err(|_| malformed("SCRAM message is not UTF-8"))?;
        if let Some(e) = msg.strip_prefix("e=") {
            return Err(SaslError::ServerRefused(e.chars().take(64).collect()));
        }
        let v = msg
            .split(',')
            .next()
            .and_then(|v| v.strip_prefix("v="))
            .ok_or(malformed("server-final lacks v="))?;
        let v = STANDARD
            .decode(v)
            .map_err(|_| malformed("v= is not base64"))?;
        if v.ct_eq(&self.server_signature).unwrap_u8() == 1 {
            Ok(())
        } else {
            Err(SaslError::InvalidServerSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7677 §3 example: user "user", password "pencil".
    const CLIENT_FIRST: &[u8] = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    const SERVER_FIRST: &[u8] =
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const CLIENT_FINAL: &[u8] =
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SERVER_FINAL: &[u8] = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    fn vector_creds() -> ScramCredentials {
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").expect("salt");
        ScramCredentials::derive(b"pencil", &salt, 4096)
    }

    #[test]
    fn rfc7677_vector_server() {
        let start = ScramServerStart::parse(CLIENT_FIRST).expect("client-first");
        assert_eq!(start.username(), "user");
        let (server, first) = start
            .respond_with_nonce(vector_creds(), "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
            .expect("nonce");
        assert_eq!(first, SERVER_FIRST);
        assert_eq!(
            server.finish(CLIENT_FINAL).expect("valid proof"),
            SERVER_FINAL
        );
    }

    #[test]
    fn rfc7677_vector_client() {
        let (client, first) = ScramClient::with_nonce("user", b"pencil", "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(first, CLIENT_FIRST);
        let (client, fin) = client
            .handle_server_first(SERVER_FIRST)
            .expect("server-first");
        assert_eq!(fin, CLIENT_FINAL);
        client.verify(SERVER_FINAL).expect("server signature");
        let (client, _) = ScramClient::with_nonce("user", b"pencil", "rOprNGfwEbeRWgbNEkqO")
            .0
            .handle_server_first(SERVER_FIRST)
            .expect("server-first");
        assert_eq!(
            client.verify(b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            Err(SaslError::InvalidServerSignature)
        );
    }

    #[test]
    fn wrong_password_and_tampering_fail() {
        let (client, first) = ScramClient::with_nonce("user", b"wrong", "abc");
        let (server, sf) = ScramServerStart::parse(&first)
            .expect("parse")
            .respond_with_nonce(vector_creds(), "xyz")
            .expect("nonce");
        let (_, cf) = client.handle_server_first(&sf).expect("server-first");
        assert_eq!(server.finish(&cf), Err(SaslError::InvalidProof));

        let (_, sf2) = ScramServerStart::parse(CLIENT_FIRST)
            .expect("parse")
            .respond_with_nonce(vector_creds(), "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
            .expect("nonce");
        assert_eq!(sf2, SERVER_FIRST);
        let server = ScramServerStart::parse(CLIENT_FIRST)
            .expect("parse")
            .respond_with_nonce(vector_creds(), "other")
            .expect("nonce")
            .0;
        assert_eq!(server.finish(CLIENT_FINAL), Err(SaslError::NonceMismatch));
    }

    #[test]
    fn credentials_verify_plain_passwords() {
        let c = vector_creds();
        assert!(c.verify_password(b"pencil"));
        assert!(!c.verify_password(b"pencil2"));
        assert!(!format!("{c:?}").contains("stored_key:"));
    }

    #[test]
    fn parses_usernames_and_refuses_channel_binding() {
        let s = ScramServerStart::parse(b"n,a=admin,n=a=2Cb=3Dc,r=n1").expect("valid");
        assert_eq!((s.username(), s.authzid()), ("a,b=c", Some("admin")));
        assert_eq!(
            ScramServerStart::parse(b"p=tls-exporter,,n=u,r=n").expect_err("cb"),
            SaslError::ChannelBindingUnsupported
        );
        assert!(ScramServerStart::parse(b"n,,n=u,r=a,b").is_ok());
        assert!(ScramServerStart::parse(b"n,,n=u=xx,r=a").is_err());
        assert!(ScramServerStart::parse(b"n,,m=x,n=u,r=a").is_err());
    }

    #[test]
    fn client_refuses_excessive_iterations() {
        let (client, _) = ScramClient::with_nonce("u", b"p", "abc");
        assert_eq!(
            client
                .handle_server_first(b"r=abcdef,s=AAAA,i=100000000")
                .expect_err("too many"),
            SaslError::IterationsOutOfRange {
                iterations: 100_000_000
            }
        );
    }
}
