//! Hub configuration: a TOML file whose every setting has a default, overridden by
//! `PORTICO_…` environment variables.
//!
//! The environment name of a setting is `PORTICO_` followed by its TOML path in upper case
//! with `.` replaced by `_`: `queue.ttl_days` is `PORTICO_QUEUE_TTL_DAYS`, `domain` is
//! `PORTICO_DOMAIN`. Configuration is read once, in [`Config::load`], and passed down; no
//! code deeper in the hub reads the environment.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Everything that went wrong while reading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read the configuration file {path}: {source}")]
    ReadFile {
        /// The file named on the command line.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a key has the wrong type or is unknown.
    #[error("invalid configuration{origin}: {message}")]
    Invalid {
        /// Where the bad value came from (the file, or an environment variable).
        origin: String,
        /// The TOML parser's message, which names the key.
        message: String,
    },
    /// A value has the right type but is out of range.
    #[error("invalid configuration: `{key}` {problem}")]
    OutOfRange {
        /// The TOML key of the setting.
        key: &'static str,
        /// What is wrong with it and what would be right.
        problem: String,
    },
}

/// Whether anyone may create an account in-band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    /// Accounts are created only by `portico admin user add`.
    Closed,
    /// Anyone may register an account in-band (XEP-0077).
    Open,
}

/// The whole hub configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The hub domain `D`: accounts are `name@D`.
    pub domain: String,
    /// Where the SQLite database and the self-signed certificate live.
    pub data_dir: PathBuf,
    /// Client-to-server listener that starts in plain text and requires STARTTLS.
    pub c2s_starttls_addr: SocketAddr,
    /// Client-to-server listener with TLS from the first byte (XEP-0368).
    pub c2s_tls_addr: SocketAddr,
    /// HTTPS listener: `/healthz`, `/metrics`.
    pub http_addr: SocketAddr,
    /// Whether in-band registration is open.
    pub registration: Registration,
    /// Most devices an account may register.
    pub max_devices: u32,
    /// TLS certificate settings.
    pub tls: TlsConfig,
    /// Offline queue settings.
    pub queue: QueueConfig,
    /// Input limits.
    pub limits: LimitsConfig,
    /// Policy and abuse controls (opt-in, rate limits, new contacts, reports).
    pub policy: crate::policy::PolicyConfig,
    /// Provider gateway (third-party enlistment, auth, push).
    pub interop: crate::interop::config::InteropConfig,
    /// Media: upload slots, quotas, expiry, proxy.
    pub media: crate::media::MediaConfig,
}

/// Where the TLS certificate and key come from.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain; empty means a self-signed certificate kept in the data dir.
    pub cert: Option<PathBuf>,
    /// PEM private key; required when `cert` is set.
    pub key: Option<PathBuf>,
}

/// Per-device offline queue settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Days an undelivered message is kept.
    pub ttl_days: u32,
    /// Most undelivered messages one device may have queued.
    pub max_per_device: u32,
    /// Most queue writes committed in one SQLite transaction (group commit).
    pub group_commit_max: u32,
    /// Milliseconds a group commit stays open after its first write, gathering more: fewer
    /// fsyncs and less CPU per message, for senders' acks up to this much later (delivery
    /// to online devices does not wait for it). 0 commits as soon as the writer is free.
    pub group_commit_wait_ms: u32,
}

/// Hard limits on client input.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest stanza in bytes.
    pub max_stanza_bytes: u32,
    /// Deepest element nesting inside a stanza.
    pub max_depth: u32,
    /// Most attributes on one element.
    pub max_attributes: u32,
    /// Longest attribute value in bytes.
    pub max_attribute_bytes: u32,
    /// Longest run of text in one element, in bytes.
    pub max_text_bytes: u32,
    /// Stanzas per second a connection may sustain.
    pub stanzas_per_second: u32,
    /// Stanzas a connection may send in a burst above the sustained rate.
    pub stanza_burst: u32,
    /// Most one-time prekeys in one upload.
    pub max_prekeys_per_upload: u32,
    /// One-time prekey stock under which a device is told to upload more.
    pub low_prekey_threshold: u32,
    /// Most simultaneous client connections.
    pub max_connections: u32,
    /// Seconds of silence after which the hub pings a client.
    pub ping_interval_secs: u32,
    /// Seconds the client has to answer a ping before the hub closes the connection.
    pub ping_timeout_secs: u32,
    /// Seconds a client has to finish TLS, authentication and bind.
    pub login_timeout_secs: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            domain: "localhost".into(),
            data_dir: PathBuf::from("./portico-data"),
            c2s_starttls_addr: SocketAddr::from(([0, 0, 0, 0], 5222)),
            c2s_tls_addr: SocketAddr::from(([0, 0, 0, 0], 5223)),
            http_addr: SocketAddr::from(([0, 0, 0, 0], 8443)),
            registration: Registration::Closed,
            max_devices: 6,
            tls: TlsConfig::default(),
            queue: QueueConfig::default(),
            limits: LimitsConfig::default(),
            policy: crate::policy::PolicyConfig::default(),
            interop: Default::default(),
            media: Default::default(),
        }
    }
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            ttl_days: 30,
            max_per_device: 10_000,
            group_commit_max: 8192,
            group_commit_wait_ms: 4,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_stanza_bytes: 256 * 1024,
            max_depth: 32,
            max_attributes: 64,
            max_attribute_bytes: 64 * 1024,
            max_text_bytes: 128 * 1024,
            stanzas_per_second: 500,
            stanza_burst: 2000,
            max_prekeys_per_upload: 100,
            low_prekey_threshold: 10,
            max_connections: 50_000,
            ping_interval_secs: 60,
            ping_timeout_secs: 30,
            login_timeout_secs: 30,
        }
    }
}

/// Settings that have no default value but may still come from the environment.
const OPTIONAL_KEYS: &[&[&str]] = &[&["tls", "cert"], &["tls", "key"]];

impl Config {
    /// Reads the configuration: defaults, then the TOML file if given, then `PORTICO_…`
    /// variables from `env` (pass `std::env::vars()`), then `data_dir` if given.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        data_dir: Option<&Path>,
    ) -> Result<Self, ConfigError> {
        let mut table = toml::Table::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
                path: path.to_owned(),
                source,
            })?;
            // The file alone first, so that its errors point at its own lines.
            let invalid = |e: toml::de::Error| ConfigError::Invalid {
                origin: format!(" in {}", path.display()),
                message: e.to_string(),
            };
            let _: Config = toml::from_str(&text).map_err(invalid)?;
            table = text.parse::<toml::Table>().map_err(invalid)?;
        }
        let env: BTreeMap<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("PORTICO_"))
            .collect();
        apply_env(&mut table, &env)?;
        let text = toml::to_string(&table).map_err(|e| ConfigError::Invalid {
            origin: String::new(),
            message: e.to_string(),
        })?;
        let origin = match (file, env.is_empty()) {
            (Some(p), true) => format!(" in {}", p.display()),
            (Some(p), false) => format!(" in {} or the PORTICO_* environment", p.display()),
            (None, _) => " in the PORTICO_* environment".into(),
        };
        let mut config: Config = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            origin,
            message: e.to_string(),
        })?;
        if let Some(dir) = data_dir {
            config.data_dir = dir.to_owned();
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        fn positive(key: &'static str, v: u32) -> Result<(), ConfigError> {
            if v == 0 {
                return Err(ConfigError::OutOfRange {
                    key,
                    problem: "must be at least 1".into(),
                });
            }
            Ok(())
        }
        if self.domain.is_empty()
            || self.domain.contains(['@', '/', ' '])
            || self.domain.len() > 253
        {
            return Err(ConfigError::OutOfRange {
                key: "domain",
                problem: format!("{:?} is not a domain name", self.domain),
            });
        }
        positive("max_devices", self.max_devices)?;
        if self.max_devices > 1000 {
            return Err(ConfigError::OutOfRange {
                key: "max_devices",
                problem: "must be at most 1000".into(),
            });
        }
        positive("queue.ttl_days", self.queue.ttl_days)?;
        positive("queue.max_per_device", self.queue.max_per_device)?;
        positive("queue.group_commit_max", self.queue.group_commit_max)?;
        if self.queue.group_commit_wait_ms > 1000 {
            return Err(ConfigError::OutOfRange {
                key: "queue.group_commit_wait_ms",
                problem: "must be at most 1000 (a second): every sender's ack waits for it".into(),
            });
        }
        positive("limits.max_stanza_bytes", self.limits.max_stanza_bytes)?;
        positive("limits.max_depth", self.limits.max_depth)?;
        positive("limits.max_attributes", self.limits.max_attributes)?;
        positive(
            "limits.max_attribute_bytes",
            self.limits.max_attribute_bytes,
        )?;
        positive("limits.max_text_bytes", self.limits.max_text_bytes)?;
        positive("limits.stanzas_per_second", self.limits.stanzas_per_second)?;
        positive("limits.stanza_burst", self.limits.stanza_burst)?;
        positive(
            "limits.max_prekeys_per_upload",
            self.limits.max_prekeys_per_upload,
        )?;
        positive("limits.max_connections", self.limits.max_connections)?;
        positive("limits.ping_interval_secs", self.limits.ping_interval_secs)?;
        positive("limits.ping_timeout_secs", self.limits.ping_timeout_secs)?;
        positive("limits.login_timeout_secs", self.limits.login_timeout_secs)?;
        self.policy
            .validate()
            .map_err(|e| ConfigError::OutOfRange {
                key: e.key,
                problem: format!("(under [policy]) {}", e.problem),
            })?;
        self.interop
            .check()
            .map_err(|(key, problem)| ConfigError::OutOfRange { key, problem })?;
        self.media
            .validate()
            .map_err(|(key, problem)| ConfigError::OutOfRange {
                key: "media",
                problem: format!("`{key}` {problem}"),
            })?;
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err(ConfigError::OutOfRange {
                key: "tls.cert",
                problem:
                    "and `tls.key` must be set together (or neither, for a self-signed certificate)"
                        .into(),
            });
        }
        Ok(())
    }

    /// Path of the SQLite database inside the data dir.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("portico.sqlite3")
    }
}

/// Copies every `PORTICO_…` variable that names a setting into `table`, typed like the
/// default value of that setting.
fn apply_env(table: &mut toml::Table, env: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    let defaults = toml::Table::try_from(Config::default()).expect("the default config serializes");
    let mut keys: Vec<(Vec<String>, Option<toml::Value>)> = Vec::new();
    collect_keys(&defaults, &mut Vec::new(), &mut keys);
    for path in OPTIONAL_KEYS {
        keys.push((path.iter().map(|s| (*s).to_owned()).collect(), None));
    }
    let mut known = std::collections::BTreeSet::new();
    for (path, default) in keys {
        let name = format!("PORTICO_{}", path.join("_").to_uppercase());
        known.insert(name.clone());
        let Some(raw) = env.get(&name) else { continue };
        let value = match default {
            Some(toml::Value::Integer(_)) => {
                toml::Value::Integer(raw.trim().parse().map_err(|_| ConfigError::Invalid {
                    origin: format!(" in environment variable {name}"),
                    message: format!("`{}` wants a whole number, got {raw:?}", path.join(".")),
                })?)
            }
            Some(toml::Value::Boolean(_)) => {
                toml::Value::Boolean(raw.trim().parse().map_err(|_| ConfigError::Invalid {
                    origin: format!(" in environment variable {name}"),
                    message: format!("`{}` wants true or false, got {raw:?}", path.join(".")),
                })?)
            }
            _ => toml::Value::String(raw.clone()),
        };
        let mut node = &mut *table;
        for part in &path[..path.len() - 1] {
            let entry = node
                .entry(part.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            node = match entry {
                toml::Value::Table(t) => t,
                _ => {
                    return Err(ConfigError::Invalid {
                        origin: String::new(),
                        message: format!("`{part}` must be a table"),
                    });
                }
            };
        }
        if let Some(last) = path.last() {
            node.insert(last.clone(), value);
        }
    }
    if let Some(unknown) = env
        .keys()
        .find(|k| !known.contains(*k) && !IGNORED_ENV.contains(&k.as_str()))
    {
        return Err(ConfigError::Invalid {
            origin: format!(" in environment variable {unknown}"),
            message: "no setting has this name; see `portico serve --help` for the list".into(),
        });
    }
    Ok(())
}

/// `PORTICO_…` variables that are not settings (used by the test scripts).
const IGNORED_ENV: &[&str] = &[
    "PORTICO_SLIXMPP_PYTHON",
    "PORTICO_LOG",
    "PORTICO_SCHEMATHESIS",
];

fn collect_keys(
    table: &toml::Table,
    prefix: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, Option<toml::Value>)>,
) {
    for (k, v) in table {
        prefix.push(k.clone());
        match v {
            toml::Value::Table(t) => collect_keys(t, prefix, out),
            other => out.push((prefix.clone(), Some(other.clone()))),
        }
        prefix.pop();
    }
}

/// The environment variable names of every setting, for `--help` texts.
pub fn env_names() -> Vec<String> {
    let defaults = toml::Table::try_from(Config::default()).expect("the default config serializes");
    let mut keys = Vec::new();
    collect_keys(&defaults, &mut Vec::new(), &mut keys);
    let mut names: Vec<String> = keys
        .into_iter()
        .map(|(p, _)| p)
        .chain(
            OPTIONAL_KEYS
                .iter()
                .map(|p| p.iter().map(|s| (*s).to_owned()).collect()),
        )
        .map(|p| format!("PORTICO_{}", p.join("_").to_uppercase()))
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).into(), (*b).into()))
            .collect()
    }

    #[test]
    fn defaults_serve_localhost_on_standard_ports() {
        let c = Config::load(None, env(&[]), None).expect("defaults are valid");
        assert_eq!(c.domain, "localhost");
        assert_eq!(c.data_dir, PathBuf::from("./portico-data"));
        assert_eq!(c.c2s_starttls_addr.port(), 5222);
        assert_eq!(c.c2s_tls_addr.port(), 5223);
        assert_eq!(c.http_addr.port(), 8443);
        assert_eq!(c.max_devices, 6);
        assert_eq!(c.queue.ttl_days, 30);
        assert_eq!(c.registration, Registration::Closed);
    }

    #[test]
    fn file_then_env_then_flag() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("hub.toml");
        std::fs::write(
            &file,
            "domain = 'hub.example'\nregistration = 'open'\n[queue]\nttl_days = 7\nmax_per_device = 50\n",
        )
        .expect("write");
        let c = Config::load(
            Some(&file),
            env(&[
                ("PORTICO_QUEUE_TTL_DAYS", "3"),
                ("PORTICO_HTTP_ADDR", "127.0.0.1:9443"),
                ("PORTICO_MAX_DEVICES", "2"),
                ("PORTICO_TLS_CERT", "/c.pem"),
                ("PORTICO_TLS_KEY", "/k.pem"),
                ("HOME", "/root"),
            ]),
            Some(Path::new("/tmp/x")),
        )
        .expect("valid");
        assert_eq!(c.domain, "hub.example");
        assert_eq!(c.registration, Registration::Open);
        assert_eq!(c.queue.ttl_days, 3);
        assert_eq!(c.queue.max_per_device, 50);
        assert_eq!(c.http_addr, "127.0.0.1:9443".parse().expect("addr"));
        assert_eq!(c.max_devices, 2);
        assert_eq!(c.tls.cert.as_deref(), Some(Path::new("/c.pem")));
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = Config::load(None, env(&[("PORTICO_QUEUE_TTL_DAYS", "soon")]), None)
            .expect_err("not a number");
        assert!(e.to_string().contains("queue.ttl_days"), "{e}");
        assert!(e.to_string().contains("PORTICO_QUEUE_TTL_DAYS"), "{e}");

        let e = Config::load(None, env(&[("PORTICO_HTTP_ADDR", "nowhere")]), None)
            .expect_err("not an address");
        assert!(e.to_string().contains("http_addr"), "{e}");

        let e = Config::load(None, env(&[("PORTICO_MAX_DEVICES", "0")]), None)
            .expect_err("zero devices");
        assert!(e.to_string().contains("max_devices"), "{e}");

        let e = Config::load(
            None,
            env(&[("PORTICO_QUEUE_GROUP_COMMIT_WAIT_MS", "5000")]),
            None,
        )
        .expect_err("a five-second commit window");
        assert!(e.to_string().contains("queue.group_commit_wait_ms"), "{e}");
        assert!(e.to_string().contains("at most 1000"), "{e}");

        let e = Config::load(None, env(&[("PORTICO_NO_SUCH", "1")]), None)
            .expect_err("unknown variable");
        assert!(e.to_string().contains("PORTICO_NO_SUCH"), "{e}");

        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("hub.toml");
        std::fs::write(&file, "[queue]\nttl_dayz = 1\n").expect("write");
        let e = Config::load(Some(&file), env(&[]), None).expect_err("unknown key");
        assert!(e.to_string().contains("ttl_dayz"), "{e}");
    }
}
