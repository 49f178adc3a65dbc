//! Automatic reconnection: the connection is taken away, the client reconnects with
//! backoff on its own and its subscription works again; a watch of the connection status
//! prints every change.
//!
//! How the connection is taken away works on any broker: a second connection with the same
//! client id takes the session over, and the broker drops the first one (MQTT-3.1.4-3).
//!
//! What to expect: `status: reconnecting, attempt 1 (...)`, then `status: connected`, a
//! message received after reconnecting, and `status: disconnected (None)` after the clean
//! disconnect.
//!
//! Run it:
//!
//! ```text
//! cargo run -p examples --example reconnect               # an in-process broker
//! cargo run -p examples --example reconnect -- --url mqtt://localhost:1883
//! ```
//!
//! Against a real broker you can also restart the broker while the `service` example runs.

use std::process::ExitCode;
use std::time::Duration;

use mqtt_client::{Client, ConnectionStatus, Options, QoS, Reconnect, generated_client_id};
use mqtt_testkit::Broker;

/// Anything that can go wrong, printed once by `main`.
type Error = Box<dyn std::error::Error + Send + Sync>;

/// The longest we wait for a message or a status change.
const PATIENCE: Duration = Duration::from_secs(10);
/// How long a disconnect may take to let what is in flight be acknowledged.
const DRAIN: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reconnect: error: {e}");
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

    let id = generated_client_id();
    let topic = format!("examples/{id}/status");
    // Exponential backoff with full jitter: the delay before attempt n is random in
    // 0..=min(max_delay, min_delay * 2^n). Reconnection is on by default (100 ms .. 30 s,
    // forever); here it is quicker and gives up after 20 attempts in a row.
    let mut policy = Reconnect::default();
    policy.min_delay = Duration::from_millis(50);
    policy.max_delay = Duration::from_secs(2);
    policy.max_attempts = Some(20);

    let options = Options::from_url(&url)?
        .with_client_id(&id)
        .with_reconnect(policy);
    let (client, _) = Client::connect(options).await?;
    let mut messages = client.subscribe(&topic, QoS::AtLeastOnce).await?;
    println!("{id}: connected and subscribed to {topic}");

    // Print every status change until the client has stopped for good. A watch holds the
    // latest status only: changes in quick succession may be seen as one.
    let mut status = client.status();
    let watcher = tokio::spawn(async move {
        while status.changed().await.is_ok() {
            let current = status.borrow_and_update().clone();
            match current {
                ConnectionStatus::Connected {
                    session_present, ..
                } => {
                    println!("status: connected (session present: {session_present})");
                }
                ConnectionStatus::Reconnecting {
                    attempt,
                    last_error,
                    ..
                } => println!("status: reconnecting, attempt {attempt} ({last_error})"),
                ConnectionStatus::Disconnected { reason, .. } => {
                    println!("status: disconnected ({reason:?})");
                    break;
                }
                other => println!("status: {other:?}"),
            }
        }
    });

    // Take the connection away: the intruder has the same client id and does not
    // reconnect itself.
    let mut status = client.status();
    let mut no_reconnect = Reconnect::default();
    no_reconnect.enabled = false;
    let intruder_options = Options::from_url(&url)?
        .with_client_id(&id)
        .with_reconnect(no_reconnect);
    let (intruder, _) = Client::connect(intruder_options).await?;
    println!("a second connection with the same client id took the session over");
    // The first change is the loss of the connection.
    tokio::time::timeout(PATIENCE, status.changed())
        .await
        .map_err(|_| "the connection was not taken over")??;
    // The intruder leaves (it may have been taken over in turn already: then it is closed
    // and says so, which is fine here).
    if let Err(e) = intruder.disconnect(DRAIN).await {
        println!("the intruder was already gone ({e})");
    }
    // Wait until the client is connected again.
    tokio::time::timeout(PATIENCE, status.wait_for(ConnectionStatus::is_connected))
        .await
        .map_err(|_| "no reconnection in time")??;
    println!("connected again");

    // The subscription works again (made again by the client if the broker lost the
    // session).
    client
        .publish(&topic, QoS::AtLeastOnce, false, "back online")
        .await?
        .await?;
    match tokio::time::timeout(PATIENCE, messages.recv()).await {
        Ok(Some(m)) => println!(
            "after reconnecting, received {:?}",
            String::from_utf8_lossy(m.payload())
        ),
        Ok(None) => return Err("the subscription ended".into()),
        Err(_) => return Err(format!("no message within {PATIENCE:?}").into()),
    }

    client.disconnect(DRAIN).await?;
    watcher.await?;
    if let Some(broker) = broker {
        broker.shutdown().await;
    }
    Ok(())
}
