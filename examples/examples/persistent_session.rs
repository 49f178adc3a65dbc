//! A persistent session: the broker keeps a client's subscriptions, and the QoS 1 and 2
//! messages published for it, while the client is away.
//!
//! What to expect: the client subscribes and leaves; another client publishes three
//! messages; the first client comes back with the same client id, is told `session
//! present: true`, and receives the three messages it missed (on the catch-all stream: no
//! subscribe call was made on the new connection). Finally a clean start discards the
//! session, so that nothing is left on the broker.
//!
//! Run it:
//!
//! ```text
//! cargo run -p examples --example persistent_session      # an in-process broker
//! cargo run -p examples --example persistent_session -- --url mqtt://localhost:1883
//! ```
//!
//! mosquitto keeps sessions (with `persistence true`, even across its restarts); with MQTT
//! 5.0 the session lives for the Session Expiry Interval the client asks for.

use std::process::ExitCode;
use std::time::Duration;

use mqtt_client::{Client, ConnectionStatus, Options, QoS, generated_client_id};
use mqtt_testkit::Broker;

/// Anything that can go wrong, printed once by `main`.
type Error = Box<dyn std::error::Error + Send + Sync>;

/// The longest we wait for a message.
const PATIENCE: Duration = Duration::from_secs(10);
/// How long a disconnect may take to let what is in flight be acknowledged.
const DRAIN: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("persistent_session: error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Error> {
    let mut url = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--url" => url = Some(args.next().ok_or("--url needs a value")?),
            _ => return Err(format!("unknown argument {arg:?} (usage: [--url URL])").into()),
        }
    }
    let mut broker = None;
    let url = match url {
        Some(url) => url,
        None => {
            let b = Broker::builder().start().await?;
            let url = format!("mqtt://{}", b.local_addr());
            println!("started an in-process broker at {url}");
            broker = Some(b);
            url
        }
    };

    // A session is found again by its client id: it must be the same on every connection.
    let id = generated_client_id();
    let topic = format!("examples/{id}/inbox");
    let session_options = || -> Result<Options, Error> {
        Ok(Options::from_url(&url)?
            .with_client_id(&id)
            // Resume the session if the broker has one.
            .with_clean_start(false)
            // 5.0: keep it for an hour after the connection ends (3.1.1 brokers keep it
            // as long as clean session is off).
            .with_session_expiry(3600))
    };

    let (client, _) = Client::connect(session_options()?).await?;
    client.subscribe(&topic, QoS::AtLeastOnce).await?;
    client.disconnect(DRAIN).await?;
    println!("{id}: subscribed to {topic}, then disconnected");

    let (publisher, _) = Client::connect(Options::from_url(&url)?).await?;
    for n in 1..=3 {
        publisher
            .publish(&topic, QoS::AtLeastOnce, false, format!("letter {n}"))
            .await?
            .await?;
    }
    publisher.disconnect(DRAIN).await?;
    println!("meanwhile, 3 messages were published to {topic}");

    let (client, mut catch_all) = Client::connect(session_options()?).await?;
    // The status says whether the broker had kept the session (CONNACK's Session Present).
    let present = matches!(
        *client.status().borrow(),
        ConnectionStatus::Connected {
            session_present: true,
            ..
        }
    );
    println!("{id}: reconnected, session present: {present}");
    if !present {
        return Err("the broker did not keep the session".into());
    }
    // No subscribe call on this connection made a stream for these messages: they arrive
    // on the catch-all stream that connect() returned.
    for _ in 0..3 {
        match tokio::time::timeout(PATIENCE, catch_all.recv()).await {
            Ok(Some(m)) => println!(
                "received {:?}, queued while we were away",
                String::from_utf8_lossy(m.payload())
            ),
            Ok(None) => return Err("the client stopped".into()),
            Err(_) => {
                return Err(format!("a queued message did not come within {PATIENCE:?}").into());
            }
        }
    }
    client.disconnect(DRAIN).await?;

    // Clean up: a clean start (and, on 5.0, no session expiry) ends the session.
    let (client, _) = Client::connect(
        Options::from_url(&url)?
            .with_client_id(&id)
            .with_clean_start(true),
    )
    .await?;
    client.disconnect(DRAIN).await?;
    println!("{id}: session discarded");
    if let Some(broker) = broker {
        broker.shutdown().await;
    }
    Ok(())
}
