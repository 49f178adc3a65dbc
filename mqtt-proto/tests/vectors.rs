//! mosquitto's client test vectors against [`ClientState`](mqtt_proto::client::ClientState).
//!
//! The vectors live in `tests/vectors/mosquitto-client/` (copied from mosquitto with their
//! licence; README.md there gives the provenance, says how a scenario runs and what the byte
//! notation means). This runner plays the broker for every
//! scenario, each against a fresh client (`vectors/broker.rs`, which also documents the one
//! relaxation of byte-exact comparison), prints a summary, and fails if any scenario fails
//! that `vectors/DIFFERENCES.md` does not list as a deliberate difference, or if a listed one
//! no longer fails for its stated reason.
//!
//! `cargo test -p mqtt-proto --test vectors -- --nocapture` shows the summary. Set
//! `VECTORS_VERBOSE=1` to list every deliberate difference as well, and `VECTORS_FILTER=text`
//! to run only the scenarios whose `FILE / group / name` contains `text`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::result_large_err,
    reason = "a test: it panics to fail, prints its summary, and carries packets in its reports"
)]

// The byte notation, one file shared by the client and broker vector runners.
#[path = "../../tests/support/vector_notation.rs"]
mod notation;

// The summary and the final check, one file shared likewise.
#[path = "../../tests/support/vector_summary.rs"]
mod summary;

mod vectors {
    pub(crate) mod broker;
    pub(crate) mod differences;
    pub(crate) use super::notation;
    pub(crate) mod scenario;
}

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vectors::broker::{self, Run};
use vectors::differences::{self, CATEGORIES, Entry};
use vectors::scenario::{self, Scenario};

/// `tests/vectors/mosquitto-client` of this crate.
fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/mosquitto-client")
}

/// The scenario count README.md announces ("1,523 language-neutral scenarios ...").
fn announced_count(dir: &Path) -> Option<usize> {
    let readme = std::fs::read_to_string(dir.join("README.md")).ok()?;
    let (count, _) = readme.split_once(" language-neutral scenarios")?;
    let count = count.rsplit(char::is_whitespace).next()?;
    count.replace(',', "").parse().ok()
}

#[test]
fn mosquitto_client_vectors() {
    let dir = vectors_dir();
    assert!(
        dir.is_dir(),
        "mosquitto's client vectors are missing: expected the directory {} (part of this \
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
        let run = broker::run(sc);
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
                if category.is_some_and(|c| c.accepts(sc, &run, entry)) {
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

    let categories: Vec<&str> = CATEGORIES.iter().map(|c| c.id).collect();
    summary::print_and_check(&summary::Summary {
        kind: "client",
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
    format!(
        "{}\n    at {}: {}\n    the client's close: {:?}",
        sc.id(),
        f.step,
        f.detail,
        run.close
    )
}
