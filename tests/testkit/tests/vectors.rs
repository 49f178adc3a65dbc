//! mosquitto's broker test vectors against the reference broker, over loopback TCP.
//!
//! The vectors live in `tests/vectors/mosquitto-broker/` (copied from mosquitto with their
//! licence; README.md there gives the provenance, says how a scenario runs and what the byte
//! notation means). This runner plays the client for every scenario, in file order, against
//! one broker started with `Broker::start()` (as mosquitto's harness runs one broker for the
//! whole suite), each scenario on a fresh connection (`vectors/client.rs`, which also
//! documents the one relaxation of byte-exact comparison). It prints a summary and fails if
//! any scenario fails that `vectors/DIFFERENCES.md` does not list as a deliberate
//! difference, or if a listed one no longer fails for its stated reason.
//!
//! `cargo test -p mqtt-testkit --test vectors -- --nocapture` shows the summary. Set
//! `VECTORS_VERBOSE=1` to list every deliberate difference as well, and `VECTORS_FILTER=text`
//! to run only the scenarios whose `FILE / group / name` contains `text`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    reason = "a test: it panics to fail and prints its summary"
)]

// The byte notation, one file shared by the client and broker vector runners.
#[path = "../../../tests/support/vector_notation.rs"]
mod notation;

// The summary and the final check, one file shared likewise.
#[path = "../../../tests/support/vector_summary.rs"]
mod summary;

mod vectors {
    pub(crate) mod client;
    pub(crate) mod differences;
    pub(crate) use super::notation;
    pub(crate) mod scenario;
}

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mqtt_testkit::Broker;
use vectors::client::{self, Run};
use vectors::differences::{self, CATEGORIES, Entry};
use vectors::scenario::{self, Scenario};

/// `tests/vectors/mosquitto-broker` of this crate.
fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/mosquitto-broker")
}

/// The scenario count README.md announces ("1,826 language-neutral scenarios ...").
fn announced_count(dir: &Path) -> Option<usize> {
    let readme = std::fs::read_to_string(dir.join("README.md")).ok()?;
    let (count, _) = readme.split_once(" language-neutral scenarios")?;
    let count = count.rsplit(char::is_whitespace).next()?;
    count.replace(',', "").parse().ok()
}

#[tokio::test]
async fn mosquitto_broker_vectors() {
    let dir = vectors_dir();
    assert!(
        dir.is_dir(),
        "mosquitto's broker vectors are missing: expected the directory {} (part of this \
         repository). Without it the vector runner cannot run; it does not pass silently.",
        dir.display()
    );
    let scenarios = scenario::load_dir(&dir).unwrap_or_else(|e| panic!("loading vectors: {e}"));
    if let Some(n) = announced_count(&dir) {
        assert_eq!(scenarios.len(), n, "README.md announces {n} scenarios");
    }
    let diff_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/DIFFERENCES.md");
    let entries = differences::load(&diff_path).unwrap_or_else(|e| panic!("DIFFERENCES.md: {e}"));

    let filter = std::env::var("VECTORS_FILTER").ok();
    let verbose = std::env::var_os("VECTORS_VERBOSE").is_some();
    let mut problems = Vec::new();
    for e in &entries {
        if !scenarios
            .iter()
            .any(|s| s.group == e.group && s.name == e.name)
        {
            problems.push(format!(
                "DIFFERENCES.md line {}: no scenario {:?} / {:?}",
                e.line, e.group, e.name
            ));
        }
    }

    let broker = Broker::start().await.expect("start the reference broker");
    let addr = broker.local_addr();
    let mut total = 0;
    let mut passed = 0;
    let mut relaxed: BTreeMap<&str, usize> = BTreeMap::new();
    let mut deliberate: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut failed = Vec::new();
    for sc in &scenarios {
        if filter
            .as_ref()
            .is_some_and(|f| !sc.id().contains(f.as_str()))
        {
            continue;
        }
        total += 1;
        let run = client::run(addr, sc).await;
        let listed: Vec<&Entry> = entries
            .iter()
            .filter(|e| e.group == sc.group && e.name == sc.name)
            .collect();
        match (&run.failure, listed.as_slice()) {
            (None, []) => {
                passed += 1;
                for r in &run.relaxed {
                    *relaxed.entry(r).or_default() += 1;
                }
            }
            (None, listed) => {
                passed += 1;
                for e in listed {
                    problems.push(format!(
                        "DIFFERENCES.md line {}: {} passes now; remove it from the list",
                        e.line,
                        sc.id()
                    ));
                }
            }
            (Some(_), []) => failed.push(report(sc, &run)),
            (Some(_), [entry]) => {
                let category = CATEGORIES.iter().find(|c| c.id == entry.category);
                if category.is_some_and(|c| c.accepts(&run, entry)) {
                    deliberate
                        .entry(category.map_or("", |c| c.id))
                        .or_default()
                        .push(sc.id());
                } else {
                    failed.push(format!(
                        "{}\n    listed as `{}` (DIFFERENCES.md line {}), but fails otherwise",
                        report(sc, &run),
                        entry.category,
                        entry.line
                    ));
                }
            }
            (Some(_), _) => problems.push(format!("{} is listed more than once", sc.id())),
        }
    }
    broker.shutdown().await;

    let categories: Vec<&str> = CATEGORIES.iter().map(|c| c.id).collect();
    summary::print_and_check(&summary::Summary {
        kind: "broker",
        dir: &dir,
        total,
        passed,
        relaxed: &relaxed,
        deliberate: &deliberate,
        categories: &categories,
        verbose,
        failed: &failed,
        problems: &problems,
    });
}

fn report(sc: &Scenario, run: &Run) -> String {
    let Some(f) = &run.failure else {
        return sc.id();
    };
    format!("{}\n    at {}: {}", sc.id(), f.step, f.kind)
}
