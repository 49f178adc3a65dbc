//! Shared-subscription workers: N clients subscribe to `$share/GROUP/FILTER`, and the
//! broker hands each message to one member of the group only, so jobs are spread over the
//! workers and each is handled once.
//!
//! What to expect: 3 workers, 12 jobs; one line per job handled (by which worker), then the
//! count per worker and `12 jobs, each handled exactly once`. How the broker spreads the
//! jobs is its choice (round robin here; mosquitto also goes round robin).
//!
//! Run it:
//!
//! ```text
//! cargo run -p examples --example shared_workers          # an in-process broker
//! cargo run -p examples --example shared_workers -- --url mqtt://localhost:1883 --workers 4 --jobs 40
//! ```
//!
//! Shared subscriptions are MQTT 5.0 (mosquitto accepts them from 3.1.1 clients too). With
//! workers of your own running, `mosquitto_pub -t examples/<id>/jobs/x -q 1 -m hi` sends one
//! more job.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use mqtt_client::{Client, Options, QoS, generated_client_id};
use mqtt_testkit::Broker;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// Anything that can go wrong, printed once by `main`.
type Error = Box<dyn std::error::Error + Send + Sync>;

/// The longest we wait for the jobs to be handled.
const PATIENCE: Duration = Duration::from_secs(10);
/// How long a disconnect may take to let what is in flight be acknowledged.
const DRAIN: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shared_workers: error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Error> {
    let (mut url, mut workers, mut jobs) = (None, 3_usize, 12_usize);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--url" => url = Some(value()?),
            "--workers" => workers = value()?.parse()?,
            "--jobs" => jobs = value()?.parse()?,
            _ => {
                return Err(format!(
                    "unknown argument {arg:?} (usage: [--url URL] [--workers N] [--jobs N])"
                )
                .into());
            }
        }
    }
    if workers == 0 {
        return Err("--workers must be at least 1".into());
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

    let run_id = generated_client_id();
    let jobs_topic = format!("examples/{run_id}/jobs");
    // `$share/<group>/<filter>`: every subscriber with the same group name shares the
    // messages matching the filter.
    let shared_filter = format!("$share/workers/{jobs_topic}/#");

    // Each worker: its own client, its own subscription to the shared filter. What it
    // handles goes to `handled` (worker number, job).
    let (handled_tx, mut handled) = mpsc::unbounded_channel::<(usize, String)>();
    let mut clients = Vec::new();
    let mut tasks = JoinSet::new();
    for worker in 1..=workers {
        let (client, _) = Client::connect(Options::from_url(&url)?).await?;
        let mut messages = client.subscribe(&shared_filter, QoS::AtLeastOnce).await?;
        let handled_tx = handled_tx.clone();
        tasks.spawn(async move {
            // Until the subscription ends, when the client disconnects.
            while let Some(message) = messages.recv().await {
                let job = String::from_utf8_lossy(message.payload()).into_owned();
                println!("worker {worker} handled {job}");
                if handled_tx.send((worker, job)).is_err() {
                    break;
                }
            }
        });
        clients.push(client);
    }
    drop(handled_tx);
    println!("{workers} workers subscribed to {shared_filter}");

    // The producer: publishes the jobs, at QoS 1 so none is lost on the way.
    let (producer, _) = Client::connect(Options::from_url(&url)?).await?;
    for n in 1..=jobs {
        producer
            .publish(
                format!("{jobs_topic}/{n}"),
                QoS::AtLeastOnce,
                false,
                format!("job {n}"),
            )
            .await?
            .await?;
    }
    println!("published {jobs} jobs to {jobs_topic}/...");

    // Collect who handled what, and check that each job was handled once.
    let mut per_worker = BTreeMap::new();
    let mut seen = BTreeMap::new();
    let collect = async {
        while seen.len() < jobs {
            let Some((worker, job)) = handled.recv().await else {
                break;
            };
            *per_worker.entry(worker).or_insert(0_usize) += 1;
            *seen.entry(job).or_insert(0_usize) += 1;
        }
    };
    if tokio::time::timeout(PATIENCE, collect).await.is_err() {
        return Err(format!(
            "only {} of {jobs} jobs handled within {PATIENCE:?}",
            seen.len()
        )
        .into());
    }

    producer.disconnect(DRAIN).await?;
    for client in clients {
        client.disconnect(DRAIN).await?;
    }
    // Disconnecting ended each worker's subscription, so each task ends.
    while let Some(result) = tasks.join_next().await {
        result?;
    }
    // Anything handled after the last new job was seen would be a job handled twice.
    while let Ok((worker, job)) = handled.try_recv() {
        *per_worker.entry(worker).or_insert(0_usize) += 1;
        *seen.entry(job).or_insert(0_usize) += 1;
    }
    for (worker, count) in &per_worker {
        println!("worker {worker}: {count} jobs");
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    if !twice.is_empty() {
        return Err(format!("handled more than once: {twice:?}").into());
    }
    println!("{jobs} jobs, each handled exactly once");
    if let Some(broker) = broker {
        broker.shutdown().await;
    }
    Ok(())
}
