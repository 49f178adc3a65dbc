//! Quick start: connect, subscribe, publish at QoS 0, 1 and 2, receive each message back,
//! disconnect.
//!
//! What to expect: one line per step, then `disconnected`, exit status 0. Every wait is
//! bounded, so a broker that does not answer ends the program with an error, not a hang.
//!
//! Run it:
//!
//! ```text
//! cargo run -p examples --example quickstart                 # an in-process broker
//! cargo run -p examples --example quickstart -- --url mqtt://localhost:1883
//! ```
//!
//! Against a local mosquitto (`mosquitto -p 1883 -v` in another terminal), watch the
//! messages go by with `mosquitto_sub -v -t 'examples/#'`.

use std::process::ExitCode;
use std::time::Duration;

use mqtt_client::{Client, Options, QoS};
use mqtt_testkit::Broker;

/// Anything that can go wrong, printed once by `main`.
type Error = Box<dyn std::error::Error + Send + Sync>;

/// The longest we wait for a message.
const PATIENCE: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quickstart: error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Error> {
    // `--url URL`: talk to that broker; without it, start the in-process reference broker.
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

    // Client::connect returns once the broker has accepted the connection (CONNACK); the
    // connection runs in a task of its own from then on. MQTT 5.0 and a generated client
    // id by default. The second value is the catch-all stream of the messages that no
    // subscription stream takes: none are expected here, so it is dropped at once (`_`);
    // such messages are then logged and discarded. Keep it and read it if you want them.
    let (client, _) = Client::connect(Options::from_url(&url)?).await?;
    println!(
        "connected as {} with MQTT {:?}",
        client.client_id(),
        client.protocol()
    );

    // A topic of our own, so that runs against a shared broker do not meet.
    let topic = format!("examples/{}/greeting", client.client_id());
    // A subscription is a stream of its own messages; subscribe() returns at SUBACK.
    let mut greetings = client.subscribe(&topic, QoS::ExactlyOnce).await?;
    println!("subscribed to {topic}");

    for (n, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        // publish() returns once the request is queued; the handle it returns resolves
        // when the broker acknowledged (PUBACK for QoS 1, PUBCOMP for QoS 2) or, for QoS 0,
        // once the bytes were written.
        let handle = client
            .publish(&topic, qos, false, format!("hello #{n}"))
            .await?;
        let ack = handle.await?;
        println!(
            "published hello #{n} at {qos:?} (packet id {:?})",
            ack.packet_id.map(|id| id.get())
        );

        let message = match tokio::time::timeout(PATIENCE, greetings.recv()).await {
            Ok(Some(message)) => message,
            Ok(None) => return Err("the subscription ended".into()),
            Err(_) => return Err(format!("no message within {PATIENCE:?}").into()),
        };
        println!(
            "received {:?} on {} at {:?}",
            String::from_utf8_lossy(message.payload()),
            message.topic(),
            message.qos()
        );
    }

    // A clean shutdown: what is in flight has up to 5 s to be acknowledged, then
    // DISCONNECT goes out (so the broker does not publish our will, if we had one).
    client.disconnect(Duration::from_secs(5)).await?;
    println!("disconnected");
    if let Some(broker) = broker {
        broker.shutdown().await;
    }
    Ok(())
}
