//! Authentication before bind: SASL SCRAM-SHA-256 and PLAIN (the mechanisms of
//! `portico_stanza::sasl`, over verifiers from the store) and XEP-0077 in-band registration
//! when `registration = "open"`.

use std::time::Instant;

use portico_stanza::parser::Event;
use portico_stanza::sasl::{SaslError, ScramCredentials, ScramServerStart, parse_plain};
use portico_stanza::stanza::{
    Iq, IqKind, Sasl, SaslCondition, StanzaCondition, StanzaError, StreamErrorCondition,
};
use portico_stanza::{Element, ns};
use tokio::io::{AsyncRead, AsyncWrite};

use super::Inner;
use super::conn::Conn;
use super::session::{Stop, next, random_token};
use crate::config::Registration;
use crate::store::{DeviceId, StoreError};

const MAX_AUTH_ATTEMPTS: u32 = 3;

pub(super) async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
    inner: &Inner,
    conn: &mut Conn<S>,
    deadline: Instant,
) -> Result<(String, Option<ThirdPartyLogin>), Stop> {
    let mut failures = 0;
    loop {
        let Event::Stanza(el) = next(inner, conn, deadline).await? else {
            return Err(Stop::Done);
        };
        if el.is("iq", ns::JABBER_CLIENT) {
            let Ok(iq) = Iq::try_from(el) else {
                conn.close_with(StreamErrorCondition::BadFormat, "invalid iq")
                    .await;
                return Err(Stop::Done);
            };
            let reply = register(inner, &iq).await;
            conn.send(reply).await.map_err(|_| Stop::Done)?;
            continue;
        }
        let outcome = match Sasl::try_from(el) {
            Ok(Sasl::Auth { mechanism, initial }) => match mechanism.as_str() {
                "PLAIN" => plain(inner, initial.as_deref().map(|v| v.as_slice())).await,
                "SCRAM-SHA-256" => {
                    scram(
                        inner,
                        conn,
                        deadline,
                        initial.as_deref().map(|v| v.as_slice()),
                    )
                    .await?
                }
                _ => Err((
                    SaslCondition::InvalidMechanism,
                    "offered mechanisms: SCRAM-SHA-256, PLAIN".to_owned(),
                )),
            },
            Ok(_) => Err((
                SaslCondition::MalformedRequest,
                "expected <auth/>".to_owned(),
            )),
            Err(_) => {
                conn.close_with(StreamErrorCondition::NotAuthorized, "authenticate first")
                    .await;
                return Err(Stop::Done);
            }
        };
        match outcome {
            Ok((account, server_final, third_party)) => {
                conn.send(Sasl::Success(server_final.map(zeroize::Zeroizing::new)))
                    .await
                    .map_err(|_| Stop::Done)?;
                return Ok((account, third_party));
            }
            Err((condition, text)) => {
                inner
                    .metrics
                    .reject(if condition == SaslCondition::NotAuthorized {
                        "auth-failed"
                    } else {
                        "auth-malformed"
                    });
                failures += 1;
                conn.send(Sasl::Failure {
                    condition,
                    text: Some(text.into()),
                })
                .await
                .map_err(|_| Stop::Done)?;
                if failures >= MAX_AUTH_ATTEMPTS {
                    conn.close_with(
                        StreamErrorCondition::PolicyViolation,
                        "too many failed authentication attempts",
                    )
                    .await;
                    return Err(Stop::Done);
                }
            }
        }
    }
}

const REGISTER: &str = "jabber:iq:register";

/// XEP-0077 in-band registration before authentication, when `registration = "open"`.
async fn register(inner: &Inner, iq: &Iq) -> Iq {
    let refuse = |c: StanzaCondition, text: String| iq.error(StanzaError::new(c).with_text(text));
    let payload = match &iq.kind {
        IqKind::Get(p) | IqKind::Set(p) if p.is("query", REGISTER) => p,
        _ => return refuse(StanzaCondition::NotAuthorized, "authenticate first".into()),
    };
    if inner.config.registration != Registration::Open {
        inner.metrics.reject("registration-closed");
        return refuse(
            StanzaCondition::NotAllowed,
            "in-band registration is closed on this hub (registration = \"closed\"); ask the operator for an account".into(),
        );
    }
    if matches!(iq.kind, IqKind::Get(_)) {
        let form = Element::new("query", REGISTER)
            .with_child(
                Element::new("instructions", REGISTER)
                    .with_text("Choose a user name and a password."),
            )
            .with_child(Element::new("username", REGISTER))
            .with_child(Element::new("password", REGISTER));
        return iq.result(Some(form));
    }
    let field = |name: &str| {
        payload
            .get_child(name, REGISTER)
            .map(|e| e.text().to_string())
    };
    let (Some(user), Some(password)) = (field("username"), field("password")) else {
        return refuse(
            StanzaCondition::BadRequest,
            "give <username/> and <password/>".into(),
        );
    };
    match crate::accounts::add_user(inner.store.as_ref(), &user, &password).await {
        Ok(()) => iq.result(None),
        Err(crate::accounts::AccountError::Store(StoreError::AccountExists(_))) => refuse(
            StanzaCondition::Conflict,
            format!("the user name {user:?} is taken"),
        ),
        Err(
            e @ (crate::accounts::AccountError::BadName(_)
            | crate::accounts::AccountError::WeakPassword),
        ) => refuse(StanzaCondition::NotAcceptable, e.to_string()),
        Err(e) => {
            tracing::error!(error = %e, "registration failed");
            refuse(
                StanzaCondition::InternalServerError,
                "the hub's store failed; retry later".into(),
            )
        }
    }
}

/// A third-party device's login: who it is and the device its credential belongs to.
pub(super) type ThirdPartyLogin = (std::sync::Arc<crate::interop::ThirdParty>, DeviceId);

type SaslOutcome =
    Result<(String, Option<Vec<u8>>, Option<ThirdPartyLogin>), (SaslCondition, String)>;

fn wrong_credentials() -> (SaslCondition, String) {
    (
        SaslCondition::NotAuthorized,
        "wrong user name or password".to_owned(),
    )
}

async fn plain(inner: &Inner, initial: Option<&[u8]>) -> SaslOutcome {
    let Some(msg) = initial else {
        return Err((
            SaslCondition::MalformedRequest,
            "PLAIN needs an initial response".to_owned(),
        ));
    };
    let plain = parse_plain(msg).map_err(|e| (e.condition(), e.to_string()))?;
    let user = plain.username.to_lowercase();
    if plain
        .authzid
        .as_deref()
        .is_some_and(|z| z.split('@').next() != Some(user.as_str()))
    {
        return Err((
            SaslCondition::InvalidAuthzid,
            "authorization identity must be your own account".to_owned(),
        ));
    }
    let password = plain.password;
    if crate::interop::login::is_third_party(&user, &password) {
        let login = crate::interop::login::check(&inner.interop, &user, &password).await?;
        return Ok((user, None, Some(login)));
    }
    let creds = inner.store.credentials(&user).await.map_err(|_| {
        (
            SaslCondition::TemporaryAuthFailure,
            "the hub's store failed".to_owned(),
        )
    })?;
    let Some(creds) = creds else {
        return Err(wrong_credentials());
    };
    let ok =
        tokio::task::spawn_blocking(move || crate::accounts::verify_password(&password, &creds))
            .await
            .unwrap_or(false);
    if ok {
        Ok((user, None, None))
    } else {
        Err(wrong_credentials())
    }
}

async fn scram<S: AsyncRead + AsyncWrite + Unpin>(
    inner: &Inner,
    conn: &mut Conn<S>,
    deadline: Instant,
    initial: Option<&[u8]>,
) -> Result<SaslOutcome, Stop> {
    let first = match initial {
        Some(m) if !m.is_empty() => m.to_vec(),
        _ => {
            conn.send(Sasl::Challenge(zeroize::Zeroizing::new(Vec::new())))
                .await
                .map_err(|_| Stop::Done)?;
            match next(inner, conn, deadline).await? {
                Event::Stanza(el) => match Sasl::try_from(el) {
                    Ok(Sasl::Response(d)) => d.to_vec(),
                    _ => {
                        return Ok(Err((
                            SaslCondition::MalformedRequest,
                            "expected <response/>".to_owned(),
                        )));
                    }
                },
                _ => return Err(Stop::Done),
            }
        }
    };
    let start = match ScramServerStart::parse(&first) {
        Ok(s) => s,
        Err(e) => return Ok(Err((e.condition(), e.to_string()))),
    };
    let user = start.username().to_lowercase();
    let creds = match inner.store.credentials(&user).await {
        Ok(c) => c,
        Err(_) => {
            return Ok(Err((
                SaslCondition::TemporaryAuthFailure,
                "the hub's store failed".to_owned(),
            )));
        }
    };
    // An unknown user goes through the whole exchange with made-up verifiers and fails at
    // the end, like a wrong password, so user names cannot be probed.
    let creds = creds
        .and_then(|c| scram_credentials(&c))
        .unwrap_or_else(|| made_up_credentials(&user));
    let (state, server_first) = match start.respond_with_nonce(creds, &random_token()) {
        Ok(x) => x,
        Err(e) => return Ok(Err((e.condition(), e.to_string()))),
    };
    conn.send(Sasl::Challenge(zeroize::Zeroizing::new(server_first)))
        .await
        .map_err(|_| Stop::Done)?;
    let client_final = match next(inner, conn, deadline).await? {
        Event::Stanza(el) => match Sasl::try_from(el) {
            Ok(Sasl::Response(d)) => d,
            Ok(Sasl::Abort) => return Ok(Err((SaslCondition::Aborted, "aborted".to_owned()))),
            _ => {
                return Ok(Err((
                    SaslCondition::MalformedRequest,
                    "expected <response/>".to_owned(),
                )));
            }
        },
        _ => return Err(Stop::Done),
    };
    Ok(match state.finish(&client_final) {
        Ok(server_final) => Ok((user, Some(server_final), None)),
        Err(SaslError::InvalidProof) => Err(wrong_credentials()),
        Err(e) => Err((e.condition(), e.to_string())),
    })
}

/// The stored verifiers in the form the SCRAM server takes.
fn scram_credentials(c: &crate::store::StoredCredentials) -> Option<ScramCredentials> {
    Some(ScramCredentials {
        salt: c.salt.clone(),
        iterations: c.iterations,
        stored_key: c.stored_key.as_slice().try_into().ok()?,
        server_key: c.server_key.as_slice().try_into().ok()?,
    })
}

/// Verifiers no password matches, with a salt that stays the same for the same user name.
fn made_up_credentials(user: &str) -> ScramCredentials {
    use sha2::Digest;
    let mut keys = [0u8; 64];
    let _ = getrandom::fill(&mut keys);
    let mut stored_key = [0u8; 32];
    let mut server_key = [0u8; 32];
    stored_key.copy_from_slice(&keys[..32]);
    server_key.copy_from_slice(&keys[32..]);
    ScramCredentials {
        salt: sha2::Sha256::digest(user.as_bytes())[..16].to_vec(),
        iterations: crate::accounts::SCRAM_ITERATIONS,
        stored_key,
        server_key,
    }
}
