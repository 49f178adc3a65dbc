//! Deferred acknowledgements: a message is acknowledged only once it has been handled, so
//! a message the client received but never finished (the process crashed, say) is
//! delivered again by the broker.
//!
//! What to expect: four jobs are published; the worker receives them, handles and
//! acknowledges three, then "crashes" (disconnects) holding the fourth unacknowledged. It
//! comes back with the same session and the broker delivers `job 4` again (DUP set); this
//! time it is acknowledged. `manual_acks.rs` shows concurrent handling with manual acks.
//!
//! Run it:
//!
//! ```text
//! cargo run -p examples --example deferred_acks           # an in-process broker
//! cargo run -p examples --example deferred_acks -- --url mqtt://localhost:1883
//! ```

use std::process::ExitCode;
use std::time::Duration;

use mqtt_client::{Client, Message, Options, QoS, Subscription, generated_client_id};
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
            eprintln!("deferred_acks: error: {e}");
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
            // QoS 1 and 2 messages are acknowledged by Message::ack, not on arrival.
            .with_manual_acks(true)
            // A persistent session, so that the broker keeps what was not acknowledged.
            .with_clean_start(false)
            .with_session_expiry(600))
    };

    // The catch-all stream is kept (unread): a message no subscription took would wait
    // there unacknowledged rather than be acknowledged and discarded. None is expected.
    let (worker, _catch_all) = Client::connect(worker_options()?).await?;
    let mut jobs = worker.subscribe(&topic, QoS::AtLeastOnce).await?;
    let (boss, _) = Client::connect(Options::from_url(&url)?).await?;
    for n in 1..=4 {
        boss.publish(&topic, QoS::AtLeastOnce, false, format!("job {n}"))
            .await?
            .await?;
    }
    println!("4 jobs published to {topic}");

    let mut handled = Vec::new();
    for _ in 0..3 {
        let job = next_job(&mut jobs).await?;
        println!("got {:?} (needs an ack: {})", text(&job), job.needs_ack());
        handled.push(job);
    }
    // Acknowledge in any order: the PUBACKs still go out in arrival order, as MQTT requires.
    for job in handled.iter_mut().rev() {
        job.ack();
        println!("handled and acknowledged {:?}", text(job));
    }
    // The fourth job arrives, but the worker "crashes" before finishing it: it is dropped
    // without an ack, and the connection ends.
    let unfinished = next_job(&mut jobs).await?;
    println!(
        "got {:?}, leaving without acknowledging it",
        text(&unfinished)
    );
    drop(unfinished);
    worker.disconnect(DRAIN).await?;

    // Back with the same session: the broker sends the unacknowledged job again. No
    // subscribe call was made on this connection, so it arrives on the catch-all stream.
    let (worker, mut catch_all) = Client::connect(worker_options()?).await?;
    let mut again = match tokio::time::timeout(PATIENCE, catch_all.recv()).await {
        Ok(Some(m)) => m,
        Ok(None) => return Err("the client stopped".into()),
        Err(_) => return Err("the unacknowledged job was not delivered again".into()),
    };
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
    // Acknowledgements made before disconnect() go out before the DISCONNECT.
    worker.disconnect(DRAIN).await?;
    boss.disconnect(DRAIN).await?;

    // Clean up: a clean start ends the session.
    let (worker, _) = Client::connect(Options::from_url(&url)?.with_client_id(&id)).await?;
    worker.disconnect(DRAIN).await?;
    println!("done");
    if let Some(broker) = broker {
        broker.shutdown().await;
    }
    Ok(())
}

/// The next job, waiting at most PATIENCE.
async fn next_job(jobs: &mut Subscription) -> Result<Message, Error> {
    match tokio::time::timeout(PATIENCE, jobs.recv()).await {
        Ok(Some(m)) => Ok(m),
        Ok(None) => Err("the subscription ended".into()),
        Err(_) => Err(format!("no job within {PATIENCE:?}").into()),
    }
}

fn text(m: &Message) -> String {
    String::from_utf8_lossy(m.payload()).into_owned()
}
