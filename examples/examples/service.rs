//! A long-running service: takes jobs from a topic, publishes a result for each, survives
//! lost connections, and stops gracefully on Ctrl-C (or SIGTERM, as sent by systemd and
//! `docker stop`): it stops taking work, lets the jobs in hand finish, waits for their
//! results to be acknowledged, and disconnects, each step with a deadline.
//!
//! - A watch of the connection status prints `status: connected` / `status: reconnecting`.
//! - Reconnection is automatic (exponential backoff with jitter, forever); the first
//!   connection is retried a few times too, for a service started before its broker.
//! - A clean session: jobs published while the service is disconnected are not kept for
//!   it (`persistent_session.rs` shows how to have them kept).
//! - A retained `online` on `examples/service/status`, and a will saying `offline` if the
//!   service dies without disconnecting.
//!
//! What to expect by default: an in-process broker, and a producer sending a job every 50
//! ms. The broker cuts the service's first connection after half a second (fault injection
//! of the reference broker) to show a reconnection. The service runs until Ctrl-C, then
//! prints `stopping: no new jobs, N in flight`, `drained: N jobs finished` and
//! `disconnected`, and exits 0.
//!
//! Run it:
//!
//! ```text
//! cargo run -p examples --example service                 # an in-process broker; Ctrl-C stops
//! cargo run -p examples --example service -- --url mqtt://localhost:1883
//! ```
//!
//! Against mosquitto, send jobs and watch the results and the status (restart mosquitto
//! meanwhile to see the reconnection):
//!
//! ```text
//! mosquitto_pub -t examples/service/jobs -q 1 -m 'hello'
//! mosquitto_sub -t 'examples/service/#' -v
//! ```

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use mqtt_client::{
    Client, ConnectionStatus, Message, Options, QoS, Reconnect, TopicName, Will,
    generated_client_id,
};
use mqtt_testkit::Broker;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Anything that can go wrong, printed once by `main`.
type Error = Box<dyn std::error::Error + Send + Sync>;

const JOBS: &str = "examples/service/jobs";
const RESULTS: &str = "examples/service/results";
const STATUS: &str = "examples/service/status";
/// How long the jobs in hand may take to finish once a stop is asked for, and then how
/// long their results may take to be acknowledged.
const DRAIN: Duration = Duration::from_secs(5);
/// How long a job takes (the "work").
const WORK: Duration = Duration::from_millis(300);

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("service: error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Error> {
    let (mut url, mut id) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--url" => url = Some(value()?),
            "--id" => id = Some(value()?),
            _ => {
                return Err(
                    format!("unknown argument {arg:?} (usage: [--url URL] [--id ID])").into(),
                );
            }
        }
    }
    let id = id.unwrap_or_else(generated_client_id);

    // Without --url: an in-process broker that drops our first connection after 500 ms,
    // and a producer of jobs.
    let mut demo = None;
    let url = match url {
        Some(url) => url,
        None => {
            let broker = Broker::builder().start().await?;
            let url = format!("mqtt://{}", broker.local_addr());
            println!("started an in-process broker at {url}");
            broker
                .faults()
                .for_client(&id)
                .close_after_time(Duration::from_millis(500));
            let (stop_producer, stopped) = oneshot::channel();
            let producer = tokio::spawn(produce(url.clone(), stopped));
            demo = Some((broker, stop_producer, producer));
            url
        }
    };

    // Reconnect forever, waiting between 100 ms and 30 s (the defaults, spelled out).
    let mut reconnect = Reconnect::default();
    reconnect.min_delay = Duration::from_millis(100);
    reconnect.max_delay = Duration::from_secs(30);
    reconnect.max_attempts = None;
    // Published by the broker if we vanish without a DISCONNECT.
    let mut will = Will::new(TopicName::new(STATUS)?, "offline");
    will.qos = QoS::AtLeastOnce;
    will.retain = true;
    let options = Options::from_url(&url)?
        .with_client_id(&id)
        .with_keep_alive(Duration::from_secs(30))
        .with_reconnect(reconnect)
        .with_will(will);

    // The first connection is not retried by the client: retry it here, a few times.
    let mut delay = Duration::from_millis(200);
    let (client, _) = loop {
        match Client::connect(options.clone()).await {
            Ok(connected) => break connected,
            Err(e) if delay < Duration::from_secs(5) && !e.is_fatal_refusal() => {
                println!("cannot connect yet ({e}); retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => return Err(e.into()),
        }
    };
    println!("status: connected as {id}");

    // The status watch: print every change until the client stops for good. A watch holds
    // the latest value only, so changes in quick succession may be seen as one.
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
                    match reason {
                        None => println!("status: disconnected"),
                        Some(e) => println!("status: disconnected ({e})"),
                    }
                    break;
                }
                other => println!("status: {other:?}"),
            }
        }
    });

    client
        .publish(STATUS, QoS::AtLeastOnce, true, "online")
        .await?
        .await?;
    let mut jobs = client.subscribe(JOBS, QoS::AtLeastOnce).await?;

    // Ctrl-C (and SIGTERM): the handlers are installed here, before we say we are ready.
    let stop = shutdown_signal()?;
    tokio::pin!(stop);
    println!("ready: taking jobs from {JOBS}; Ctrl-C stops");

    let mut handlers = JoinSet::new();
    let mut done = 0_u64;
    loop {
        tokio::select! {
            () = &mut stop => break,
            job = jobs.recv() => match job {
                Some(job) => {
                    handlers.spawn(handle(client.clone(), job));
                }
                // The stream ends only when the client has stopped for good.
                None => return Err("the client stopped".into()),
            },
            Some(finished) = handlers.join_next() => {
                match finished? {
                    Ok(line) => {
                        done += 1;
                        println!("done: {line}");
                    }
                    Err(e) => println!("a job failed: {e}"),
                }
            }
        }
    }

    // 1. Stop taking work: the broker sends no more jobs once it has unsubscribed us.
    // Those it delivered before are ours (acknowledged on arrival): handle them too.
    match tokio::time::timeout(DRAIN, client.unsubscribe(JOBS)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => println!("unsubscribe failed ({e}); stopping anyway"),
        Err(_) => println!("no UNSUBACK within {DRAIN:?}; stopping anyway"),
    }
    while let Some(job) = jobs.try_recv() {
        handlers.spawn(handle(client.clone(), job));
    }
    println!("stopping: no new jobs, {} in flight", handlers.len());
    // 2. Let the jobs in hand finish (their results published and acknowledged), until a
    // deadline.
    let deadline = Instant::now() + DRAIN;
    let mut drained = 0;
    while let Ok(Some(finished)) = tokio::time::timeout_at(deadline, handlers.join_next()).await {
        match finished? {
            Ok(line) => {
                drained += 1;
                println!("done: {line}");
            }
            Err(e) => println!("a job failed: {e}"),
        }
    }
    if !handlers.is_empty() {
        println!("{} jobs abandoned at the deadline", handlers.len());
        handlers.abort_all();
    }
    println!(
        "drained: {drained} jobs finished ({} in all)",
        done + drained
    );
    // 3. Say goodbye, then disconnect: queued and in-flight publishes have DRAIN to be
    // acknowledged, then DISCONNECT (a clean one: the broker does not publish the will).
    client
        .publish(STATUS, QoS::AtLeastOnce, true, "offline")
        .await?
        .await?;
    client.disconnect(DRAIN).await?;
    watcher.await?;
    println!("disconnected");

    if let Some((broker, stop_producer, producer)) = demo {
        let _ = stop_producer.send(());
        producer.await??;
        broker.shutdown().await;
    }
    Ok(())
}

/// One job: the work, then its result published at QoS 1 (awaited until PUBACK, across a
/// reconnection if need be).
async fn handle(client: Client, job: Message) -> Result<String, Error> {
    let text = String::from_utf8_lossy(job.payload()).into_owned();
    tokio::time::sleep(WORK).await; // the work
    let result = text.to_uppercase();
    client
        .publish(RESULTS, QoS::AtLeastOnce, false, result.clone())
        .await?
        .await?;
    Ok(format!("{text} -> {result}"))
}

/// Resolves on Ctrl-C (SIGINT) or, on unix, SIGTERM. The signal handlers are installed when
/// this function is called, so a signal that comes before the future is polled counts.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => println!("SIGINT received"),
                _ = terminate.recv() => println!("SIGTERM received"),
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            if let Err(e) = tokio::signal::ctrl_c().await {
                println!("cannot listen for Ctrl-C ({e}); stopping");
            }
        })
    }
}

/// The demonstration's producer: a job every 50 ms until told to stop.
async fn produce(url: String, mut stop: oneshot::Receiver<()>) -> Result<(), Error> {
    let (producer, _) = Client::connect(Options::from_url(&url)?).await?;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    for n in 1_u64.. {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {
                // The handle is dropped, not awaited: the next job goes out on time
                // whatever the broker does (the publish goes ahead all the same).
                let job = producer.publish(JOBS, QoS::AtLeastOnce, false, format!("job {n}"));
                drop(job.await?);
            }
        }
    }
    producer.disconnect(DRAIN).await?;
    Ok(())
}
