//! Manual acknowledgements with concurrent handling: jobs are handled by up to 3 tasks at
//! once and each message is acknowledged when its handler is done, not when it arrives, so
//! a job the process did not finish is not lost.
//!
//! What to expect: 6 jobs, each taking a different time, finish out of order and are
//! acknowledged as they finish (the client still sends the PUBACKs in arrival order, as MQTT
//! requires). `job 4` cannot be handled: it is reported and acknowledged anyway, since a
//! message that always fails would otherwise come back forever. Then the worker reconnects
//! to its session and the first message it gets is a new one: nothing came back, so every
//! acknowledgement reached the broker. `deferred_acks.rs` shows what happens to a message
//! that is never acknowledged.
//!
//! Run it:
//!
//! ```text
//! cargo run -p examples --example manual_acks             # an in-process broker
//! cargo run -p examples --example manual_acks -- --url mqtt://localhost:1883
//! ```

use std::process::ExitCode;
use std::time::Duration;

use mqtt_client::{Client, Message, Options, QoS, generated_client_id};
use mqtt_testkit::Broker;
use tokio::task::JoinSet;

/// Anything that can go wrong, printed once by `main`.
type Error = Box<dyn std::error::Error + Send + Sync>;

/// The longest we wait for a message.
const PATIENCE: Duration = Duration::from_secs(10);
/// How long a disconnect may take to let what is in flight be acknowledged.
const DRAIN: Duration = Duration::from_secs(5);
/// Jobs handled at once.
const CONCURRENCY: usize = 3;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("manual_acks: error: {e}");
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
    let topic = format!("examples/{id}/jobs");
    let worker_options = || -> Result<Options, Error> {
        Ok(Options::from_url(&url)?
            .with_client_id(&id)
            // QoS 1 and 2 messages are acknowledged by Message::ack only.
            .with_manual_acks(true)
            // Keep the session, so that what was not acknowledged is delivered again.
            .with_clean_start(false)
            .with_session_expiry(600))
    };
    // The catch-all stream is kept (unread): a message no subscription took would wait
    // there unacknowledged rather than be acknowledged and discarded. None is expected.
    let (worker, _catch_all) = Client::connect(worker_options()?).await?;
    let mut jobs = worker.subscribe(&topic, QoS::AtLeastOnce).await?;

    // Six jobs: "job N: MILLISECONDS of work"; job 4's is not a number.
    let (producer, _) = Client::connect(Options::from_url(&url)?).await?;
    let work = ["60", "20", "40", "oops", "10", "30"];
    for (n, ms) in work.iter().enumerate() {
        let payload = format!("job {}: {ms}", n + 1);
        producer
            .publish(&topic, QoS::AtLeastOnce, false, payload)
            .await?
            .await?;
    }
    println!("published {} jobs to {topic}", work.len());

    let mut handlers = JoinSet::new();
    for _ in 0..work.len() {
        // Bounded concurrency: wait for a handler to finish before taking more work.
        if handlers.len() >= CONCURRENCY {
            report(handlers.join_next().await)?;
        }
        let message = match tokio::time::timeout(PATIENCE, jobs.recv()).await {
            Ok(Some(m)) => m,
            Ok(None) => return Err("the subscription ended".into()),
            Err(_) => return Err(format!("no job within {PATIENCE:?}").into()),
        };
        println!("received {:?}", String::from_utf8_lossy(message.payload()));
        handlers.spawn(handle(message));
    }
    while let Some(done) = handlers.join_next().await {
        report(Some(done))?;
    }

    // Prove that every acknowledgement reached the broker: leave, come back to the same
    // session and publish one more message. A job not acknowledged would be delivered
    // again before it.
    worker.disconnect(DRAIN).await?;
    let (worker, mut catch_all) = Client::connect(worker_options()?).await?;
    producer
        .publish(&topic, QoS::AtLeastOnce, false, "after the restart")
        .await?
        .await?;
    let mut first = match tokio::time::timeout(PATIENCE, catch_all.recv()).await {
        Ok(Some(m)) => m,
        Ok(None) => return Err("the client stopped".into()),
        Err(_) => return Err(format!("no message within {PATIENCE:?}").into()),
    };
    let text = String::from_utf8_lossy(first.payload()).into_owned();
    first.ack();
    if text != "after the restart" {
        return Err(format!("{text:?} was delivered again: its acknowledgement was lost").into());
    }
    println!("back in the session, the first message is {text:?}: nothing was delivered again");

    producer.disconnect(DRAIN).await?;
    worker.disconnect(DRAIN).await?;
    // Clean up: a clean start ends the session.
    let (worker, _) = Client::connect(Options::from_url(&url)?.with_client_id(&id)).await?;
    worker.disconnect(DRAIN).await?;
    if let Some(broker) = broker {
        broker.shutdown().await;
    }
    Ok(())
}

/// Handle one job, then acknowledge it. A job that cannot be handled is reported and
/// acknowledged too: sent again, it would fail again.
async fn handle(mut message: Message) -> Result<String, String> {
    let job = String::from_utf8_lossy(message.payload()).into_owned();
    let outcome = match job.split_once(": ").map(|(_, ms)| ms.parse::<u64>()) {
        Some(Ok(ms)) => {
            // The work itself.
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(format!("finished {job:?}"))
        }
        _ => Err(format!("cannot handle {job:?}: not a duration")),
    };
    message.ack();
    outcome
}

/// Print how a handler ended; an error only if the handler task itself failed (panicked).
fn report(
    done: Option<Result<Result<String, String>, tokio::task::JoinError>>,
) -> Result<(), Error> {
    match done {
        Some(Ok(Ok(what))) => println!("{what}, acknowledged"),
        Some(Ok(Err(why))) => println!("{why}; acknowledged anyway"),
        Some(Err(e)) => return Err(e.into()),
        None => {}
    }
    Ok(())
}
