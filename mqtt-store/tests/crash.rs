//! The file store survives its process being killed (issue 12, "Tests"): a writer process
//! (this test binary, run again as the ignored test `crash_writer_child`) commits batches in
//! a loop and prints the number of each commit once `commit` has returned; the test kills it
//! with SIGKILL at a random moment, 20 times per durability mode, reopening the store each
//! time. The store must open, and hold exactly the session of some commit `k`: every commit
//! that returned (`k >= last printed`; for `OsBuffered` too, since a killed process loses
//! nothing the OS already has), at most the one in progress (`k <= last printed + 1`), and
//! nothing of a commit half done. The writer resumes from what it finds, so each run starts
//! on a store that a kill has already interrupted.
//!
//! This is the crash safety of the store alone; the end-to-end crash test through brokers
//! comes with the driver.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use mqtt_proto::client::RequestId;
use mqtt_proto::{QoS, SubscribeFilter, SubscribeProperties, TopicFilter};
use mqtt_store::{Durability, FileStore, MemoryStore, SessionChange, SessionStore};

use common::{Scratch, meta, pid, request};

const KILLS: u32 = 20;

/// The changes of commit `n` (1, 2, ...): the session's expiry interval records `n`.
fn commit(n: u64) -> Vec<SessionChange> {
    let id = RequestId::new;
    let mut c = vec![SessionChange::Meta(meta(n as u32))];
    let mut req = request(
        n,
        if n.is_multiple_of(2) {
            QoS::ExactlyOnce
        } else {
            QoS::AtLeastOnce
        },
    );
    if n.is_multiple_of(10) {
        // Some commits span many pages.
        req.payload = vec![(n % 251) as u8; 100_000].into();
    }
    c.push(SessionChange::PublishAccepted {
        id: id(n),
        request: req,
    });
    if n > 1 {
        c.push(SessionChange::PublishSent {
            id: id(n - 1),
            packet_id: pid(((n - 1) % 65_535 + 1) as u16),
            seq: n - 1,
        });
    }
    if n > 6 {
        c.push(SessionChange::Completed { id: id(n - 6) });
    }
    c.push(SessionChange::InboundQos2Held {
        packet_id: pid((n % 40 + 1) as u16),
    });
    c.push(SessionChange::InboundQos2Released {
        packet_id: pid(((n + 20) % 40 + 1) as u16),
    });
    if n.is_multiple_of(7) {
        c.push(SessionChange::Subscribed {
            subscriptions: vec![SubscribeFilter::new(
                TopicFilter::new(format!("cmd/{}", n % 5)).unwrap(),
                QoS::AtLeastOnce,
            )],
            properties: SubscribeProperties::default(),
        });
    }
    c
}

fn durability_of(name: &str) -> Durability {
    match name {
        "fsync" => Durability::Fsync,
        _ => Durability::OsBuffered,
    }
}

/// The writer: run only as a child of the tests below.
#[test]
#[ignore = "run by the crash tests as a child process"]
fn crash_writer_child() {
    let (Some(path), Some(mode)) = (
        std::env::var_os("MQTT_STORE_CRASH_PATH"),
        std::env::var("MQTT_STORE_CRASH_MODE").ok(),
    ) else {
        return;
    };
    let mut store = FileStore::open(&path, durability_of(&mode)).unwrap();
    let mut n = match store.load().unwrap() {
        None => {
            store.commit(&[SessionChange::New(meta(0))]).unwrap();
            0
        }
        Some(s) => u64::from(s.meta.expiry_interval),
    };
    let mut out = std::io::stdout().lock();
    loop {
        n += 1;
        store.commit(&commit(n)).unwrap();
        writeln!(out, "committed {n}").unwrap();
        out.flush().unwrap();
    }
}

fn killed_mid_commit(mode: &str) {
    let scratch = Scratch::new(&format!("crash-{mode}"));
    let path = scratch.path("session.db");
    // The expected session after each commit, replayed in memory.
    let mut model = MemoryStore::new();
    model.commit(&[SessionChange::New(meta(0))]).unwrap();
    let mut replayed = 0u64;
    // A fixed pseudo-random sequence of kill moments: the same delays every run.
    let mut seed = 0x2545_f491_4f6c_dd1d_u64 ^ u64::from(mode.len() as u32);
    let mut kills_mid_run = 0;
    for run in 0..KILLS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["crash_writer_child", "--exact", "--ignored", "--nocapture"])
            .args(["--test-threads", "1"])
            .env("MQTT_STORE_CRASH_PATH", &path)
            .env("MQTT_STORE_CRASH_MODE", mode)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("committed ") {
                    let _ = tx.send(n.parse::<u64>().unwrap());
                }
            }
        });
        // Wait for the writer's first commit, then kill it at a random moment.
        let first = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the writer commits");
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_micros(seed % 40_000));
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success(), "the writer was killed");
        reader.join().unwrap();
        let last = rx.try_iter().last().unwrap_or(first);

        let mut store = FileStore::open(&path, durability_of(mode))
            .unwrap_or_else(|e| panic!("run {run}: the store does not open: {e}"));
        let s = store
            .load()
            .unwrap_or_else(|e| panic!("run {run}: the store does not load: {e}"))
            .expect("a session");
        let k = u64::from(s.meta.expiry_interval);
        assert!(
            (last..=last + 1).contains(&k),
            "run {run}: commit {last} returned, the store holds commit {k}"
        );
        if k == last + 1 {
            kills_mid_run += 1;
        }
        while replayed < k {
            replayed += 1;
            model.commit(&commit(replayed)).unwrap();
        }
        assert_eq!(
            Some(s),
            model.load().unwrap(),
            "run {run}: the store is not the session of commit {k}"
        );
    }
    // Not an assertion on timing: kills land anywhere; this only shows the runs did work.
    assert!(
        replayed > u64::from(KILLS),
        "{replayed} commits in {KILLS} runs"
    );
    println!(
        "{mode}: {KILLS} kills, {replayed} commits, {kills_mid_run} kills after a commit was \
         durable but before it was reported"
    );
}

#[test]
fn killed_mid_commit_the_store_holds_a_prefix_of_the_commits_fsync() {
    killed_mid_commit("fsync");
}

#[test]
fn killed_mid_commit_the_store_holds_a_prefix_of_the_commits_os_buffered() {
    killed_mid_commit("os-buffered");
}
