//! Two users talk through a real hub started in this process on free loopback ports:
//! Alice writes, Bob reads and answers, and Alice sees her message delivered and read.
//!
//! ```sh
//! cargo run -p portico-client --example two_users
//! ```

use portico_client::{Client, Config, Event, Trust};
use portico_content::Body;
use portico_stanza::Jid;

type Error = Box<dyn std::error::Error>;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let (hub, pin) = start_hub(dir.path()).await?;
    let config = |user: &str| {
        Config::new(
            &hub.to_string(),
            "localhost",
            user,
            &format!("password-of-{user}"),
            Trust::Pin(pin.clone()),
        )
    };
    let mut alice = Client::open(config("alice"), &dir.path().join("alice.db")).await?;
    let mut bob = Client::open(config("bob"), &dir.path().join("bob.db")).await?;
    let (alice_jid, bob_jid): (Jid, Jid) = ("alice@localhost".parse()?, "bob@localhost".parse()?);

    let id = alice.send_text(&bob_jid, "Hi Bob, it's Alice.").await?;
    println!("alice → bob: sent {id}");
    let (from, text, got_id) = next_text(&mut bob).await?;
    println!("bob sees: {from}: {text}");
    bob.mark_read(&alice_jid, &[got_id]).await?;
    bob.send_text(&alice_jid, "Hello Alice!").await?;
    let mut read = false;
    let mut answered = false;
    while !(read && answered) {
        match alice.next_event().await.ok_or("alice stopped")? {
            Event::Sent { id: s } if s == id => println!("alice sees: ✓ on the hub"),
            Event::Delivered { id: d, .. } if d == id => println!("alice sees: ✓✓ delivered"),
            Event::Read { id: r, .. } if r == id => {
                println!("alice sees: read");
                read = true;
            }
            Event::Message { from, content, .. } => {
                if let Some(Body::Text(t)) = content.body {
                    println!("alice sees: {from}: {}", t.body);
                    answered = true;
                }
            }
            _ => {}
        }
    }
    let number = alice.safety_number(&bob_jid, bob.device_id()).await?;
    println!("safety number: {}", number.unwrap_or_default());
    alice.close().await;
    bob.close().await;
    Ok(())
}

async fn next_text(client: &mut Client) -> Result<(Jid, String, String), Error> {
    loop {
        if let Event::Message {
            from, id, content, ..
        } = client.next_event().await.ok_or("client stopped")?
        {
            if let Some(Body::Text(t)) = content.body {
                return Ok((from, t.body, id));
            }
        }
    }
}

/// Starts a hub with users alice and bob; returns its direct-TLS address and certificate pin.
async fn start_hub(dir: &std::path::Path) -> Result<(std::net::SocketAddr, String), Error> {
    let data = dir.join("hub");
    let env = [
        ("PORTICO_C2S_STARTTLS_ADDR", "127.0.0.1:0"),
        ("PORTICO_C2S_TLS_ADDR", "127.0.0.1:0"),
        ("PORTICO_HTTP_ADDR", "127.0.0.1:0"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let config = portico_hub::config::Config::load(None, env, Some(&data))?;
    let store = portico_hub::server::open_store(&config)?;
    for user in ["alice", "bob"] {
        portico_hub::accounts::add_user(&store, user, &format!("password-of-{user}")).await?;
    }
    store.close();
    let (trigger, shutdown) = portico_hub::shutdown::channel();
    std::mem::forget(trigger); // the hub runs until the example exits
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(portico_hub::server::run(config, shutdown, move |bound| {
        let _ = tx.send(bound.c2s_tls);
    }));
    let addr = rx.await?;
    let pin = portico_client::fingerprint_of_pem(&data.join("tls-cert.pem"))?;
    Ok((addr, pin))
}
