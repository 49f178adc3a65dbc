//! A bridge: forward a topic tree from one broker to another, keeping each message's QoS
//! and retain flag, and acknowledging a message to the source only once the destination
//! has acknowledged it (manual acks), so that a message is not lost if the bridge stops or
//! the destination is away. mosquitto's `connection` / `topic # out 1` bridge does the same
//! job inside the broker.
//!
//! What to expect: by default two in-process brokers, A and B, and the bridge from A to B.
//! Four messages published on A (QoS 0, 1 and 2, and a retained one) arrive on B at the
//! same QoS; then the bridge stops. With `--from` and `--to` the bridge runs until Ctrl-C.
//!
//! Run it:
//!
//! ```text
//! cargo run -p examples --example bridge                  # two in-process brokers
//! cargo run -p examples --example bridge -- --from mqtt://localhost:1883 --to mqtt://localhost:1884 --topic 'sensors/#'
//! ```
//!
//! Then, with two mosquitto brokers (`mosquitto -p 1883`, `mosquitto -p 1884`):
//! `mosquitto_sub -p 1884 -t 'sensors/#' -v -q 2` shows what `mosquitto_pub -p 1883 -t
//! sensors/a -q 2 -m hi` publishes on the first. `--id` sets the bridge's client id on the
//! source (default `examples-bridge`): its session there keeps the messages that arrive
//! while the bridge is down. Bridging a broker to itself with overlapping topics would loop.

use std::process::ExitCode;
use std::time::Duration;

use mqtt_client::{
    Client, Message, Messages, Options, PublishRequest, QoS, SubscribeFilter, SubscribeProperties,
    SubscriptionOptions, TopicFilter, TopicName, generated_client_id,
};
use mqtt_testkit::Broker;

/// Anything that can go wrong, printed once by `main`.
type Error = Box<dyn std::error::Error + Send + Sync>;

/// The longest we wait for a message in the demonstration.
const PATIENCE: Duration = Duration::from_secs(10);
/// How long a disconnect may take to let what is in flight be acknowledged.
const DRAIN: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bridge: error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Error> {
    let (mut from, mut to, mut topic, mut id) = (None, None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--from" => from = Some(value()?),
            "--to" => to = Some(value()?),
            "--topic" => topic = Some(value()?),
            "--id" => id = Some(value()?),
            _ => {
                return Err(format!(
                    "unknown argument {arg:?} (usage: [--from URL --to URL [--topic FILTER] [--id ID]])"
                )
                .into());
            }
        }
    }

    match (from, to) {
        // A bridge between real brokers, until Ctrl-C.
        (Some(from), Some(to)) => {
            let filter = topic.unwrap_or_else(|| "#".to_owned());
            let id = id.unwrap_or_else(|| "examples-bridge".to_owned());
            let (source, messages, destination) = connect(&from, &to, &filter, &id).await?;
            println!("bridging {filter} from {from} to {to}; Ctrl-C stops");
            tokio::select! {
                result = forward(messages, &destination) => result?,
                signal = tokio::signal::ctrl_c() => {
                    signal?;
                    println!("Ctrl-C: stopping");
                }
            }
            // What was forwarded and acknowledged is done; a message received but not yet
            // acknowledged stays in the source's session and is forwarded next time.
            source.disconnect(DRAIN).await?;
            destination.disconnect(DRAIN).await?;
            println!("bridge stopped");
            Ok(())
        }
        (None, None) => demonstrate(topic, id).await,
        _ => Err("--from and --to go together".into()),
    }
}

/// Connect to both brokers and subscribe on the source. The messages come on the source
/// client's catch-all stream (see below).
async fn connect(
    from: &str,
    to: &str,
    filter: &str,
    id: &str,
) -> Result<(Client, Messages, Client), Error> {
    let source_options = Options::from_url(from)?
        .with_client_id(id)
        // A message is acknowledged to the source only once forwarded...
        .with_manual_acks(true)
        // ...and the source keeps the session, with what was not acknowledged, while the
        // bridge is away (an hour, on 5.0).
        .with_clean_start(false)
        .with_session_expiry(3600);
    let (source, messages) = Client::connect(source_options).await?;
    let destination_options = Options::from_url(to)?;
    let (destination, _) = Client::connect(destination_options).await?;

    // Subscribe at QoS 2, so that each message comes at the QoS it was published with. On
    // 5.0, Retain As Published keeps the retain flag of messages published while we are
    // subscribed (otherwise only those sent on subscribe carry it).
    let mut options = SubscriptionOptions::new(QoS::ExactlyOnce);
    options.retain_as_published = source.protocol().is_v5();
    let request = SubscribeFilter {
        filter: TopicFilter::new(filter)?,
        options,
    };
    let subscription = source
        .subscribe_many(vec![request], SubscribeProperties::default())
        .await?;
    // Messages of a resumed session arrive on the catch-all stream, not on a subscribe
    // call's stream: drop the subscription's stream so that every message, old or new,
    // comes on the catch-all (dropping it does not unsubscribe).
    drop(subscription);
    Ok((source, messages, destination))
}

/// Forward every message, one at a time (so that their order is kept), until the source
/// client stops.
async fn forward(mut messages: Messages, destination: &Client) -> Result<(), Error> {
    while let Some(mut message) = messages.recv().await {
        let mut request = PublishRequest::new(
            TopicName::new(message.topic())?,
            message.qos(),
            message.payload().clone(),
        )
        .retain(message.retain());
        // 5.0 properties go along (content type, user properties, expiry...), except those
        // that only meant something on the source connection.
        let mut properties = message.properties().clone();
        properties.subscription_identifiers.clear();
        properties.topic_alias = None;
        request = request.properties(properties);
        // The handle resolves when B acknowledged (PUBACK for QoS 1, PUBCOMP for QoS 2; for
        // QoS 0, once written). If B is unreachable meanwhile, the publish waits for the
        // reconnection.
        destination.publish_with(request).await?.await?;
        // Only now acknowledge to A (PUBACK or PUBREC; nothing for QoS 0).
        message.ack();
        println!(
            "forwarded {} at {:?}{}",
            message.topic(),
            message.qos(),
            if message.retain() { ", retained" } else { "" }
        );
    }
    Ok(())
}

/// The default: brokers A and B in-process, the bridge between them, a publisher on A and
/// a subscriber on B.
async fn demonstrate(topic: Option<String>, id: Option<String>) -> Result<(), Error> {
    let a = Broker::builder().start().await?;
    let b = Broker::builder().start().await?;
    let (from, to) = (
        format!("mqtt://{}", a.local_addr()),
        format!("mqtt://{}", b.local_addr()),
    );
    println!("started broker A at {from} and broker B at {to}");
    let root = format!("examples/{}", generated_client_id());
    let filter = topic.unwrap_or_else(|| format!("{root}/#"));
    let id = id.unwrap_or_else(generated_client_id);

    // A subscriber on B, at QoS 2 so that it sees the QoS each message was forwarded at.
    let (subscriber, _) = Client::connect(Options::from_url(&to)?).await?;
    let mut on_b = subscriber.subscribe(&filter, QoS::ExactlyOnce).await?;

    let (source, messages, destination) = connect(&from, &to, &filter, &id).await?;
    println!("bridging {filter} from A to B");
    let bridge =
        tokio::spawn(async move { forward(messages, &destination).await.map(|()| destination) });

    let (publisher, _) = Client::connect(Options::from_url(&from)?).await?;
    let sent = [
        ("temperature", QoS::AtMostOnce, false),
        ("humidity", QoS::AtLeastOnce, false),
        ("door", QoS::ExactlyOnce, false),
        ("firmware", QoS::AtLeastOnce, true),
    ];
    for (leaf, qos, retain) in sent {
        publisher
            .publish(
                format!("{root}/{leaf}"),
                qos,
                retain,
                format!("{leaf} reading"),
            )
            .await?
            .await?;
    }
    println!("published {} messages on A", sent.len());

    for _ in 0..sent.len() {
        let m: Message = match tokio::time::timeout(PATIENCE, on_b.recv()).await {
            Ok(Some(m)) => m,
            Ok(None) => return Err("the subscription on B ended".into()),
            Err(_) => return Err(format!("a message did not reach B within {PATIENCE:?}").into()),
        };
        let leaf = m.topic().rsplit('/').next().unwrap_or_default();
        let Some((_, qos, _)) = sent.iter().find(|(l, ..)| *l == leaf) else {
            return Err(format!("unexpected message on B: {}", m.topic()).into());
        };
        println!(
            "B received {:?} on {} at {:?}",
            String::from_utf8_lossy(m.payload()),
            m.topic(),
            m.qos()
        );
        if m.qos() != *qos {
            return Err(
                format!("{leaf} was published at {qos:?}, arrived at {:?}", m.qos()).into(),
            );
        }
    }
    // The retained message is retained on B too: a new subscriber gets it at once, with
    // RETAIN set.
    let (late, _) = Client::connect(Options::from_url(&to)?).await?;
    let mut retained = late
        .subscribe(format!("{root}/firmware"), QoS::AtLeastOnce)
        .await?;
    match tokio::time::timeout(PATIENCE, retained.recv()).await {
        Ok(Some(m)) if m.retain() => println!("B kept {} as a retained message", m.topic()),
        Ok(Some(m)) => return Err(format!("{} arrived on B without retain", m.topic()).into()),
        Ok(None) => return Err("the subscription on B ended".into()),
        Err(_) => return Err("B has no retained message".into()),
    }
    println!("every message reached B at the QoS it was published with");

    // Stop: the source client's disconnect ends the bridge's message stream.
    publisher.disconnect(DRAIN).await?;
    source.disconnect(DRAIN).await?;
    let destination = bridge.await??;
    destination.disconnect(DRAIN).await?;
    late.disconnect(DRAIN).await?;
    subscriber.disconnect(DRAIN).await?;
    // The bridge's session on A ends with a clean start.
    let (source, _) = Client::connect(Options::from_url(&from)?.with_client_id(&id)).await?;
    source.disconnect(DRAIN).await?;
    println!("bridge stopped");
    a.shutdown().await;
    b.shutdown().await;
    Ok(())
}
