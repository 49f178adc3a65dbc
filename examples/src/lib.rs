//! # Examples of mqtt-client
//!
//! Each example is a function of this crate, run by a file of its own under `examples/`
//! and by `tests/run_examples.rs`:
//!
//! ```text
//! cargo run -p examples --example quickstart
//! cargo run -p examples --example tls_custom_ca
//! cargo run -p examples --example persistent_session
//! cargo run -p examples --example deferred_acks
//! cargo run -p examples --example request_response
//! cargo run -p examples --example reconnect
//! ```
//!
//! By default each starts an in-process reference broker (`mqtt-testkit`) and talks to it;
//! with `-- --url URL` it talks to that broker instead (and `tls_custom_ca` takes
//! `--ca FILE`, the PEM certificate of the authority that signed the broker's certificate).
//! Topics are under `examples/<a random id>/`, so that runs against a shared broker do not
//! meet. Every example ends by itself, waiting at most [`PATIENCE`] for anything, and
//! prints what happened.

#![forbid(unsafe_code)]
// Examples talk to whoever runs them.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use mqtt_client::{
    Client, ConnectionStatus, Message, Options, QoS, Reconnect, TlsOptions, generated_client_id,
    respond,
};
use mqtt_testkit::Broker;
use mqtt_testkit::certs::TestCa;

/// The error type of the examples: anything, printed once by [`main`].
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The longest an example waits for a message, a reply or a status change.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// How long a clean disconnect may take to drain what is in flight.
const DRAIN: Duration = Duration::from_secs(5);

/// The command line every example understands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    /// The broker to talk to; `None`: start an in-process reference broker.
    pub url: Option<String>,
    /// A CA certificate (PEM file) to trust, for `tls_custom_ca` with `--url`.
    pub ca: Option<PathBuf>,
}

impl Args {
    /// Parse `--url URL` and `--ca FILE` (the program name excluded). `Ok(None)` for
    /// `--help`.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Self>, String> {
        let mut parsed = Self::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
            match arg.as_str() {
                "--url" => parsed.url = Some(value("--url")?),
                "--ca" => parsed.ca = Some(PathBuf::from(value("--ca")?)),
                "-h" | "--help" => return Ok(None),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(Some(parsed))
    }
}

/// Run `example` with the process's arguments on a multi-threaded runtime: the `main` of
/// every example. Errors are printed once, on stderr; the exit code is 0 on success, 1 on
/// failure and 2 on bad arguments.
pub fn main<F, Fut>(name: &str, example: F) -> ExitCode
where
    F: FnOnce(Args) -> Fut,
    Fut: Future<Output = Result<(), Error>>,
{
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!(
                "usage: cargo run -p examples --example {name} [-- --url URL [--ca CA.pem]]\n\
                 Without --url, an in-process reference broker is started."
            );
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(example(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The broker an example talks to: the one at `--url`, or one started here.
struct Target {
    url: String,
    broker: Option<Broker>,
}

impl Target {
    async fn new(args: &Args) -> Result<Self, Error> {
        if let Some(url) = &args.url {
            println!("using the broker at {url}");
            return Ok(Self {
                url: url.clone(),
                broker: None,
            });
        }
        let broker = Broker::builder().start().await?;
        let url = format!("mqtt://{}", broker.local_addr());
        println!("started an in-process reference broker at {url}");
        Ok(Self {
            url,
            broker: Some(broker),
        })
    }

    /// Options for the target's URL.
    fn options(&self) -> Result<Options, Error> {
        Ok(Options::from_url(&self.url)?)
    }

    async fn finish(self) {
        if let Some(broker) = self.broker {
            broker.shutdown().await;
        }
    }
}

/// Wait (at most [`PATIENCE`]) for the next item of a stream.
async fn next<T>(what: &str, f: impl Future<Output = Option<T>>) -> Result<T, Error> {
    match tokio::time::timeout(PATIENCE, f).await {
        Ok(Some(item)) => Ok(item),
        Ok(None) => Err(format!("waiting for {what}: the stream ended").into()),
        Err(_) => Err(format!("no {what} within {PATIENCE:?}").into()),
    }
}

fn text(m: &Message) -> String {
    String::from_utf8_lossy(m.payload()).into_owned()
}

/// Connect, subscribe, publish at QoS 0, 1 and 2, receive each message, disconnect.
pub async fn quickstart(args: Args) -> Result<(), Error> {
    let target = Target::new(&args).await?;
    // Client::connect returns once the broker has accepted the connection (CONNACK); the
    // connection runs in a task of its own from then on.
    let (client, _unrouted) = Client::connect(target.options()?).await?;
    println!(
        "connected as {} with MQTT {:?}",
        client.client_id(),
        client.protocol()
    );

    let topic = format!("examples/{}/greeting", client.client_id());
    // A subscription is a stream of its own messages.
    let mut greetings = client.subscribe(&topic, QoS::ExactlyOnce).await?;
    println!("subscribed to {topic}");

    for (n, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        // publish() returns once queued; the handle resolves when the broker acknowledged
        // (PUBACK for QoS 1, PUBCOMP for QoS 2, written for QoS 0).
        let ack = client
            .publish(&topic, qos, false, format!("hello #{n}"))
            .await?
            .await?;
        println!(
            "published hello #{n} at {qos:?}: done (packet id {:?})",
            ack.packet_id.map(|id| id.get())
        );
        let m = next("the greeting", greetings.recv()).await?;
        println!("received {:?} on {} at {:?}", text(&m), m.topic(), m.qos());
    }

    client.disconnect(DRAIN).await?;
    println!("disconnected");
    target.finish().await;
    Ok(())
}

/// TLS with a certificate authority of our own: the broker's certificate is not trusted by
/// the default trust store (webpki roots), and is by the custom CA.
pub async fn tls_custom_ca(args: Args) -> Result<(), Error> {
    let (url, tls, broker) = match &args.url {
        Some(url) => {
            println!("using the broker at {url}");
            let tls = match &args.ca {
                Some(ca) => TlsOptions::default().with_ca_file(ca),
                None => TlsOptions::default(),
            };
            (url.clone(), tls, None)
        }
        None => {
            // A throwaway CA and a certificate for localhost, made at run time.
            let ca = TestCa::new("examples");
            let server = ca.server_cert(&["localhost", "127.0.0.1"]);
            let broker = Broker::builder().tls(server.tls_config()).start().await?;
            let port = broker
                .tls_addr()
                .ok_or("the broker has no TLS listener")?
                .port();
            let url = format!("mqtts://localhost:{port}");
            println!("started an in-process TLS broker at {url}, its certificate from a new CA");

            // The default trust store does not know our CA: the handshake fails, with a
            // typed error.
            match Client::connect(Options::from_url(&url)?).await {
                Err(e) => println!("with the default trust store: refused, as it should be ({e})"),
                Ok(_) => return Err("an unknown CA was trusted".into()),
            }
            (
                url,
                TlsOptions::default().with_ca_pem(ca.cert_pem()),
                Some(broker),
            )
        }
    };

    let (client, _unrouted) = Client::connect(Options::from_url(&url)?.with_tls(tls)).await?;
    println!("connected over TLS, the broker's certificate verified against the custom CA");
    let topic = format!("examples/{}/secure", client.client_id());
    let mut sub = client.subscribe(&topic, QoS::AtLeastOnce).await?;
    client
        .publish(&topic, QoS::AtLeastOnce, false, "encrypted")
        .await?
        .await?;
    let m = next("the message", sub.recv()).await?;
    println!("round trip over TLS: {:?}", text(&m));
    client.disconnect(DRAIN).await?;
    if let Some(broker) = broker {
        broker.shutdown().await;
    }
    Ok(())
}

/// Connect with a fixed client id, clean start off and a Session Expiry Interval: the
/// broker keeps the session (its subscriptions and the QoS 1/2 messages for it) while the
/// client is away.
pub async fn persistent_session(args: Args) -> Result<(), Error> {
    let target = Target::new(&args).await?;
    let id = generated_client_id();
    let topic = format!("examples/{id}/inbox");
    let session = |clean: bool| -> Result<Options, Error> {
        Ok(target
            .options()?
            .with_client_id(&id)
            .with_clean_start(clean)
            // 5.0: keep the session an hour after the connection ends (3.1.1 keeps it
            // as long as clean session is off).
            .with_session_expiry(3600))
    };

    let (client, _unrouted) = Client::connect(session(false)?).await?;
    client.subscribe(&topic, QoS::AtLeastOnce).await?;
    client.disconnect(DRAIN).await?;
    println!("{id}: subscribed to {topic}, then disconnected");

    let (publisher, _p) = Client::connect(target.options()?).await?;
    for n in 1..=3 {
        publisher
            .publish(&topic, QoS::AtLeastOnce, false, format!("letter {n}"))
            .await?
            .await?;
    }
    publisher.disconnect(DRAIN).await?;
    println!("meanwhile, 3 messages were published to {topic}");

    let (client, mut unrouted) = Client::connect(session(false)?).await?;
    let present = matches!(
        *client.status().borrow(),
        ConnectionStatus::Connected {
            session_present: true
        }
    );
    println!("{id}: reconnected, session present: {present}");
    if !present {
        return Err("the broker did not keep the session".into());
    }
    // No subscribe call on this connection made a stream for them: the session's messages
    // arrive on the catch-all stream.
    for _ in 0..3 {
        let m = next("a queued message", unrouted.recv()).await?;
        println!("received {:?}, queued while we were away", text(&m));
    }
    client.disconnect(DRAIN).await?;

    // Clean up: a clean start with no expiry ends the session.
    let (client, _u) =
        Client::connect(target.options()?.with_client_id(&id).with_clean_start(true)).await?;
    client.disconnect(DRAIN).await?;
    println!("{id}: session discarded");
    target.finish().await;
    Ok(())
}

/// Manual acknowledgements: a message is acknowledged only once handled, so a message the
/// client did not finish is delivered again.
pub async fn deferred_acks(args: Args) -> Result<(), Error> {
    let target = Target::new(&args).await?;
    let id = generated_client_id();
    let topic = format!("examples/{id}/jobs");
    let worker_options = || -> Result<Options, Error> {
        Ok(target
            .options()?
            .with_client_id(&id)
            .with_manual_acks(true)
            // A persistent session, so that the broker redelivers what was not acknowledged.
            .with_clean_start(false)
            .with_session_expiry(600))
    };

    let (worker, _unrouted) = Client::connect(worker_options()?).await?;
    let mut jobs = worker.subscribe(&topic, QoS::AtLeastOnce).await?;
    let (boss, _b) = Client::connect(target.options()?).await?;
    for n in 1..=4 {
        boss.publish(&topic, QoS::AtLeastOnce, false, format!("job {n}"))
            .await?
            .await?;
    }
    println!("4 jobs published to {topic}");

    let mut done = Vec::new();
    for _ in 0..3 {
        let m = next("a job", jobs.recv()).await?;
        println!("got {:?} (needs an ack: {})", text(&m), m.needs_ack());
        done.push(m);
    }
    // Acknowledge in any order: the PUBACKs still go out in arrival order, as MQTT requires.
    for m in done.iter_mut().rev() {
        m.ack();
        println!("handled and acknowledged {:?}", text(m));
    }
    // The fourth job is received but the worker "crashes" before finishing it: never
    // acknowledged.
    let unfinished = next("a job", jobs.recv()).await?;
    println!(
        "got {:?}, leaving without acknowledging it",
        text(&unfinished)
    );
    drop(unfinished);
    worker.disconnect(DRAIN).await?;

    let (worker, mut unrouted) = Client::connect(worker_options()?).await?;
    let mut again = next("the redelivered job", unrouted.recv()).await?;
    println!(
        "after reconnecting, the broker delivered {:?} again (DUP: {})",
        text(&again),
        again.dup()
    );
    if text(&again) != "job 4" {
        return Err(format!("expected job 4 again, got {:?}", text(&again)).into());
    }
    again.ack();
    println!("handled and acknowledged {:?}", text(&again));
    worker.disconnect(DRAIN).await?;
    boss.disconnect(DRAIN).await?;

    let (worker, _u) = Client::connect(target.options()?.with_client_id(&id)).await?;
    worker.disconnect(DRAIN).await?;
    target.finish().await;
    Ok(())
}

/// MQTT 5.0 request/response: a responder answers requests on its topic; a requester sends
/// requests with a Response Topic and Correlation Data and awaits each reply.
pub async fn request_response(args: Args) -> Result<(), Error> {
    const REQUESTS: [&str; 3] = ["2+3", "40+2", "two+three"];
    let target = Target::new(&args).await?;
    let service = format!("examples/{}/add", generated_client_id());

    let (server, _s) = Client::connect(target.options()?).await?;
    if !server.protocol().is_v5() {
        return Err("request/response needs MQTT 5.0".into());
    }
    let mut requests = server.subscribe(&service, QoS::AtLeastOnce).await?;
    println!("responder: serving {service}");
    let responder = tokio::spawn(async move {
        for _ in 0..REQUESTS.len() {
            let request = next("a request", requests.recv()).await?;
            let question = text(&request);
            let answer = match question.split_once('+') {
                Some((a, b)) => match (a.trim().parse::<i64>(), b.trim().parse::<i64>()) {
                    (Ok(a), Ok(b)) => (a + b).to_string(),
                    _ => format!("cannot add {question:?}"),
                },
                None => format!("not a sum: {question:?}"),
            };
            // respond() publishes to the request's Response Topic with its Correlation
            // Data; None if the request named no response topic.
            if let Some(sent) = respond(&server, &request, QoS::AtLeastOnce, answer).await? {
                sent.await?;
            }
        }
        server.disconnect(DRAIN).await?;
        Ok::<(), Error>(())
    });

    let (client, _c) = Client::connect(target.options()?).await?;
    let requester = client
        .requester(&format!("{service}/replies/{}", client.client_id()))
        .await?;
    for question in REQUESTS {
        let reply = tokio::time::timeout(
            PATIENCE,
            requester.request(&service, QoS::AtLeastOnce, question),
        )
        .await
        .map_err(|_| "no reply in time")??;
        println!("requester: {question} -> {}", text(&reply));
    }
    responder.await??;
    client.disconnect(DRAIN).await?;
    target.finish().await;
    Ok(())
}

/// Automatic reconnection: the connection is taken away (another connection with the same
/// client id takes the session over, which every broker answers by dropping the first),
/// the client reconnects with backoff and restores its subscription.
pub async fn reconnect(args: Args) -> Result<(), Error> {
    let target = Target::new(&args).await?;
    let id = generated_client_id();
    let topic = format!("examples/{id}/status");
    let mut policy = Reconnect::default();
    policy.min_delay = Duration::from_millis(50);
    policy.max_delay = Duration::from_secs(2);
    policy.max_attempts = Some(20);

    let (client, _unrouted) =
        Client::connect(target.options()?.with_client_id(&id).with_reconnect(policy)).await?;
    let mut sub = client.subscribe(&topic, QoS::AtLeastOnce).await?;
    println!("{id}: connected and subscribed to {topic}");

    // Print every status change until the client has stopped.
    let mut status = client.status();
    let watcher = tokio::spawn({
        let mut status = client.status();
        async move {
            while status.changed().await.is_ok() {
                let s = status.borrow_and_update().clone();
                match &s {
                    ConnectionStatus::Connected { session_present } => {
                        println!("status: connected (session present: {session_present})");
                    }
                    ConnectionStatus::Reconnecting {
                        attempt,
                        last_error,
                    } => println!("status: reconnecting, attempt {attempt} ({last_error})"),
                    ConnectionStatus::Disconnected { reason } => {
                        println!("status: disconnected ({reason:?})");
                        break;
                    }
                    other => println!("status: {other:?}"),
                }
            }
        }
    });

    // The intruder: same client id, no reconnection of its own.
    let mut intruder_policy = Reconnect::default();
    intruder_policy.enabled = false;
    let (intruder, _i) = Client::connect(
        target
            .options()?
            .with_client_id(&id)
            .with_reconnect(intruder_policy),
    )
    .await?;
    println!("a second connection with the same client id took the session over");
    // The first change is the loss of the connection; then wait until it is back.
    tokio::time::timeout(PATIENCE, status.changed())
        .await
        .map_err(|_| "the connection was not taken over")??;
    // The intruder leaves (it may already have been taken over in turn: then it is closed).
    let _ = intruder.disconnect(DRAIN).await;
    tokio::time::timeout(PATIENCE, status.wait_for(ConnectionStatus::is_connected))
        .await
        .map_err(|_| "no reconnection in time")??;

    // The subscription works again (restored if the broker lost the session).
    client
        .publish(&topic, QoS::AtLeastOnce, false, "back online")
        .await?
        .await?;
    let m = next("the message after reconnecting", sub.recv()).await?;
    println!("after reconnecting, received {:?}", text(&m));

    client.disconnect(DRAIN).await?;
    watcher.await?;
    target.finish().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Args>, String> {
        Args::parse(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn arguments() {
        assert_eq!(parse(&[]).unwrap(), Some(Args::default()));
        let a = parse(&["--url", "mqtts://h", "--ca", "ca.pem"])
            .unwrap()
            .unwrap();
        assert_eq!(a.url.as_deref(), Some("mqtts://h"));
        assert_eq!(a.ca, Some(PathBuf::from("ca.pem")));
        assert_eq!(parse(&["--help"]).unwrap(), None);
        assert!(parse(&["--url"]).is_err());
        assert!(parse(&["--nope"]).is_err());
    }
}
