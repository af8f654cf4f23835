//! Account administration shared by `portico admin user …` and in-band registration:
//! name checks and SCRAM-SHA-256 verifier derivation (RFC 5802 / RFC 7677). The hub keeps
//! only the salted verifiers, never a password.

use crate::store::{AccountSummary, Store, StoreError, StoredCredentials, valid_account_name};

/// PBKDF2 iterations for new passwords.
pub const SCRAM_ITERATIONS: u32 = 4096;
/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 8;

/// Why an account operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The name is not a valid account name.
    #[error(
        "{0:?} is not a valid account name: use 1 to 64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"
    )]
    BadName(String),
    /// The password is too short.
    #[error("the password is too short: use at least {MIN_PASSWORD_LEN} characters")]
    WeakPassword,
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Derives SCRAM-SHA-256 verifiers for `password` with `salt` and `iterations`.
pub fn derive_credentials(password: &str, salt: &[u8], iterations: u32) -> StoredCredentials {
    let c = portico_stanza::sasl::ScramCredentials::derive(password.as_bytes(), salt, iterations);
    StoredCredentials {
        salt: c.salt.clone(),
        iterations: c.iterations,
        stored_key: c.stored_key.to_vec(),
        server_key: c.server_key.to_vec(),
    }
}

/// Checks `password` against stored verifiers (for SASL PLAIN), in constant time.
pub fn verify_password(password: &str, creds: &StoredCredentials) -> bool {
    use subtle::ConstantTimeEq;
    let derived = derive_credentials(password, &creds.salt, creds.iterations);
    bool::from(derived.stored_key.ct_eq(&creds.stored_key))
}

/// Fresh credentials with a random salt.
pub fn new_credentials(password: &str) -> Result<StoredCredentials, AccountError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(AccountError::WeakPassword);
    }
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)
        .map_err(|e| StoreError::Database(format!("no randomness for a salt: {e}")))?;
    Ok(derive_credentials(password, &salt, SCRAM_ITERATIONS))
}

fn check_name(name: &str) -> Result<(), AccountError> {
    if valid_account_name(name) {
        Ok(())
    } else {
        Err(AccountError::BadName(name.to_owned()))
    }
}

/// Creates an account.
pub async fn add_user(store: &dyn Store, name: &str, password: &str) -> Result<(), AccountError> {
    check_name(name)?;
    let creds = new_credentials(password)?;
    store.create_account(name, creds).await?;
    Ok(())
}

/// Replaces an account's password.
pub async fn reset_password(
    store: &dyn Store,
    name: &str,
    password: &str,
) -> Result<(), AccountError> {
    check_name(name)?;
    let creds = new_credentials(password)?;
    store.set_credentials(name, creds).await?;
    Ok(())
}

/// Removes an account with everything it owns.
pub async fn remove_user(store: &dyn Store, name: &str) -> Result<(), AccountError> {
    check_name(name)?;
    store.remove_account(name).await?;
    Ok(())
}

/// Every account.
pub async fn list_users(store: &dyn Store) -> Result<Vec<AccountSummary>, AccountError> {
    Ok(store.list_accounts().await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7677_test_vector() {
        // RFC 7677 §3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, i=4096.
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let salt = b64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").expect("salt");
        let creds = derive_credentials("pencil", &salt, 4096);
        // ServerSignature from the RFC example is HMAC(ServerKey, AuthMessage).
        let auth = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        use hmac::{KeyInit, Mac};
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&creds.server_key)
            .expect("any key length");
        mac.update(auth.as_bytes());
        let sig = mac.finalize().into_bytes();
        assert_eq!(
            b64.encode(sig),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        assert!(verify_password("pencil", &creds));
        assert!(!verify_password("pencil!", &creds));
    }

    #[tokio::test]
    async fn admin_operations() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store =
            crate::store::sqlite::SqliteStore::open(&dir.path().join("db"), 8).expect("open");
        assert!(matches!(
            add_user(&store, "Bad Name", "password1").await,
            Err(AccountError::BadName(_))
        ));
        assert!(matches!(
            add_user(&store, "alice", "short").await,
            Err(AccountError::WeakPassword)
        ));
        add_user(&store, "alice", "password1").await.expect("add");
        assert!(matches!(
            add_user(&store, "alice", "password1").await,
            Err(AccountError::Store(StoreError::AccountExists(_)))
        ));
        reset_password(&store, "alice", "password2")
            .await
            .expect("reset");
        let creds = store
            .credentials("alice")
            .await
            .expect("read")
            .expect("exists");
        assert!(verify_password("password2", &creds));
        assert_eq!(list_users(&store).await.expect("list").len(), 1);
        remove_user(&store, "alice").await.expect("remove");
        assert!(list_users(&store).await.expect("list").is_empty());
    }
}
