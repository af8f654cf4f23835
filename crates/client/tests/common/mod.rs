//! A real hub started in-process (the `portico-hub` library) on free loopback ports in a
//! temporary data dir, and helpers to open clients against it and wait for events.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use portico_client::{Client, Config, Event, Trust};
use portico_content::Body;

/// How long any step of a test may take.
pub const T: Duration = Duration::from_secs(20);

/// A hub running inside the test process.
pub struct TestHub {
    /// The data dir (and room for client databases).
    pub dir: tempfile::TempDir,
    /// Direct TLS address.
    pub tls: SocketAddr,
    /// STARTTLS address.
    pub starttls: SocketAddr,
    /// SHA-256 of its certificate, hex.
    pub pin: String,
    trigger: portico_hub::shutdown::ShutdownTrigger,
    task: Option<tokio::task::JoinHandle<()>>,
    env: Vec<(String, String)>,
}

impl Drop for TestHub {
    fn drop(&mut self) {
        self.trigger.trigger();
    }
}

/// The password every test user gets.
pub fn password(user: &str) -> String {
    format!("password-of-{user}")
}

impl TestHub {
    /// Starts a hub with accounts `users` and extra `PORTICO_*` settings.
    pub async fn start(users: &[&str], env: &[(&str, &str)]) -> TestHub {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("hub");
        let mut vars: Vec<(String, String)> = [
            ("PORTICO_C2S_STARTTLS_ADDR", "127.0.0.1:0"),
            ("PORTICO_C2S_TLS_ADDR", "127.0.0.1:0"),
            ("PORTICO_HTTP_ADDR", "127.0.0.1:0"),
        ]
        .iter()
        .chain(env)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        vars.sort();
        let config =
            portico_hub::config::Config::load(None, vars, Some(&data)).expect("hub config");
        {
            let store = portico_hub::server::open_store(&config).expect("hub store");
            for u in users {
                portico_hub::accounts::add_user(&store, u, &password(u))
                    .await
                    .expect("add user");
            }
            store.close();
        }
        let (trigger, task, bound) = run_hub(config).await;
        let pin = portico_client::fingerprint_of_pem(&data.join("tls-cert.pem")).expect("pin");
        TestHub {
            dir,
            tls: bound.c2s_tls,
            starttls: bound.c2s_starttls,
            pin,
            trigger,
            task: Some(task),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// Stops the hub (clients lose their connection) and starts it again on the same
    /// addresses with the same data.
    pub async fn restart(&mut self) {
        self.restart_removing(None).await
    }

    /// Like [`restart`](Self::restart), removing `account`'s `device` while the hub is down
    /// (as an operator or the user would retire a lost phone).
    pub async fn restart_removing(&mut self, device: Option<(&str, u32)>) {
        self.trigger.trigger();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(T, task).await;
        }
        if let Some((account, id)) = device {
            let data = self.dir.path().join("hub");
            let config = portico_hub::config::Config::load(None, self.env.clone(), Some(&data))
                .expect("hub config");
            let store = portico_hub::server::open_store(&config).expect("hub store");
            let removed = portico_hub::store::Store::remove_device(&store, account, id)
                .await
                .expect("remove device");
            assert!(removed, "{account}/{id} existed");
            store.close();
        }
        let mut vars = self.env.clone();
        vars.push((
            "PORTICO_C2S_STARTTLS_ADDR".into(),
            self.starttls.to_string(),
        ));
        vars.push(("PORTICO_C2S_TLS_ADDR".into(), self.tls.to_string()));
        vars.push(("PORTICO_HTTP_ADDR".into(), "127.0.0.1:0".into()));
        let data = self.dir.path().join("hub");
        let config =
            portico_hub::config::Config::load(None, vars, Some(&data)).expect("hub config");
        let (trigger, task, _) = run_hub(config).await;
        self.trigger = trigger;
        self.task = Some(task);
    }

    /// A client configuration for `user` (direct TLS, pinned certificate).
    pub fn config(&self, user: &str) -> Config {
        let mut c = Config::new(
            &self.tls.to_string(),
            "localhost",
            user,
            &password(user),
            Trust::Pin(self.pin.clone()),
        );
        c.timeout = Duration::from_secs(10);
        c
    }

    /// Where the database of `name` lives.
    pub fn db(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.db"))
    }

    /// Opens a client for `user` with the database `db`.
    pub async fn open(&self, user: &str, db: &str) -> Client {
        open_at(self.config(user), &self.db(db)).await
    }
}

async fn run_hub(
    config: portico_hub::config::Config,
) -> (
    portico_hub::shutdown::ShutdownTrigger,
    tokio::task::JoinHandle<()>,
    portico_hub::server::Bound,
) {
    let (trigger, shutdown) = portico_hub::shutdown::channel();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let r = portico_hub::server::run(config, shutdown, move |bound| {
            let _ = tx.send(bound);
        })
        .await;
        if let Err(e) = r {
            eprintln!("hub stopped: {e}");
        }
    });
    let bound = tokio::time::timeout(T, rx)
        .await
        .expect("hub ready in time")
        .expect("hub ready");
    (trigger, task, bound)
}

/// Opens a client, failing the test on error.
pub async fn open_at(config: Config, db: &Path) -> Client {
    tokio::time::timeout(T, Client::open(config, db))
        .await
        .expect("open in time")
        .expect("open the client")
}

/// Waits for the first event matching `pred`, skipping others.
pub async fn wait_for(client: &mut Client, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        match tokio::time::timeout_at(deadline, client.next_event()).await {
            Ok(Some(ev)) if pred(&ev) => return ev,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("client stopped while waiting for {what}"),
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }
}

/// The text of a message event.
pub fn text_of(ev: &Event) -> Option<&str> {
    match ev {
        Event::Message { content, .. } => match &content.body {
            Some(Body::Text(t)) => Some(t.body.as_str()),
            _ => None,
        },
        _ => None,
    }
}

/// Waits for a text message whose body is `body`; returns the event.
pub async fn wait_text(client: &mut Client, body: &str) -> Event {
    wait_for(client, &format!("the message {body:?}"), |e| {
        text_of(e) == Some(body)
    })
    .await
}

/// Waits for the delivery of message `id`.
pub async fn wait_delivered(client: &mut Client, id: &str) {
    wait_for(
        client,
        &format!("delivery of {id}"),
        |e| matches!(e, Event::Delivered { id: d, .. } if d == id),
    )
    .await;
}

/// Waits for both the hub's ack (`Sent`) and a recipient's receipt (`Delivered`) of `id`,
/// in either order: the hub pushes to online devices before its durable write answers the
/// sender, so the receipt may come first.
pub async fn wait_sent_and_delivered(client: &mut Client, id: &str) {
    let deadline = tokio::time::Instant::now() + T;
    let (mut sent, mut delivered) = (false, false);
    while !(sent && delivered) {
        match tokio::time::timeout_at(deadline, client.next_event()).await {
            Ok(Some(Event::Sent { id: s })) if s == id => sent = true,
            Ok(Some(Event::Delivered { id: d, .. })) if d == id => delivered = true,
            Ok(Some(_)) => {}
            Ok(None) => panic!("client stopped while waiting for the ack and receipt of {id}"),
            Err(_) => panic!("timed out waiting for {id}: sent {sent}, delivered {delivered}"),
        }
    }
}

/// Prepares a database at `path` that binds `account`'s existing `device` with a new
/// identity (as a reinstalled app that kept its device id would).
pub fn bind_fresh_database_to(path: &Path, account: &str, device: u32) {
    let db = rusqlite::Connection::open(path).expect("db");
    db.execute_batch("CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
        .expect("schema");
    db.execute(
        "INSERT INTO meta (key, value) VALUES ('device_id', ?1), ('account', ?2)",
        rusqlite::params![device.to_be_bytes().to_vec(), account.as_bytes().to_vec()],
    )
    .expect("device id");
}
