//! MQTT 5.0 request/response: a responder answers requests on its topic; a requester sends
//! requests carrying a Response Topic and Correlation Data, and awaits each reply.
//!
//! What to expect: the responder adds numbers; three requests (one of them not a sum) each
//! get their answer, matched to the request by its Correlation Data.
//!
//! Run it:
//!
//! ```text
//! cargo run -p examples --example request_response        # an in-process broker
//! cargo run -p examples --example request_response -- --url mqtt://localhost:1883
//! ```
//!
//! The broker must speak MQTT 5.0 (mosquitto 1.6 and later do). With the example running
//! against mosquitto, `mosquitto_rr -V 5 -t examples/<id>/add -e replies/me -m 2+2` asks
//! the same service from the command line.

use std::process::ExitCode;
use std::time::Duration;

use mqtt_client::{Client, Options, QoS, respond};
use mqtt_testkit::Broker;

/// Anything that can go wrong, printed once by `main`.
type Error = Box<dyn std::error::Error + Send + Sync>;

/// The longest we wait for a reply.
const PATIENCE: Duration = Duration::from_secs(10);
/// How long a disconnect may take to let what is in flight be acknowledged.
const DRAIN: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("request_response: error: {e}");
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

    // The responder: one client, serving one topic.
    let (server, _) = Client::connect(Options::from_url(&url)?).await?;
    if !server.protocol().is_v5() {
        return Err("request/response needs MQTT 5.0".into());
    }
    let service = format!("examples/{}/add", server.client_id());
    let mut requests = server.subscribe(&service, QoS::AtLeastOnce).await?;
    println!("responder: serving {service}");
    // A Client is a cheap handle: one for the task, one to stop it with.
    let server_handle = server.clone();
    let responder = tokio::spawn(async move {
        // Serve until the subscription ends (when the client disconnects).
        while let Some(request) = requests.recv().await {
            let question = String::from_utf8_lossy(request.payload()).into_owned();
            let answer = match question.split_once('+') {
                Some((a, b)) => match (a.trim().parse::<i64>(), b.trim().parse::<i64>()) {
                    (Ok(a), Ok(b)) => a.saturating_add(b).to_string(),
                    _ => format!("cannot add {question:?}"),
                },
                None => format!("not a sum: {question:?}"),
            };
            // respond() publishes to the request's Response Topic with its Correlation
            // Data; Ok(None) if the request named no response topic.
            match respond(&server, &request, QoS::AtLeastOnce, answer).await? {
                Some(sent) => {
                    sent.await?;
                }
                None => println!("responder: {question:?} has no response topic, ignored"),
            }
        }
        Ok::<_, Error>(())
    });

    // The requester: subscribes to its own response topic once, then sends requests.
    let (client, _) = Client::connect(Options::from_url(&url)?).await?;
    let requester = client
        .requester(&format!("{service}/replies/{}", client.client_id()))
        .await?;
    for question in ["2+3", "40+2", "two+three"] {
        // A responder that never answers would leave request() waiting: bound it.
        let reply = tokio::time::timeout(
            PATIENCE,
            requester.request(&service, QoS::AtLeastOnce, question),
        )
        .await
        .map_err(|_| format!("no reply to {question:?} within {PATIENCE:?}"))??;
        println!(
            "requester: {question} -> {}",
            String::from_utf8_lossy(reply.payload())
        );
    }
    drop(requester);
    client.disconnect(DRAIN).await?;

    // Stop the responder: disconnecting its client ends its subscription stream, so its
    // loop ends and the task returns.
    server_handle.disconnect(DRAIN).await?;
    responder.await??;
    println!("done");
    if let Some(broker) = broker {
        broker.shutdown().await;
    }
    Ok(())
}
