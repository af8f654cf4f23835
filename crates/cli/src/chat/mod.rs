//! `portico chat`: a terminal chat client on the client SDK (ratatui + crossterm), for a
//! plain 80x24 terminal: contacts with unread counts, the conversation with status marks
//! (✓ on the hub, ✓✓ delivered, ✓✓ read), a safety-number view with verification, and an
//! input line.
//!
//! Keys: type and Enter to send; ↑/↓ choose the contact; `/add NAME` adds a contact; F2 (or
//! `/safety`) opens the safety numbers, where `v` marks them verified and Esc goes back;
//! Ctrl-C or Esc quits.

mod ui;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use portico_client::{Client, ClientError, Config, Event, LoggedMessage, Trust};
use portico_stanza::Jid;
use ratatui::crossterm::event::{self, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tokio::sync::mpsc;

/// `portico chat` arguments.
#[derive(Debug, clap::Args)]
pub struct ChatArgs {
    /// The hub's direct-TLS address (host:port, port 5223 by default).
    #[arg(long, value_name = "HOST:PORT")]
    server: String,
    /// The hub's domain (the part after @ in every address).
    #[arg(long, default_value = "localhost")]
    domain: String,
    /// Your account name.
    #[arg(long)]
    user: String,
    /// Your password (or set PORTICO_PASSWORD).
    #[arg(long, env = "PORTICO_PASSWORD", hide_env_values = true)]
    password: String,
    /// SHA-256 of the hub's certificate (64 hex digits), from its operator.
    #[arg(
        long,
        value_name = "SHA256HEX",
        required_unless_present_any = ["ca", "insecure_trust_first_use"]
    )]
    pin: Option<String>,
    /// Trust whatever certificate the hub shows the first time and pin it from then on
    /// (kept in DB.hub-pin). Only for trying things out: the first connection could be
    /// intercepted.
    #[arg(long, conflicts_with_all = ["pin", "ca"])]
    insecure_trust_first_use: bool,
    /// A PEM file of CA certificates, for a hub with a CA-signed certificate.
    #[arg(long, value_name = "FILE", conflicts_with = "pin")]
    ca: Option<PathBuf>,
    /// Where this device keeps its keys, sessions and messages.
    #[arg(long, value_name = "FILE")]
    db: Option<PathBuf>,
    /// People to list from the start (more can be added with `/add NAME`).
    #[arg(long = "contact", value_name = "NAME")]
    contacts: Vec<String>,
    /// Where received files are saved (verified before they are kept).
    #[arg(long, value_name = "DIR", default_value = "portico-downloads")]
    downloads: PathBuf,
}

/// What went wrong in `portico chat`.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// Signing in or talking to the hub failed.
    #[error("{0}")]
    Client(#[from] ClientError),
    /// A name does not form a valid address.
    #[error("{0:?} is not a valid account name; use letters, digits, '.', '-' or '_'")]
    BadName(String),
    /// The terminal could not be driven.
    #[error("the terminal failed: {0}")]
    Terminal(#[from] std::io::Error),
}

/// A person in the contacts list.
#[derive(Debug)]
pub(crate) struct Contact {
    pub(crate) jid: Jid,
    /// Ids of their messages not yet shown.
    pub(crate) unread: Vec<String>,
    /// Their devices seen so far.
    pub(crate) devices: Vec<u32>,
    /// For a third-party provider's user: the provider, and their visible id once the hub's
    /// stamp on one of their messages told it. Such contacts are listed apart.
    pub(crate) third_party: Option<(String, Option<String>)>,
}

/// Which screen is shown.
#[derive(Debug)]
pub(crate) enum View {
    /// Contacts, conversation, input.
    Chat,
    /// Safety numbers with the selected contact: (device, number, verified now).
    Safety(Vec<(u32, String, bool)>),
}

/// Everything the screen shows.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) me: Jid,
    pub(crate) device: u32,
    pub(crate) contacts: Vec<Contact>,
    pub(crate) selected: usize,
    pub(crate) log: Vec<LoggedMessage>,
    pub(crate) input: String,
    pub(crate) notice: String,
    pub(crate) online: bool,
    pub(crate) view: View,
    /// Where received files go.
    pub(crate) downloads: PathBuf,
}

impl App {
    /// The index of `jid`'s contact, added if new. The hub's own users come first, third-party
    /// users after them, so the list shows the two groups apart.
    fn contact(&mut self, jid: &Jid) -> usize {
        let bare = jid.to_bare();
        if let Some(i) = self.contacts.iter().position(|c| c.jid == bare) {
            return i;
        }
        let provider = portico_client::thirdparty::provider_of(&bare, self.me.domain());
        let third_party = provider.map(|p| (p.to_owned(), None));
        let at = match third_party {
            Some(_) => self.contacts.len(),
            None => self
                .contacts
                .iter()
                .position(|c| c.third_party.is_some())
                .unwrap_or(self.contacts.len()),
        };
        if at <= self.selected && !self.contacts.is_empty() {
            self.selected += 1;
        }
        self.contacts.insert(
            at,
            Contact {
                jid: bare,
                unread: Vec::new(),
                devices: Vec::new(),
                third_party,
            },
        );
        at
    }

    fn peer(&self) -> Option<Jid> {
        self.contacts.get(self.selected).map(|c| c.jid.clone())
    }
}

/// Runs `portico chat`.
pub fn run(args: ChatArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(ChatError::Terminal)?;
    runtime.block_on(chat(args))?;
    Ok(())
}

fn parse_jid(name: &str, domain: &str) -> Result<Jid, ChatError> {
    let full = if name.contains('@') {
        name.to_owned()
    } else {
        format!("{name}@{domain}")
    };
    full.parse::<Jid>()
        .map_err(|_| ChatError::BadName(name.to_owned()))
}

async fn chat(args: ChatArgs) -> Result<(), ChatError> {
    let db = args
        .db
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("portico-{}.db", args.user)));
    let config = |trust: Trust| {
        Config::new(
            &args.server,
            &args.domain,
            &args.user,
            &args.password,
            trust,
        )
    };
    eprintln!("signing in to {} as {}…", args.server, args.user);
    let mut client = match (&args.pin, &args.ca) {
        (Some(pin), _) => Client::open(config(Trust::Pin(pin.clone())), &db).await?,
        (None, Some(ca)) => Client::open(config(Trust::CaBundle(ca.clone())), &db).await?,
        (None, None) => trust_first_use(&db, config).await?,
    };
    let mut app = App {
        me: client.jid().clone(),
        device: client.device_id(),
        contacts: Vec::new(),
        selected: 0,
        log: Vec::new(),
        input: String::new(),
        notice: format!(
            "signed in as {} (device {})",
            client.jid(),
            client.device_id()
        ),
        online: true,
        view: View::Chat,
        downloads: args.downloads.clone(),
    };
    for name in &args.contacts {
        let jid = parse_jid(name, &args.domain)?;
        app.contact(&jid);
    }
    reload(&client, &mut app).await;

    let (keys_tx, mut keys) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        loop {
            match event::read() {
                Ok(event::Event::Key(k)) if k.kind != KeyEventKind::Release => {
                    if keys_tx.send(Some(k)).is_err() {
                        return;
                    }
                }
                Ok(_) => {
                    if keys_tx.send(None).is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    });

    let mut terminal = ratatui::init();
    let result = event_loop(
        &mut terminal,
        &mut client,
        &mut app,
        &mut keys,
        &args.domain,
    )
    .await;
    ratatui::restore();
    client.close().await;
    result
}

/// Opens the client pinning the certificate saved next to the database, or, the first time,
/// whatever certificate the hub presents (learned from the pin-mismatch error of a dummy pin).
async fn trust_first_use(
    db: &std::path::Path,
    config: impl Fn(Trust) -> Config,
) -> Result<Client, ChatError> {
    let mut pin_file = db.as_os_str().to_owned();
    pin_file.push(".hub-pin");
    let pin_file = PathBuf::from(pin_file);
    if let Ok(pin) = std::fs::read_to_string(&pin_file) {
        return Ok(Client::open(config(Trust::Pin(pin.trim().to_owned())), db).await?);
    }
    match Client::open(config(Trust::Pin("0".repeat(64))), db).await {
        Ok(client) => Ok(client),
        Err(ClientError::PinMismatch { actual }) => {
            eprintln!(
                "warning: trusting the hub's certificate on first use: SHA-256 {actual} \
                 (saved in {}); compare it with the hub operator's",
                pin_file.display()
            );
            std::fs::write(&pin_file, format!("{actual}\n"))?;
            Ok(Client::open(config(Trust::Pin(actual)), db).await?)
        }
        Err(e) => Err(e.into()),
    }
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    client: &mut Client,
    app: &mut App,
    keys: &mut mpsc::UnboundedReceiver<Option<KeyEvent>>,
    domain: &str,
) -> Result<(), ChatError> {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        terminal.draw(|f| ui::draw(f, app))?;
        tokio::select! {
            key = keys.recv() => {
                let Some(key) = key else { return Ok(()) };
                if let Some(key) = key {
                    if !on_key(client, app, key, domain).await {
                        return Ok(());
                    }
                }
            }
            ev = client.next_event() => {
                let Some(ev) = ev else { return Ok(()) };
                on_event(client, app, ev).await;
            }
            _ = tick.tick() => {}
        }
    }
}

/// Labels third-party contacts with the visible id the hub stamped on their messages,
/// which the SDK remembers across restarts (until then they show as their internal JID).
async fn label_third_parties(client: &Client, app: &mut App) {
    for c in &mut app.contacts {
        if let Some((provider, visible @ None)) = &mut c.third_party
            && let Ok(Some(origin)) = client.third_party(&c.jid).await
            && origin.provider == *provider
        {
            *visible = Some(origin.visible_id);
        }
    }
}

/// Reloads the selected conversation and marks what is now visible as read.
async fn reload(client: &Client, app: &mut App) {
    let Some(peer) = app.peer() else {
        app.log.clear();
        return;
    };
    match client.conversation(&peer).await {
        Ok(log) => app.log = log,
        Err(e) => app.notice = format!("cannot load the conversation: {e}"),
    }
    label_third_parties(client, app).await;
    if matches!(app.view, View::Chat) {
        let unread = std::mem::take(&mut app.contacts[app.selected].unread);
        if !unread.is_empty() {
            if let Err(e) = client.mark_read(&peer, &unread).await {
                app.notice = format!("cannot send the read receipt: {e}");
            }
        }
    }
}

async fn on_event(client: &Client, app: &mut App, ev: Event) {
    match ev {
        Event::Message {
            conversation,
            from,
            device,
            id,
            content,
            third_party,
        } => {
            if let Some(portico_content::Body::Attachment(a)) = &content.body {
                save_attachment(client, app, a).await;
            }
            let i = app.contact(&conversation);
            if from.to_bare() != app.me {
                let c = &mut app.contacts[i];
                if let (Some(origin), Some((provider, visible))) = (third_party, &mut c.third_party)
                    && origin.provider == *provider
                {
                    *visible = Some(origin.visible_id);
                }
                c.unread.push(id);
                if !c.devices.contains(&device) {
                    c.devices.push(device);
                }
            }
        }
        Event::Disconnected { reason } => {
            app.online = false;
            app.notice = format!("connection lost ({reason}); reconnecting…");
        }
        Event::Reconnected { .. } => {
            app.online = true;
            app.notice = "connected again".into();
        }
        Event::SendFailed { reason, .. } => app.notice = format!("a message failed: {reason}"),
        Event::IdentityChanged { jid, device } => {
            app.notice = format!("{jid} device {device} has a new safety number: compare it (F2)");
        }
        Event::IdentityUntrusted { jid, device, .. } => {
            app.notice = format!(
                "refused a message from {jid} device {device}: its key changed since you verified it (F2)"
            );
        }
        _ => {}
    }
    reload(client, app).await;
}

/// Handles one key; `false` to quit.
async fn on_key(client: &Client, app: &mut App, key: KeyEvent, domain: &str) -> bool {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('d')) {
        return false;
    }
    if let View::Safety(numbers) = &mut app.view {
        match key.code {
            KeyCode::Esc | KeyCode::F(2) => {
                app.view = View::Chat;
                reload(client, app).await;
            }
            KeyCode::Char(c @ ('v' | 'u')) => {
                let verified = c == 'v';
                let Some(peer) = app.contacts.get(app.selected).map(|c| c.jid.clone()) else {
                    return true;
                };
                for (device, _, flag) in numbers.iter_mut() {
                    match client.set_verified(&peer, *device, verified).await {
                        Ok(()) => *flag = verified,
                        Err(e) => app.notice = format!("cannot record it: {e}"),
                    }
                }
            }
            _ => {}
        }
        return true;
    }
    match key.code {
        KeyCode::Esc => return false,
        KeyCode::Up => {
            app.selected = app.selected.saturating_sub(1);
            reload(client, app).await;
        }
        KeyCode::Down => {
            if app.selected + 1 < app.contacts.len() {
                app.selected += 1;
            }
            reload(client, app).await;
        }
        KeyCode::F(2) => open_safety(client, app).await,
        KeyCode::Backspace => {
            app.input.pop();
        }
        KeyCode::Enter => {
            let line = std::mem::take(&mut app.input);
            submit(client, app, line.trim(), domain).await;
        }
        KeyCode::Char(c) if !ctrl => app.input.push(c),
        _ => {}
    }
    true
}

async fn submit(client: &Client, app: &mut App, line: &str, domain: &str) {
    if line.is_empty() {
        return;
    }
    if let Some(name) = line.strip_prefix("/add ") {
        match parse_jid(name.trim(), domain) {
            Ok(jid) => {
                app.selected = app.contact(&jid);
                app.notice = format!("added {jid}");
            }
            Err(e) => app.notice = e.to_string(),
        }
        reload(client, app).await;
        return;
    }
    if let Some(path) = line.strip_prefix("/send ") {
        let Some(peer) = app.peer() else {
            app.notice = "add a contact first: /add NAME".into();
            return;
        };
        let path = std::path::Path::new(path.trim());
        app.notice = match client.send_file(&peer, path, Default::default()).await {
            Ok(_) => format!("sent {}", path.display()),
            Err(e) => format!("file not sent: {e}"),
        };
        reload(client, app).await;
        return;
    }
    if line == "/safety" {
        open_safety(client, app).await;
        return;
    }
    let Some(peer) = app.peer() else {
        app.notice = "add a contact first: /add NAME".into();
        return;
    };
    if let Err(e) = client.send_text(&peer, line).await {
        app.notice = format!("not sent: {e}");
    }
    reload(client, app).await;
}

/// Downloads a received attachment into the downloads dir (verified, then kept).
async fn save_attachment(client: &Client, app: &mut App, a: &portico_content::Attachment) {
    // Only the last path component, without leading dots: the sender chose the name.
    let name: String = std::path::Path::new(&a.file_name)
        .file_name()
        .map(|n| n.to_string_lossy().trim_start_matches('.').to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "attachment".into());
    if let Err(e) = std::fs::create_dir_all(&app.downloads) {
        app.notice = format!("cannot create {}: {e}", app.downloads.display());
        return;
    }
    let mut dest = app.downloads.join(&name);
    let mut n = 1;
    while dest.exists() {
        dest = app.downloads.join(format!("{n}-{name}"));
        n += 1;
    }
    app.notice = match client.download(a, &dest).await {
        Ok(d) => format!("saved {} ({} bytes)", d.path.display(), d.size),
        Err(e) => format!("a received file was not saved: {e}"),
    };
}

async fn open_safety(client: &Client, app: &mut App) {
    let Some(contact) = app.contacts.get(app.selected) else {
        app.notice = "add a contact first: /add NAME".into();
        return;
    };
    let peer = contact.jid.clone();
    // Devices seen in messages, and the first few ids, which is where devices start.
    let mut devices: BTreeMap<u32, ()> = contact.devices.iter().map(|d| (*d, ())).collect();
    for d in 1..=4 {
        devices.insert(d, ());
    }
    let mut numbers = Vec::new();
    for device in devices.into_keys() {
        if let Ok(Some(n)) = client.safety_number(&peer, device).await {
            numbers.push((device, n, false));
        }
    }
    app.view = View::Safety(numbers);
}
