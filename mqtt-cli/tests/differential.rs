//! Differential tests: the same scenario through `mosquitto_pub` / `mosquitto_sub` 2.0.11 and
//! through `mqpub` / `mqsub`, against the same mosquitto broker (one per test, on a free
//! loopback port). stdout, stderr and the exit status must agree after normalising generated
//! client ids, ports, timestamps and the tool names, except for the deliberate deviations
//! D1–D16 of `DIFFERENCES.md`, each applied explicitly where a test meets it.
//!
//! A few scenarios need a broker that mosquitto is not: a scripted one (a thread answering
//! CONNECT with fixed bytes, or never), and aedes (`tests/brokers/aedes`, 3.1.1 only).
//!
//! Subscribers are started with `-C N` (so they end by themselves) and publishing starts only
//! once the broker has logged their SUBACK (`log_type all` on the broker's stderr); every
//! wait is bounded, and a child still running at its deadline is killed.
//!
//! When mosquitto, mosquitto_pub or mosquitto_sub (or, for its test, node or aedes) is
//! missing these tests print a notice and pass; with `MQTT_INTEROP=require` they fail
//! instead (the convention of `tests/testkit/tests/interop.rs`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs,
    unreachable_pub
)]

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mqtt_testkit::external::{self, Aedes, ClosedPort, mosquitto_binary, or_skip, tools};
use mqtt_testkit::script::ScriptedBroker;

mod common;

use common::{MQPUB, MQSUB, Out, Proc, TempDir, run};

// ---------------------------------------------------------------------------------------------
// Environment
// ---------------------------------------------------------------------------------------------

fn on_path(prog: &str) -> bool {
    tools(&[prog]).is_ok()
}

/// Whether the mosquitto broker and clients can be run; when they cannot, the rule of
/// `mqtt_testkit::external::or_skip` (a failure under `MQTT_INTEROP=require`).
fn available(test: &str) -> bool {
    let found = mosquitto_binary().and_then(|_| tools(&["mosquitto_pub", "mosquitto_sub"]));
    or_skip(test, found).is_some()
}

// ---------------------------------------------------------------------------------------------
// The broker
// ---------------------------------------------------------------------------------------------

/// A mosquitto broker (`mqtt_testkit::external`) logging everything (`log_type all`), so
/// that a test can wait for the SUBACKs it sent; killed on drop.
struct Mosquitto(external::Mosquitto);

impl Mosquitto {
    fn start() -> Self {
        Self::start_with("allow_anonymous true\n")
    }

    /// With these configuration lines (after `available` said mosquitto is there).
    fn start_with(extra: &str) -> Self {
        let builder = extra.lines().fold(
            external::Mosquitto::builder().config_line("log_type all"),
            |b, l| b.config_line(l),
        );
        Self(builder.start().expect("mosquitto is available"))
    }

    fn port(&self) -> String {
        self.0.port().to_string()
    }

    /// Wait until the broker has sent `n` SUBACKs in total (so the subscriptions are in place).
    fn wait_subacks(&self, n: usize) {
        self.0.log().wait_count("Sending SUBACK to", n);
    }

    fn subacks(&self) -> usize {
        self.0.log().count("Sending SUBACK to")
    }
}

// ---------------------------------------------------------------------------------------------
// Children
// ---------------------------------------------------------------------------------------------

/// Which implementation runs a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Imp {
    Mosquitto,
    Ours,
}

const BOTH: [Imp; 2] = [Imp::Mosquitto, Imp::Ours];

impl Imp {
    fn publisher(self) -> &'static str {
        match self {
            Imp::Mosquitto => "mosquitto_pub",
            Imp::Ours => MQPUB,
        }
    }

    fn subscriber(self) -> &'static str {
        match self {
            Imp::Mosquitto => "mosquitto_sub",
            Imp::Ours => MQSUB,
        }
    }
}

/// `-h 127.0.0.1 -p PORT` followed by `rest`.
fn at<'a>(port: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["-h", "127.0.0.1", "-p", port];
    v.extend_from_slice(rest);
    v
}

// ---------------------------------------------------------------------------------------------
// Normalisation
// ---------------------------------------------------------------------------------------------

/// Replace every `prefix` + `len` characters accepted by `ok` with `with`.
fn replace_token(s: &str, prefix: &str, len: usize, ok: fn(char) -> bool, with: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(prefix) {
        out.push_str(&rest[..i]);
        let after = &rest[i + prefix.len()..];
        let taken: String = after.chars().take(len).collect();
        if taken.chars().count() == len && taken.chars().all(ok) {
            out.push_str(with);
            rest = &after[taken.len()..];
        } else {
            out.push_str(prefix);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Normalise one output: tool names, generated ids (D14: ours are real, mosquitto's
/// `(null)` / `auto-…`), the broker's port and JSON timestamps (D1 is handled by the
/// placeholder too).
fn norm(s: &str, port: &str) -> String {
    let s = s
        .replace("mosquitto_pub", "mqpub")
        .replace("mosquitto_sub", "mqsub")
        .replace("Client (null) ", "Client <id> ");
    let s = replace_token(&s, "mqpub-", 8, |c| c.is_ascii_alphanumeric(), "<id>");
    let s = replace_token(&s, "mqsub-", 8, |c| c.is_ascii_alphanumeric(), "<id>");
    let s = replace_token(
        &s,
        "auto-",
        36,
        |c| c.is_ascii_hexdigit() || c == '-',
        "<id>",
    );
    let s = replace_token(
        &s,
        "\"tst\":",
        1,
        |c| c == '"' || c == '\t',
        "\"tst\":<tst>",
    );
    // `"tst":<tst>` is followed by the rest of the old value: drop it up to the closing quote.
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some(i) = rest.find("\"tst\":<tst>") {
        out.push_str(&rest[..i + "\"tst\":<tst>".len()]);
        let after = &rest[i + "\"tst\":<tst>".len()..];
        let after = after.trim_start_matches('"');
        let end = after.find('"').map_or(after.len(), |e| e + 1);
        rest = &after[end..];
    }
    out.push_str(rest);
    if port.is_empty() {
        out
    } else {
        out.replace(port, "<port>")
    }
}

fn norm_out(o: &Out, port: &str) -> Out {
    Out {
        code: o.code,
        stdout: norm(&o.stdout, port),
        stderr: norm(&o.stderr, port),
    }
}

/// The lines of `s`, sorted (for output whose order is the broker's or a race's).
fn sorted(s: &str) -> String {
    let mut lines: Vec<&str> = s.lines().collect();
    lines.sort_unstable();
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Split a `-d` run's stdout into (debug lines sorted, message lines in order).
fn split_debug(s: &str) -> (String, String) {
    let (debug, messages): (Vec<&str>, Vec<&str>) = s
        .lines()
        .partition(|l| l.starts_with("Client ") || l.starts_with("Subscribed (mid"));
    (sorted(&debug.join("\n")), messages.join("\n"))
}

/// Like [`assert_same`] for `-d` runs of mqsub, where the interleaving of the `-d` lines
/// with the messages differs: mosquitto_sub prints each message right after its own
/// packets; mqsub's `-d` lines come from the connection task, which may handle several
/// packets before the message is printed (reported as a difference). The `-d` lines are
/// compared as a set, the messages in order.
#[track_caller]
fn assert_same_debug(what: &str, theirs: &Out, ours: &Out, port: &str) {
    let (t, o) = (norm_out(theirs, port), norm_out(ours, port));
    assert_eq!(
        (t.code, &t.stderr),
        (o.code, &o.stderr),
        "{what}: {theirs:#?}\n{ours:#?}"
    );
    assert_eq!(
        split_debug(&t.stdout),
        split_debug(&o.stdout),
        "{what}: {theirs:#?}\n{ours:#?}"
    );
}

#[track_caller]
fn assert_same(what: &str, theirs: &Out, ours: &Out, port: &str) {
    let (t, o) = (norm_out(theirs, port), norm_out(ours, port));
    assert_eq!(
        t, o,
        "{what}: mosquitto (left) and ours (right) differ\nraw mosquitto: {theirs:#?}\nraw ours: {ours:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Scenario helpers
// ---------------------------------------------------------------------------------------------

/// Start mosquitto_sub and mqsub with the same arguments, wait until both are subscribed, run
/// `publish`, then collect both.
fn both_subscribers(broker: &Mosquitto, args: &[&str], publish: impl FnOnce()) -> (Out, Out) {
    let port = broker.port();
    let argv = at(&port, args);
    let before = broker.subacks();
    let theirs = Proc::spawn(Imp::Mosquitto.subscriber(), &argv, None);
    let ours = Proc::spawn(Imp::Ours.subscriber(), &argv, None);
    broker.wait_subacks(before + 2);
    publish();
    (theirs.wait(), ours.wait())
}

/// Publish with mosquitto_pub (must succeed).
fn mpub(broker: &Mosquitto, args: &[&str]) {
    let port = broker.port();
    let out = run("mosquitto_pub", &at(&port, args), None);
    assert_eq!(out.code, Some(0), "mosquitto_pub {args:?}: {out:?}");
}

/// Run one publisher (`imp`) while an observing mosquitto_sub prints what arrives on `filter`
/// (`-C count`, `%t|%q|%r|%l|%p`, `-d` off); returns (publisher, observer).
fn observed_publish(
    broker: &Mosquitto,
    imp: Imp,
    filter: &str,
    count: &str,
    pub_args: &[&str],
    stdin: Option<&[u8]>,
) -> (Out, Out) {
    let port = broker.port();
    let before = broker.subacks();
    let observer = Proc::spawn(
        "mosquitto_sub",
        &at(
            &port,
            &["-t", filter, "-q", "2", "-C", count, "-F", "%t|%q|%r|%l|%p"],
        ),
        None,
    );
    broker.wait_subacks(before + 1);
    let publisher = run(imp.publisher(), &at(&port, pub_args), stdin);
    (publisher, observer.wait())
}

/// [`observed_publish`] for both implementations, compared.
fn compare_publish(
    broker: &Mosquitto,
    what: &str,
    filter: &str,
    count: &str,
    pub_args: &[&str],
    stdin: Option<&[u8]>,
) {
    let port = broker.port();
    let (tp, to) = observed_publish(broker, Imp::Mosquitto, filter, count, pub_args, stdin);
    let (op, oo) = observed_publish(broker, Imp::Ours, filter, count, pub_args, stdin);
    assert_same(&format!("{what} (publisher)"), &tp, &op, &port);
    assert_same(&format!("{what} (observer)"), &to, &oo, &port);
    assert_eq!(tp.code, Some(0), "{what}: {tp:?}");
}

// ---------------------------------------------------------------------------------------------
// mqsub
// ---------------------------------------------------------------------------------------------

#[test]
fn sub_verbose_all_topics() {
    if !available("sub_verbose_all_topics") {
        return;
    }
    let b = Mosquitto::start();
    let (t, o) = both_subscribers(&b, &["-t", "#", "-v", "-C", "4"], || {
        mpub(&b, &["-t", "a/b", "-m", "hello"]);
        mpub(&b, &["-t", "a/c", "-n"]);
        mpub(&b, &["-t", "x/y/z", "-m", "two words", "-q", "1"]);
        mpub(&b, &["-t", "sensor", "-m", "25", "-q", "2"]);
    });
    assert_same("-t '#' -v -C 4", &t, &o, &b.port());
    assert_eq!(
        o.stdout,
        "a/b hello\na/c (null)\nx/y/z two words\nsensor 25\n"
    );
    assert_eq!(o.code, Some(0));
}

#[test]
fn sub_default_mode_and_no_newline() {
    if !available("sub_default_mode_and_no_newline") {
        return;
    }
    let b = Mosquitto::start();
    // Default mode prints nothing for an empty payload but counts it for -C.
    let (t, o) = both_subscribers(&b, &["-t", "d/#", "-C", "3"], || {
        mpub(&b, &["-t", "d/1", "-m", "one"]);
        mpub(&b, &["-t", "d/2", "-n"]);
        mpub(&b, &["-t", "d/3", "-m", "three"]);
    });
    assert_same("default mode", &t, &o, &b.port());
    assert_eq!(o.stdout, "one\nthree\n");
    let (t, o) = both_subscribers(&b, &["-t", "n/#", "-v", "-N", "-C", "2"], || {
        mpub(&b, &["-t", "n/1", "-m", "one"]);
        mpub(&b, &["-t", "n/2", "-m", "two"]);
    });
    assert_same("-v -N", &t, &o, &b.port());
    assert_eq!(o.stdout, "n/1 onen/2 two");
}

#[test]
fn sub_format_codes() {
    if !available("sub_format_codes") {
        return;
    }
    let b = Mosquitto::start();
    let fmt = "%t %p|[%10t][%-10t][%.3t][%05l][%-5l]|%q %r %m|%x|%X|%%|\\t|@@";
    let (t, o) = both_subscribers(&b, &["-t", "f/#", "-q", "1", "-F", fmt, "-C", "3"], || {
        mpub(&b, &["-t", "f/ab", "-m", "xyz", "-q", "1"]);
        mpub(&b, &["-t", "f/empty", "-n"]);
        mpub(&b, &["-t", "f/hex", "-m", "\u{1}AZ", "-q", "2"]);
    });
    assert_same("-F codes", &t, &o, &b.port());
    assert!(
        o.stdout.starts_with(
            "f/ab xyz|[      f/ab][f/ab      ][f/a][00003][3    ]|1 0 1|78797a|78797A|%|\t|@\n"
        ),
        "{o:?}"
    );
    let (t, o) = both_subscribers(&b, &["-t", "g/#", "-F", "%t %p", "-C", "1"], || {
        mpub(&b, &["-t", "g/1", "-m", "payload text"]);
    });
    assert_same("-F '%t %p'", &t, &o, &b.port());
    assert_eq!(o.stdout, "g/1 payload text\n");
}

#[test]
fn sub_json_and_pretty() {
    if !available("sub_json_and_pretty") {
        return;
    }
    let b = Mosquitto::start();
    // D1 (no stray `Z` in tst) disappears under the tst placeholder.
    let (t, o) = both_subscribers(&b, &["-t", "j/#", "-q", "2", "-F", "%j", "-C", "3"], || {
        mpub(
            &b,
            &["-t", "j/json", "-m", "{\"temperature\":27.0}", "-q", "1"],
        );
        mpub(&b, &["-t", "j/empty", "-n"]);
        mpub(&b, &["-t", "j/esc", "-m", "a\"b\\c\td", "-q", "2", "-r"]);
    });
    assert_same("-F %j", &t, &o, &b.port());
    // D1: mosquitto 2.0.11 writes `…uuuuuuZ+0000`, we write `…uuuuuu+0000`.
    assert!(t.stdout.contains("Z+") || t.stdout.contains("Z-"), "{t:?}");
    assert!(
        !o.stdout.contains("Z+") && !o.stdout.contains("Z-"),
        "{o:?}"
    );
    let (t, o) = both_subscribers(
        &b,
        &["-t", "p/#", "-q", "1", "-F", "%j", "--pretty", "-C", "1"],
        || mpub(&b, &["-t", "p/x", "-m", "hi", "-q", "1"]),
    );
    assert_same("-F %j --pretty", &t, &o, &b.port());
    assert!(o.stdout.contains("\n\t\"topic\":\t\"p/x\",\n"), "{o:?}");
    let (t, o) = both_subscribers(
        &b,
        &["-t", "J/#", "-F", "%J", "--pretty", "-C", "2"],
        || {
            mpub(
                &b,
                &["-t", "J/doc", "-m", "{\"a\":[1,2],\"b\":{\"c\":27.0}}"],
            );
            mpub(&b, &["-t", "J/notjson", "-m", "nope"]);
        },
    );
    assert_same("-F %J --pretty", &t, &o, &b.port());
}

#[test]
fn sub_count_and_timeout() {
    if !available("sub_count_and_timeout") {
        return;
    }
    let b = Mosquitto::start();
    let port = b.port();
    // -W: a hard limit; `Timed out` and 27, even after printing messages.
    let (t, o) = both_subscribers(&b, &["-t", "w/#", "-v", "-W", "1"], || {
        mpub(&b, &["-t", "w/1", "-m", "before the limit"]);
    });
    assert_same("-W 1", &t, &o, &port);
    assert_eq!(o.code, Some(27));
    assert_eq!(o.stderr, "Timed out\n");
    assert_eq!(o.stdout, "w/1 before the limit\n");
    // -C 1 -W 5 returns at once when the message arrives.
    let started = Instant::now();
    let (t, o) = both_subscribers(&b, &["-t", "c/#", "-C", "1", "-W", "5"], || {
        mpub(&b, &["-t", "c/1", "-m", "x"]);
    });
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_same("-C 1 -W 5", &t, &o, &port);
    assert_eq!(o.code, Some(0));
}

#[test]
fn sub_retained_modes() {
    if !available("sub_retained_modes") {
        return;
    }
    let b = Mosquitto::start();
    let port = b.port();
    mpub(&b, &["-t", "r/old", "-m", "stale", "-r"]);
    mpub(&b, &["-t", "r/keep", "-m", "kept", "-r"]);
    // Retained messages arrive with %r = 1, live ones with 0.
    let (t, o) = both_subscribers(&b, &["-t", "r/#", "-F", "%t %r %p", "-C", "3"], || {
        mpub(&b, &["-t", "r/live", "-m", "fresh"]);
    });
    assert_same("retained then live", &t, &o, &port);
    // (The order of the retained ones is the broker's.)
    assert_eq!(
        sorted(&o.stdout),
        "r/keep 1 kept\nr/live 0 fresh\nr/old 1 stale\n"
    );
    // -R hides retained messages (they do not count for -C).
    let (t, o) = both_subscribers(&b, &["-t", "r/#", "-v", "-R", "-C", "1"], || {
        mpub(&b, &["-t", "r/live", "-m", "fresh2"]);
    });
    assert_same("-R", &t, &o, &port);
    assert_eq!(o.stdout, "r/live fresh2\n");
    // --retained-only prints the retained ones and exits 0 at the first live message.
    let (t, o) = both_subscribers(&b, &["-t", "r/#", "-v", "--retained-only"], || {
        mpub(&b, &["-t", "r/live", "-m", "ends it"]);
    });
    assert_same("--retained-only", &t, &o, &port);
    assert_eq!(sorted(&o.stdout), "r/keep kept\nr/old stale\n");
    assert_eq!(o.code, Some(0));
    // -T filters out (not counted for -C).
    let (t, o) = both_subscribers(&b, &["-t", "r/#", "-v", "-T", "r/old", "-C", "2"], || {
        mpub(&b, &["-t", "r/old", "-m", "filtered live"]);
        mpub(&b, &["-t", "r/new", "-m", "shown"]);
    });
    assert_same("-T", &t, &o, &port);
    assert_eq!(o.stdout, "r/keep kept\nr/new shown\n");
    assert!(!o.stdout.contains("filtered"));
}

#[test]
fn sub_durable_session_and_unsubscribe() {
    if !available("sub_durable_session_and_unsubscribe") {
        return;
    }
    let b = Mosquitto::start();
    let port = b.port();
    let mut outs = Vec::new();
    for imp in BOTH {
        let id = format!("durable-{imp:?}");
        // -E -c -i: subscribe, exit at SUBACK, keep the session.
        let prime = run(
            imp.subscriber(),
            &at(
                &port,
                &["-c", "-i", &id, "-q", "1", "-t", "dur/#", "-E", "-d"],
            ),
            None,
        );
        // The next message is queued for the absent client ...
        mpub(&b, &["-t", "dur/x", "-m", "queued", "-q", "1"]);
        // ... and delivered when it comes back.
        let back = run(
            imp.subscriber(),
            &at(
                &port,
                &["-c", "-i", &id, "-q", "1", "-t", "dur/#", "-v", "-C", "1"],
            ),
            None,
        );
        // -U removes the subscription (with -E the run ends at the SUBACK).
        let unsub = run(
            imp.subscriber(),
            &at(
                &port,
                &[
                    "-c", "-i", &id, "-t", "other", "-U", "dur/#", "-d", "-W", "1",
                ],
            ),
            None,
        );
        outs.push((imp, id, prime, back, unsub));
    }
    let (_, tid, tprime, tback, tunsub) = &outs[0];
    let (_, oid, oprime, oback, ounsub) = &outs[1];
    let fix = |o: &Out, id: &str| Out {
        stdout: o.stdout.replace(id, "<id>"),
        ..o.clone()
    };
    assert_same("-E -c -i", &fix(tprime, tid), &fix(oprime, oid), &port);
    assert_same("-c -i (queued)", &fix(tback, tid), &fix(oback, oid), &port);
    assert_eq!(oback.stdout, "dur/x queued\n");
    // -W 1 ends the -U run (nothing arrives on `other`): both print the UNSUBSCRIBE. Not
    // compared line by line: mosquitto_sub sends UNSUBSCRIBE right after SUBSCRIBE, before
    // the SUBACK; mqsub after the SUBACK (reported as a difference).
    let (t, o) = (fix(tunsub, tid), fix(ounsub, oid));
    assert_same(
        "-U",
        &Out {
            stdout: sorted(&t.stdout),
            ..t.clone()
        },
        &Out {
            stdout: sorted(&o.stdout),
            ..o.clone()
        },
        &port,
    );
    assert!(ounsub.stdout.contains("sending UNSUBSCRIBE"), "{ounsub:?}");
}

#[test]
fn sub_unsubscribe_every_filter() {
    if !available("sub_unsubscribe_every_filter") {
        return;
    }
    let b = Mosquitto::start();
    let port = b.port();
    // `-t a -U a`: nothing left subscribed; -W ends the run (mqsub exited 7, "connection
    // lost", when its subscription's stream ended). -d lines compared as a set: mosquitto
    // sends UNSUBSCRIBE before the SUBACK, mqsub after it.
    for version in ["311", "5"] {
        let argv = at(
            &port,
            &["-t", "a", "-U", "a", "-d", "-W", "1", "-V", version],
        );
        let t = run("mosquitto_sub", &argv, None);
        let o = run(MQSUB, &argv, None);
        assert_same_debug(&format!("-t a -U a -V {version}"), &t, &o, &port);
        assert_eq!(o.code, Some(27));
    }
}

#[test]
fn sub_debug_lines() {
    if !available("sub_debug_lines") {
        return;
    }
    let b = Mosquitto::start();
    // D14: mosquitto prints `(null)`, we print the generated id; both normalise to <id>.
    // (-q 1: mosquitto_sub prints a QoS 2 message after PUBREL, mqsub at PUBLISH and then
    // -C ends it before the PUBREL: reported as a difference.)
    let (t, o) = both_subscribers(
        &b,
        &[
            "-t", "dbg/#", "-t", "dbg2", "-q", "1", "-d", "-v", "-C", "3",
        ],
        || {
            mpub(&b, &["-t", "dbg/a", "-m", "zero"]);
            mpub(&b, &["-t", "dbg/b", "-m", "one", "-q", "1"]);
            mpub(&b, &["-t", "dbg2", "-m", "two", "-q", "2"]);
        },
    );
    assert_same_debug("-d", &t, &o, &b.port());
    assert!(o.stdout.contains("Subscribed (mid: 1): 1, 1\n"), "{o:?}");
    // QoS 2 (a difference outside D1–D16, reported): libmosquitto hands a QoS 2 message to
    // mosquitto_sub at PUBREL, mqtt-client at PUBLISH. So a QoS 0 message published after
    // it is printed first by mosquitto_sub and second by mqsub, and with -C mqsub may be
    // done before the PUBREL arrives. Compared: the same messages, the same `-d` lines
    // apart from PUBREL / PUBCOMP.
    let (t, o) = both_subscribers(&b, &["-t", "q2", "-q", "2", "-d", "-C", "2"], || {
        mpub(&b, &["-t", "q2", "-m", "two", "-q", "2"]);
        mpub(&b, &["-t", "q2", "-m", "zero"]);
    });
    let drop_rel = |o: &Out| Out {
        stdout: sorted(
            &o.stdout
                .lines()
                .filter(|l| !l.contains("PUBREL") && !l.contains("PUBCOMP"))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        ..o.clone()
    };
    assert_same("-d QoS 2", &drop_rel(&t), &drop_rel(&o), &b.port());
    // v5: the SUBSCRIBE options byte with -R (retain handling 2).
    let (t, o) = both_subscribers(
        &b,
        &["-t", "v5/#", "-V", "5", "-R", "-d", "-C", "1"],
        || mpub(&b, &["-t", "v5/x", "-m", "m", "-V", "5"]),
    );
    assert_same_debug("-V 5 -R -d", &t, &o, &b.port());
    assert!(o.stdout.contains("Options: 0x20"), "{o:?}");
}

#[test]
fn sub_v5_properties() {
    if !available("sub_v5_properties") {
        return;
    }
    let b = Mosquitto::start();
    let fmt = "%t %p | P=[%P] C=[%C] E=[%E] R=[%R] D=[%D] F=[%F]";
    let (t, o) = both_subscribers(&b, &["-t", "p5/#", "-V", "5", "-F", fmt, "-C", "1"], || {
        mpub(
            &b,
            &[
                "-t",
                "p5/full",
                "-m",
                "hello",
                "-V",
                "5",
                "-D",
                "publish",
                "user-property",
                "k1",
                "v1",
                "-D",
                "publish",
                "user-property",
                "k2",
                "v2",
                "-D",
                "publish",
                "content-type",
                "text/plain",
                "-D",
                "publish",
                "message-expiry-interval",
                "60",
                "-D",
                "publish",
                "response-topic",
                "reply/here",
                "-D",
                "publish",
                "correlation-data",
                "abc123",
                "-D",
                "publish",
                "payload-format-indicator",
                "1",
            ],
        );
    });
    assert_same("-V 5 -F properties", &t, &o, &b.port());
    let (t, o) = both_subscribers(
        &b,
        &["-t", "p6/#", "-V", "5", "-F", "%j", "-C", "1"],
        || {
            mpub(
                &b,
                &[
                    "-t",
                    "p6/x",
                    "-m",
                    "v",
                    "-V",
                    "5",
                    // (In this order: mosquitto writes the JSON properties in packet order,
                    // mqsub in a fixed order, a documented deviation.)
                    "-D",
                    "publish",
                    "content-type",
                    "text/plain",
                    "-D",
                    "publish",
                    "user-property",
                    "name",
                    "value",
                ],
            );
        },
    );
    assert_same("-V 5 -F %j", &t, &o, &b.port());
}

// ---------------------------------------------------------------------------------------------
// mqpub
// ---------------------------------------------------------------------------------------------

#[test]
fn pub_simple_retain_and_null() {
    if !available("pub_simple_retain_and_null") {
        return;
    }
    let b = Mosquitto::start();
    compare_publish(
        &b,
        "-t sensor -m 25",
        "sensor",
        "1",
        &["-t", "sensor", "-m", "25"],
        None,
    );
    // -r: a live subscriber sees retain 0 (3.1.1); clear the retained message between the
    // runs so that the second observer does not get the first one's.
    let mut outs = Vec::new();
    for imp in BOTH {
        mpub(&b, &["-t", "ret/a", "-r", "-n"]);
        outs.push(observed_publish(
            &b,
            imp,
            "ret/#",
            "1",
            &["-t", "ret/a", "-m", "kept", "-r", "-q", "1"],
            None,
        ));
    }
    assert_same("-r (publisher)", &outs[0].0, &outs[1].0, "");
    assert_same("-r (observer)", &outs[0].1, &outs[1].1, "");
    assert_eq!(outs[1].1.stdout, "ret/a|1|0|4|kept\n");
    // The retained message is there for a new subscriber (published by mqpub last).
    let port = b.port();
    let seen = run(
        "mosquitto_sub",
        &at(&port, &["-t", "ret/#", "-F", "%t %r %p", "-C", "1"]),
        None,
    );
    assert_eq!(seen.stdout, "ret/a 1 kept\n");
    // -r -n clears it.
    for imp in BOTH {
        mpub(&b, &["-t", "ret/b", "-m", "x", "-r"]);
        let out = run(
            imp.publisher(),
            &at(&port, &["-t", "ret/b", "-r", "-n"]),
            None,
        );
        assert_eq!(
            out,
            Out {
                code: Some(0),
                stdout: String::new(),
                stderr: String::new()
            }
        );
        let seen = run(
            "mosquitto_sub",
            &at(&port, &["-t", "ret/#", "-v", "-C", "1"]),
            None,
        );
        assert_eq!(seen.stdout, "ret/a kept\n", "{imp:?}: ret/b cleared");
    }
}

#[test]
fn pub_qos_debug() {
    if !available("pub_qos_debug") {
        return;
    }
    let b = Mosquitto::start();
    for qos in ["0", "1", "2"] {
        compare_publish(
            &b,
            &format!("-q {qos} -d"),
            "q/#",
            "1",
            &["-t", "q/s", "-m", "25", "-q", qos, "-d"],
            None,
        );
        compare_publish(
            &b,
            &format!("-V 5 -q {qos} -d"),
            "q/#",
            "1",
            &["-t", "q/s", "-m", "25", "-q", qos, "-d", "-V", "5"],
            None,
        );
    }
}

#[test]
fn pub_stdin_and_file() {
    if !available("pub_stdin_and_file") {
        return;
    }
    let b = Mosquitto::start();
    // -l: one message per line; an empty line is an empty message; the last line without a
    // newline is still sent; a \r is kept.
    compare_publish(
        &b,
        "-l",
        "l/#",
        "4",
        &["-t", "l/x", "-l", "-q", "1"],
        Some(b"first\n\nthird\r\nlast"),
    );
    // -l with empty input: connect, disconnect, exit 0.
    let port = b.port();
    let t = run("mosquitto_pub", &at(&port, &["-t", "l/x", "-l"]), Some(b""));
    let o = run(MQPUB, &at(&port, &["-t", "l/x", "-l"]), Some(b""));
    assert_same("-l empty", &t, &o, &port);
    // -s: all of stdin, newlines included.
    compare_publish(
        &b,
        "-s",
        "s/#",
        "1",
        &["-t", "s/x", "-s"],
        Some(b"line one\nline two\n"),
    );
    let t = run("mosquitto_pub", &at(&port, &["-t", "s/x", "-s"]), Some(b""));
    let o = run(MQPUB, &at(&port, &["-t", "s/x", "-s"]), Some(b""));
    assert_same("-s empty", &t, &o, &port);
    assert_eq!(o.code, Some(1));
    // -f: a file, binary-safe (observed as hex); an empty file sends an empty message.
    let tmp = TempDir::new("files");
    let dir = tmp.path();
    let bin = dir.join("bin");
    std::fs::write(&bin, b"\x00\x01\xffabc\n").unwrap();
    let empty = dir.join("empty");
    std::fs::write(&empty, b"").unwrap();
    for (what, file) in [("-f bin", &bin), ("-f empty", &empty)] {
        let mut outs = Vec::new();
        for imp in BOTH {
            let before = b.subacks();
            let obs = Proc::spawn(
                "mosquitto_sub",
                &at(&port, &["-t", "f/#", "-C", "1", "-F", "%l %x"]),
                None,
            );
            b.wait_subacks(before + 1);
            let p = run(
                imp.publisher(),
                &at(&port, &["-t", "f/x", "-f", file.to_str().unwrap()]),
                None,
            );
            outs.push((p, obs.wait()));
        }
        assert_same(what, &outs[0].0, &outs[1].0, &port);
        assert_same(what, &outs[0].1, &outs[1].1, &port);
    }
    assert_same(
        "-f missing",
        &run(
            "mosquitto_pub",
            &at(&port, &["-t", "f/x", "-f", "/nonexistent/x"]),
            None,
        ),
        &run(
            MQPUB,
            &at(&port, &["-t", "f/x", "-f", "/nonexistent/x"]),
            None,
        ),
        &port,
    );
}

#[test]
fn pub_repeat() {
    if !available("pub_repeat") {
        return;
    }
    let b = Mosquitto::start();
    compare_publish(
        &b,
        "--repeat 3",
        "rep/#",
        "3",
        &[
            "-t", "rep/x", "-m", "again", "--repeat", "3", "-q", "1", "-d",
        ],
        None,
    );
    compare_publish(
        &b,
        "--repeat 2 --repeat-delay 0.1",
        "rep/#",
        "2",
        &[
            "-t",
            "rep/x",
            "-m",
            "again",
            "--repeat",
            "2",
            "--repeat-delay",
            "0.1",
        ],
        None,
    );
}

#[test]
fn sub_sigint_and_will() {
    if !available("sub_sigint_and_will") {
        return;
    }
    let b = Mosquitto::start();
    let port = b.port();
    // SIGINT after CONNACK: mqsub / mosquitto_sub disconnect and exit 0; on 3.1.1 the
    // DISCONNECT suppresses the will, on 5.0 reason 0x04 publishes it.
    for (version, will_expected) in [("311", false), ("5", true)] {
        let mut outs = Vec::new();
        for imp in BOTH {
            let before = b.subacks();
            let watcher = Proc::spawn(
                "mosquitto_sub",
                &at(&port, &["-t", "will/#", "-v", "-C", "1", "-W", "2"]),
                None,
            );
            b.wait_subacks(before + 1);
            let args = at(
                &port,
                &[
                    "-t",
                    "x",
                    "-d",
                    "-V",
                    version,
                    "--will-topic",
                    "will/t",
                    "--will-payload",
                    "gone",
                ],
            );
            // mosquitto_sub's stdout is block-buffered in a pipe: `stdbuf -oL` makes its
            // `Subscribed` line visible. (Waiting for the broker's SUBACK is not enough:
            // a SIGINT that reaches mosquitto_sub 2.0.11 before it has handled the SUBACK
            // can leave it hanging.)
            let sub = match imp {
                Imp::Mosquitto if on_path("stdbuf") => {
                    let mut v = vec!["-oL", "mosquitto_sub"];
                    v.extend_from_slice(&args);
                    Proc::spawn("stdbuf", &v, None)
                }
                _ => Proc::spawn(imp.subscriber(), &args, None),
            };
            b.wait_subacks(before + 2);
            if imp == Imp::Ours || on_path("stdbuf") {
                sub.wait_stdout("Subscribed (mid");
            }
            if imp == Imp::Mosquitto {
                // mosquitto_sub's handler prints (`sending DISCONNECT`) from the signal
                // handler: a SIGINT arriving while stdio is still flushing the `Subscribed`
                // line duplicates that line. Nothing observable marks the end of that flush
                // (nor, without stdbuf, the handling of the SUBACK).
                thread::sleep(Duration::from_millis(if on_path("stdbuf") {
                    100
                } else {
                    300
                }));
            }
            let kill = Command::new("kill")
                .args(["-INT", &sub.pid().to_string()])
                .status()
                .unwrap();
            assert!(kill.success());
            let s = sub.wait();
            let w = watcher.wait();
            outs.push((s, w));
        }
        assert_same(
            &format!("SIGINT -V {version}"),
            &outs[0].0,
            &outs[1].0,
            &port,
        );
        assert_same(&format!("will -V {version}"), &outs[0].1, &outs[1].1, &port);
        assert_eq!(outs[1].0.code, Some(0));
        assert_eq!(
            outs[1].1.stdout.contains("will/t gone"),
            will_expected,
            "{outs:?}"
        );
    }
}

#[test]
fn url_and_options_file() {
    if !available("url_and_options_file") {
        return;
    }
    let b = Mosquitto::start();
    let port = b.port();
    // -L mqtt://host:port/topic for both tools.
    let url = format!("mqtt://127.0.0.1:{port}/url/a/b");
    let (t, o) = both_subscribers(&b, &["-L", &url, "-v", "-C", "1"], || {
        for imp in BOTH {
            let out = run(imp.publisher(), &["-L", &url, "-m", "by url"], None);
            assert_eq!(out.code, Some(0), "{imp:?} {out:?}");
        }
    });
    assert_same("-L", &t, &o, &port);
    assert_eq!(o.stdout, "url/a/b by url\n");
    // The options file ($XDG_CONFIG_HOME/mosquitto_sub, ours .../mqsub): read first, -t
    // accumulates with the command line, the value is the rest of the line (no quoting).
    let tmp = TempDir::new("config");
    let dir = tmp.path();
    let sub_conf = "# a comment\n-v\n-t cfg/a\n-F \"%t %p\" quoted\n";
    let pub_conf = "-q 1\n-d\n";
    std::fs::write(dir.join("mosquitto_sub"), sub_conf).unwrap();
    std::fs::write(dir.join("mqsub"), sub_conf).unwrap();
    std::fs::write(dir.join("mosquitto_pub"), pub_conf).unwrap();
    std::fs::write(dir.join("mqpub"), pub_conf).unwrap();
    let argv = at(&port, &["-t", "cfg/b", "-C", "2"]);
    let before = b.subacks();
    let theirs = Proc::spawn_with_config("mosquitto_sub", &argv, None, dir);
    let ours = Proc::spawn_with_config(MQSUB, &argv, None, dir);
    b.wait_subacks(before + 2);
    let mut pubs = Vec::new();
    // Each topic published by mosquitto_pub and by mqpub (so -C 2 sees cfg/a twice).
    for topic in ["cfg/a", "cfg/b"] {
        let p = |prog: &str| {
            Proc::spawn_with_config(prog, &at(&port, &["-t", topic, "-m", "x"]), None, dir).wait()
        };
        pubs.push((p("mosquitto_pub"), p(MQPUB)));
    }
    let (t, o) = (theirs.wait(), ours.wait());
    assert_same("options file (sub)", &t, &o, &port);
    assert_eq!(o.stdout, "\"cfg/a x\" quoted\n\"cfg/a x\" quoted\n");
    for (t, o) in &pubs {
        assert_same("options file (pub)", t, o, &port);
        assert!(o.stdout.contains(", q1, "), "{o:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Connection failures
// ---------------------------------------------------------------------------------------------

#[test]
fn closed_port() {
    if !available("closed_port") {
        return;
    }
    let closed = ClosedPort::new();
    let port = closed.port().to_string();
    for (what, args) in [
        ("pub", vec!["-t", "sensor", "-m", "25"]),
        ("pub -d", vec!["-t", "sensor", "-m", "25", "-d"]),
        ("pub --quiet", vec!["-t", "sensor", "-m", "25", "--quiet"]),
        ("sub", vec!["-t", "#", "-v"]),
        ("sub --quiet", vec!["-t", "#", "-v", "--quiet"]),
    ] {
        let prog = |imp: Imp| {
            if what.starts_with("pub") {
                imp.publisher()
            } else {
                imp.subscriber()
            }
        };
        let argv = at(&port, &args);
        let t = run(prog(Imp::Mosquitto), &argv, None);
        let o = run(prog(Imp::Ours), &argv, None);
        assert_same(what, &t, &o, &port);
        assert_eq!(o.code, Some(1));
    }
    let argv = at(&port, &["-t", "x", "-m", "y"]);
    let o = run(MQPUB, &argv, None);
    assert_eq!(o.stderr, "Error: Connection refused\n");
    // A unix socket that does not exist.
    let t = run(
        "mosquitto_pub",
        &["--unix", "/nonexistent/sock", "-t", "x", "-m", "y"],
        None,
    );
    let o = run(
        MQPUB,
        &["--unix", "/nonexistent/sock", "-t", "x", "-m", "y"],
        None,
    );
    assert_same("--unix missing", &t, &o, "");
}

/// What a scripted broker does with a CONNECT.
#[derive(Clone, Copy)]
enum Script {
    /// Answer like a 3.1.1-only broker (aedes) whatever the version: `20 02 00 01`, the
    /// 3.1.1 "unacceptable protocol version", then close.
    RefuseVersion,
    /// Read and never answer (amqtt does this to a 5.0 CONNECT with properties).
    Silent,
}

/// A scripted broker (`mqtt_testkit::script`, its own loopback port from the start): the
/// broker, its port and the protocol level of every CONNECT read.
fn scripted_broker(script: Script) -> (ScriptedBroker<()>, String, Arc<Mutex<Vec<u8>>>) {
    let levels = Arc::new(Mutex::new(Vec::new()));
    let seen = levels.clone();
    let broker = ScriptedBroker::serve(move |_, mut peer| {
        let seen = seen.clone();
        async move {
            let connect = peer.connect().await;
            seen.lock().unwrap().push(connect.protocol.level());
            match script {
                Script::RefuseVersion => peer.send_raw(&[0x20, 0x02, 0x00, 0x01]).await,
                // Until the client gives up and closes.
                Script::Silent => {
                    peer.bytes_until_closed().await;
                }
            }
        }
    });
    let port = broker.port().to_string();
    (broker, port, levels)
}

/// A broker that only speaks 3.1.1 refuses `-V 5` with its own CONNACK `20 02 00 01`:
/// mosquitto_sub/pub read it as the 5.0 refusal "Unsupported Protocol Version" (exit 132);
/// so do mqsub/mqpub (they said `Protocol error: server did not speak MQTT.`, exit 14).
/// On 3.1.1 and 3.1 it is the plain refusal, exit 1.
#[test]
fn version_refused_by_a_3_1_1_broker() {
    if !available("version_refused_by_a_3_1_1_broker") {
        return;
    }
    let (_broker, port, levels) = scripted_broker(Script::RefuseVersion);
    for v in ["5", "311", "31"] {
        for extra in [&[][..], &["--quiet"][..], &["-d"][..]] {
            for publisher in [true, false] {
                let mut args = vec!["-V", v, "-i", "refused", "-t", "x"];
                if publisher {
                    args.extend(["-m", "y"]);
                }
                args.extend(extra);
                let argv = at(&port, &args);
                let prog = |imp: Imp| {
                    if publisher {
                        imp.publisher()
                    } else {
                        imp.subscriber()
                    }
                };
                let mut t = run(prog(Imp::Mosquitto), &argv, None);
                let o = run(prog(Imp::Ours), &argv, None);
                let what = format!("{} {args:?}", prog(Imp::Mosquitto));
                if !publisher && extra == ["-d"] {
                    // mosquitto_sub answers a refusal with a DISCONNECT on the connection
                    // the broker closes; mqsub sends nothing (DIFFERENCES.md).
                    let line = "Client refused sending DISCONNECT\n";
                    assert!(t.stdout.ends_with(line), "{what}: {t:#?}");
                    t.stdout.truncate(t.stdout.len() - line.len());
                }
                assert_same(&what, &t, &o, &port);
                let code = if v == "5" { 132 } else { 1 };
                assert_eq!(o.code, Some(code), "{what}: {o:#?}");
            }
        }
    }
    let o = run(MQSUB, &at(&port, &["-V", "5", "-t", "x"]), None);
    assert_eq!(
        o.stderr,
        "Connection error: Unsupported Protocol Version. Try connecting to an MQTT v5 broker, \
         or use MQTT v3.x mode.\n"
    );
    // Every run did send its CONNECT with the version asked for.
    let levels = levels.lock().unwrap();
    assert_eq!(levels.len(), 3 * 3 * 2 * 2 + 1);
    assert_eq!(levels.iter().filter(|&&l| l == 5).count(), 3 * 2 * 2 + 1);
}

/// A broker that reads CONNECT and never answers. mosquitto_pub ends after the keep-alive
/// with `Error: Unknown error.` (exit 19; mosquitto_sub waits for ever); mqpub and mqsub end
/// with exit 19 too and a message naming the limit that fired: the connect timeout (D9),
/// `--connect-timeout`, the keep-alive by default.
#[test]
fn no_connack_names_the_connect_timeout() {
    if !available("no_connack_names_the_connect_timeout") {
        return;
    }
    let (_broker, port, _levels) = scripted_broker(Script::Silent);
    // 5 s: mosquitto's smallest keep-alive. Both run at once.
    let argv = at(&port, &["-V", "5", "-k", "5", "-t", "x", "-m", "y"]);
    let started = Instant::now();
    let theirs = Proc::spawn("mosquitto_pub", &argv, None);
    let ours = Proc::spawn(MQPUB, &argv, None);
    let (t, o) = (theirs.wait(), ours.wait());
    assert_eq!(
        (t.code, t.stderr.as_str()),
        (Some(19), "Error: Unknown error.\n")
    );
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (
            Some(19),
            "Error: No CONNACK received within the connect timeout (5 s).\n"
        )
    );
    assert!(started.elapsed() >= Duration::from_secs(5));
    // An explicit --connect-timeout is the limit, whatever the keep-alive.
    let args = ["-V", "5", "--connect-timeout", "1", "-t", "x", "-m", "y"];
    for (prog, args) in [(MQPUB, &args[..]), (MQSUB, &args[..6])] {
        let o = run(prog, &at(&port, args), None);
        assert_eq!(
            (o.code, o.stderr.as_str()),
            (
                Some(19),
                "Error: No CONNACK received within the connect timeout (1 s).\n"
            ),
            "{prog}"
        );
    }
}

/// Against aedes itself: `-V 5` is refused alike (the scripted refusal above is aedes'
/// bytes), and a 3.1.1 message goes through alike.
#[test]
fn aedes_refusal_and_round_trip() {
    if !available("aedes_refusal_and_round_trip") {
        return;
    }
    // aedes (`tests/brokers/aedes`, installed by `npm ci` there) speaks 3.1.1 only.
    let Some(b) = Aedes::start_or_skip("aedes_refusal_and_round_trip") else {
        return;
    };
    let port = b.port().to_string();
    let port = port.as_str();
    for publisher in [true, false] {
        let mut args = vec!["-V", "5", "-i", "five", "-t", "x"];
        if publisher {
            args.extend(["-m", "y"]);
        }
        let argv = at(port, &args);
        let (theirs, ours) = if publisher {
            ("mosquitto_pub", MQPUB)
        } else {
            ("mosquitto_sub", MQSUB)
        };
        let t = run(theirs, &argv, None);
        let o = run(ours, &argv, None);
        assert_same(&format!("{theirs} -V 5"), &t, &o, port);
        assert_eq!(o.code, Some(132), "{o:#?}");
    }
    // 3.1.1: a retained QoS 1 message published by one tool reaches a later subscriber of
    // the other (retained: no need to know when the subscriber is subscribed).
    for (sub, publ, topic) in [
        (MQSUB, "mosquitto_pub", "aedes/rt/1"),
        ("mosquitto_sub", MQPUB, "aedes/rt/2"),
    ] {
        let p = run(
            publ,
            &at(port, &["-t", topic, "-q", "1", "-r", "-m", "hello"]),
            None,
        );
        assert_eq!(p.code, Some(0), "{publ}: {p:#?}");
        let out = run(
            sub,
            &at(port, &["-t", topic, "-q", "1", "-C", "1", "-v"]),
            None,
        );
        assert_eq!(out.code, Some(0), "{sub}: {out:#?}");
        assert_eq!(out.stdout, format!("{topic} hello\n"), "{sub}: {out:#?}");
    }
}

fn passwd_available() -> bool {
    on_path("mosquitto_passwd")
}

#[test]
fn auth_refused() {
    if !available("auth_refused") {
        return;
    }
    let b = if passwd_available() {
        let dir = TempDir::new("passwd");
        let file = dir.join("passwd");
        std::fs::write(&file, "").unwrap();
        let st = Command::new("mosquitto_passwd")
            .args(["-b", file.to_str().unwrap(), "alice", "secret"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
        let conf = format!("allow_anonymous false\npassword_file {}\n", file.display());
        let b = Mosquitto::start_with(&conf);
        // mosquitto reads the file at start-up: the directory can go.
        drop(dir);
        b
    } else {
        Mosquitto::start_with("allow_anonymous false\n")
    };
    let port = b.port();
    let cases: Vec<(&str, Vec<&str>, i32)> = vec![
        ("anonymous 3.1.1", vec![], 5),
        ("bad password 3.1.1", vec!["-u", "alice", "-P", "wrong"], 5),
        ("anonymous 5", vec!["-V", "5"], 135),
        (
            "bad password 5",
            vec!["-V", "5", "-u", "alice", "-P", "wrong"],
            135,
        ),
    ];
    for (what, extra, code) in cases {
        for pub_tool in [true, false] {
            let mut args = extra.clone();
            if pub_tool {
                args.extend(["-t", "x", "-m", "y"]);
            } else {
                args.extend(["-t", "x"]);
            }
            let argv = at(&port, &args);
            let (tp, op) = if pub_tool {
                ("mosquitto_pub", MQPUB)
            } else {
                ("mosquitto_sub", MQSUB)
            };
            let t = run(tp, &argv, None);
            let o = run(op, &argv, None);
            assert_same(&format!("{what} ({tp})"), &t, &o, &port);
            assert_eq!(o.code, Some(code), "{what}: {o:?}");
        }
    }
    if passwd_available() {
        let ok = run(
            MQPUB,
            &at(
                &port,
                &["-u", "alice", "-P", "secret", "-t", "x", "-m", "y"],
            ),
            None,
        );
        assert_eq!(ok.code, Some(0), "{ok:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Argument errors (no broker needed)
// ---------------------------------------------------------------------------------------------

/// The same argv to both implementations of one tool; identical output.
#[track_caller]
fn same_args(publisher: bool, args: &[&str]) {
    let (t, o) = if publisher {
        ("mosquitto_pub", MQPUB)
    } else {
        ("mosquitto_sub", MQSUB)
    };
    // Port 1 is closed: a command line that unexpectedly parses fails fast (and never
    // reaches a broker someone runs on 1883).
    let mut argv = vec!["-h", "127.0.0.1", "-p", "1"];
    argv.extend_from_slice(args);
    let theirs = run(t, &argv, Some(b""));
    let ours = run(o, &argv, Some(b""));
    assert_same(&format!("{t} {args:?}"), &theirs, &ours, "");
}

#[test]
fn argument_errors_pub() {
    if !available("argument_errors_pub") {
        return;
    }
    let cases: &[&[&str]] = &[
        &["-t", "a", "-m", "x", "-q", "3"],
        &["-t", "a", "-m", "x", "-p", "70000"],
        &["-t", "a", "-m", "x", "-k", "2"],
        &["-t", "a", "-m", "x", "-V", "4"],
        &["-t", "a", "-m", "x", "-i", "a", "-I", "b"],
        &["-t", "a", "-m", "x", "-c"],
        &["-t", "a", "-m", "x", "-v"],
        &["-t", "a", "-m", "x", "-tsensor"],
        &["-t", "a", "-m", "x", "stray"],
        &["-t", "a/+", "-m", "x"],
        &["-t", "a", "-m", "x", "-n"],
        &["-t", "a", "-m"],
        &["-t", "a", "-m", "x", "--will-payload", "p"],
        &["-t", "a", "-m", "x", "--will-retain"],
        &["-t", "a", "-m", "x", "--will-topic", "w/+"],
        &["-t", "a", "-m", "x", "--will-topic", "w", "--will-qos", "3"],
        &["-t", "a", "-m", "x", "--repeat", "0"],
        &["-t", "a", "-m", "x", "--repeat-delay", "-1"],
        &["-t", "a", "-m", "x", "-M", "0"],
        &["-t", "a", "-m", "x", "-x", "abc"],
        &["-t", "a", "-m", "x", "-V", "5", "-c"],
        &["-t", "a", "-m", "x", "-D", "publish"],
        &["-t", "a", "-m", "x", "-D", "bogus", "content-type", "x"],
        &["-t", "a", "-m", "x", "-D", "publish", "bogus", "x"],
        &[
            "-t",
            "a",
            "-m",
            "x",
            "-D",
            "publish",
            "session-expiry-interval",
            "1",
        ],
        &[
            "-t",
            "a",
            "-m",
            "x",
            "-D",
            "publish",
            "payload-format-indicator",
            "300",
        ],
        &[
            "-t",
            "a",
            "-m",
            "x",
            "-D",
            "puback",
            "user-property",
            "a",
            "b",
        ],
        &["-t", "a", "-m", "x", "-L", "mqtt://127.0.0.1:1/t"],
        &["-t", "a", "-m", "x", "-L", "http://h/t"],
        // (`--proxy http://` is an addition: HTTP CONNECT, DIFFERENCES.md.)
        &["-t", "a", "-m", "x", "--proxy", "socks4://h"],
        &["-t", "a", "-m", "x", "-P", "pw"],
        &["-t", "a", "-m", "x", "--cert", "c.pem"],
        &["-t", "a", "-m", "x", "--cafile", "/nonexistent/ca.pem"],
        &["-m", "x", "-L", "mqtt://127.0.0.1:1"],
    ];
    for args in cases {
        same_args(true, args);
    }
}

#[test]
fn argument_errors_sub() {
    if !available("argument_errors_sub") {
        return;
    }
    let cases: &[&[&str]] = &[
        &[],
        &["-v"],
        &["-t", "a", "-q", "3"],
        &["-t", "a", "-r"],
        &["-t", "a/#/b"],
        &["-t", "a+"],
        &["-t", "a", "-T", "x/#/y"],
        &["-t", "a", "-U", "x+"],
        &["-t", "a", "-C", "0"],
        &["-t", "a", "-W", "0"],
        &["-t", "a", "-R", "--retained-only"],
        &["-t", "a", "-F", "%z"],
        &["-t", "a", "-F", "abc%"],
        &["-t", "a", "-F", "\\z"],
        &["-t", "a", "-F", "abc\\"],
        &["-t", "a", "-F"],
        &["-t", "a", "-c"],
        &["-t", "a", "--random-filter", "0"],
        &["-t", "a", "-D", "subscribe", "content-type", "x"],
        &["-t", "a", "-D", "connect", "receive-maximum", "70000"],
        &["-t", "a", "-x"],
        &["-t", "a", "-k", "70000"],
    ];
    for args in cases {
        same_args(false, args);
    }
}

#[test]
fn argument_errors_with_deviations() {
    if !available("argument_errors_with_deviations") {
        return;
    }
    // Both topic and message must be supplied: stderr and status equal; the usage text on
    // stdout is ours (D13/D16: a corrected help text), so only its presence is compared.
    for args in [&["-m", "x"][..], &["-t", "a"][..]] {
        let t = run("mosquitto_pub", args, None);
        let o = run(MQPUB, args, None);
        assert_eq!(norm(&t.stderr, ""), o.stderr);
        assert_eq!((t.code, o.code), (Some(1), Some(1)));
        assert!(!t.stdout.is_empty() && !o.stdout.is_empty());
        assert!(o.stdout.contains("Usage: mqpub"), "{o:?}");
    }
    // D13: --help and --version exit 0 (mosquitto: 1), on stdout.
    for (t, o) in [("mosquitto_pub", MQPUB), ("mosquitto_sub", MQSUB)] {
        for flag in ["--help", "--version"] {
            let theirs = run(t, &[flag], None);
            let ours = run(o, &[flag], None);
            assert_eq!(theirs.code, Some(1));
            assert_eq!(ours.code, Some(0), "D13 {o} {flag}");
            assert!(theirs.stderr.is_empty() && ours.stderr.is_empty());
            assert!(!ours.stdout.is_empty());
        }
    }
    // D5: -t '' is rejected (mosquitto_pub: an error and exit 0; mosquitto_sub loops).
    let o = run(MQPUB, &["-t", "", "-m", "x"], None);
    assert_eq!(
        o.stderr,
        "Error: Invalid publish topic '', does it contain '+' or '#'?\n\nUse 'mqpub --help' to see usage.\n"
    );
    assert_eq!(o.code, Some(1));
    let o = run(MQSUB, &["-t", ""], None);
    assert_eq!(
        o.stderr,
        "Error: Invalid subscription topic '', are all '+' and '#' wildcards correct?\n\nUse 'mqsub --help' to see usage.\n"
    );
    // D6: -q abc / -p abc are errors (mosquitto: 0).
    let o = run(MQPUB, &["-t", "a", "-m", "x", "-q", "abc"], None);
    assert_eq!(
        (o.stderr.as_str(), o.code),
        (
            "Error: Invalid QoS given: abc\n\nUse 'mqpub --help' to see usage.\n",
            Some(1)
        )
    );
    let o = run(MQSUB, &["-t", "a", "-p", "abc"], None);
    assert_eq!(
        (o.stderr.as_str(), o.code),
        (
            "Error: Invalid port given: abc\n\nUse 'mqsub --help' to see usage.\n",
            Some(1)
        )
    );
}
