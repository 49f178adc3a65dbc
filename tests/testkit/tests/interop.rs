//! Interoperability with clients no one here wrote: mosquitto_pub / mosquitto_sub (Debian's
//! `mosquitto-clients`, 2.0.11) run as child processes against the in-process broker.
//!
//! When the clients are not on PATH these tests print a notice and pass, so that
//! `cargo test --workspace` works on a fresh machine; with `MQTT_INTEROP=require` (set by
//! `.ci/run`) they fail instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use common::{RawClient, V311, publish, within};
use mqtt_proto::{QoS, QosPid};
use mqtt_testkit::external::{or_skip, tools};
use mqtt_testkit::{Broker, CloseReason, Event, Events};

/// The clients' own run-time limit (`-W`, seconds).
const CLIENT_LIMIT_SECS: u64 = 10;
/// How long the test waits for a child before killing it: a little more than `-W`.
const CHILD_TIMEOUT: Duration = Duration::from_secs(CLIENT_LIMIT_SECS + 5);

/// Whether mosquitto_sub and mosquitto_pub can be run; the rule for when they cannot is
/// `mqtt_testkit::external::or_skip`'s (a failure under `MQTT_INTEROP=require`).
fn clients_available(test: &str) -> bool {
    or_skip(test, tools(&["mosquitto_sub", "mosquitto_pub"])).is_some()
}

/// A child process, killed (SIGKILL) and reaped if the test fails before it ends.
struct Proc {
    name: String,
    child: std::process::Child,
}

/// How a child ended.
#[derive(Debug)]
struct Output {
    status: ExitStatus,
    stdout: Vec<u8>,
    #[allow(dead_code)] // shown through Debug in failure messages
    stderr: String,
}

impl Proc {
    fn spawn(prog: &str, addr: SocketAddr, args: &[&str]) -> Self {
        let port = addr.port().to_string();
        let mut all = vec!["-h", "127.0.0.1", "-p", port.as_str()];
        all.extend_from_slice(args);
        let name = format!("{prog} {}", all.join(" "));
        let child = Command::new(prog)
            .args(&all)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `{name}`: {e}"));
        Self { name, child }
    }

    fn sub(addr: SocketAddr, args: &[&str]) -> Self {
        Self::spawn("mosquitto_sub", addr, args)
    }

    fn publ(addr: SocketAddr, args: &[&str]) -> Self {
        Self::spawn("mosquitto_pub", addr, args)
    }

    /// The exit status if the child has ended.
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// Collect what an ended child wrote.
    fn collect(&mut self, status: ExitStatus) -> Output {
        let child = &mut self.child;
        let mut stdout = Vec::new();
        let mut stderr = String::new();
        if let Some(mut out) = child.stdout.take() {
            out.read_to_end(&mut stdout).expect("read stdout");
        }
        if let Some(mut err) = child.stderr.take() {
            err.read_to_string(&mut stderr).expect("read stderr");
        }
        Output {
            status,
            stdout,
            stderr,
        }
    }

    /// Wait (at most [`CHILD_TIMEOUT`]) for the child to end on its own; kill it and fail
    /// the test if it does not.
    async fn finish(mut self) -> Output {
        let deadline = tokio::time::Instant::now() + CHILD_TIMEOUT;
        loop {
            if let Some(status) = self.exited() {
                return self.collect(status);
            }
            if tokio::time::Instant::now() >= deadline {
                self.child.kill().expect("kill");
                let status = self.child.wait().expect("wait");
                let name = self.name.clone();
                let out = self.collect(status);
                panic!("`{name}` did not end within {CHILD_TIMEOUT:?}; killed: {out:?}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Wait for the child to end and succeed; its stdout.
    async fn success(self) -> Vec<u8> {
        let name = self.name.clone();
        let out = self.finish().await;
        assert!(out.status.success(), "`{name}` failed: {out:?}");
        out.stdout
    }

    /// SIGKILL the child (no DISCONNECT reaches the broker) and reap it.
    fn kill(mut self) -> Output {
        self.child.kill().expect("kill");
        let status = self.child.wait().expect("wait");
        self.collect(status)
    }

    /// Send SIGTERM (mosquitto_sub then sends DISCONNECT) and wait for the child to end.
    async fn terminate(self) -> Output {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {pid}: {status}");
        self.finish().await
    }

    /// Wait until the broker reports a SUBSCRIBE for `filter`, failing at once (with the
    /// child's stderr) if the child ends first, and after [`CHILD_TIMEOUT`] at the latest.
    async fn subscribed(&mut self, events: &mut Events, filter: &str) {
        let deadline = tokio::time::Instant::now() + CHILD_TIMEOUT;
        loop {
            let wait = tokio::time::timeout(Duration::from_millis(20), events.next());
            match wait.await {
                Ok(Some(Event::Subscribed { results, .. }))
                    if results.iter().any(|(f, _)| f.as_str() == filter) =>
                {
                    return;
                }
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the broker stopped"),
                Err(_) => {}
            }
            if let Some(status) = self.exited() {
                let name = self.name.clone();
                let out = self.collect(status);
                panic!("`{name}` ended before subscribing to {filter}: {out:?}");
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "`{}` did not subscribe to {filter} within {CHILD_TIMEOUT:?}",
                self.name
            );
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Nothing happens if it was already waited for.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const W: &str = "10";
const _: () = assert!(
    CLIENT_LIMIT_SECS == 10,
    "keep W in step with CLIENT_LIMIT_SECS"
);

/// One mosquitto_sub (-C 1 -v at `qos`) and one mosquitto_pub (at `qos`), same version; the
/// subscriber prints exactly "topic payload\n".
async fn round_trip(version: &str, qos: u8) {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    let topic = format!("interop/{version}/q{qos}");
    let payload = format!("hello {version} at qos {qos}");
    let q = qos.to_string();

    let mut sub = Proc::sub(
        addr,
        &[
            "-V", version, "-t", &topic, "-q", &q, "-C", "1", "-W", W, "-v",
        ],
    );
    sub.subscribed(&mut events, &topic).await;
    let publ = Proc::publ(
        addr,
        &["-V", version, "-t", &topic, "-q", &q, "-m", &payload],
    );
    publ.success().await;
    let out = sub.success().await;
    assert_eq!(
        String::from_utf8_lossy(&out),
        format!("{topic} {payload}\n"),
        "{version} QoS {qos}"
    );
    // The broker saw the publish at the QoS mosquitto_pub was asked for.
    let seen = within(events.wait_for(|e| matches!(e, Event::Published { .. })))
        .await
        .unwrap();
    let Event::Published { publish, will, .. } = seen else {
        unreachable!()
    };
    assert!(!will);
    assert_eq!(publish.qos.qos() as u8, qos, "{version} QoS {qos}");
    assert_eq!(&publish.payload[..], payload.as_bytes());
    broker.shutdown().await;
}

#[tokio::test]
async fn qos0_round_trip_v311() {
    if clients_available("qos0_round_trip_v311") {
        round_trip("mqttv311", 0).await;
    }
}

#[tokio::test]
async fn qos1_round_trip_v311() {
    if clients_available("qos1_round_trip_v311") {
        round_trip("mqttv311", 1).await;
    }
}

#[tokio::test]
async fn qos2_round_trip_v311() {
    if clients_available("qos2_round_trip_v311") {
        round_trip("mqttv311", 2).await;
    }
}

#[tokio::test]
async fn qos0_round_trip_v5() {
    if clients_available("qos0_round_trip_v5") {
        round_trip("mqttv5", 0).await;
    }
}

#[tokio::test]
async fn qos1_round_trip_v5() {
    if clients_available("qos1_round_trip_v5") {
        round_trip("mqttv5", 1).await;
    }
}

#[tokio::test]
async fn qos2_round_trip_v5() {
    if clients_available("qos2_round_trip_v5") {
        round_trip("mqttv5", 2).await;
    }
}

#[tokio::test]
async fn qos2_round_trip_v31() {
    if clients_available("qos2_round_trip_v31") {
        round_trip("mqttv31", 2).await;
    }
}

/// A mosquitto_pub -r message is kept and sent with RETAIN to a later mosquitto_sub.
async fn retained(version: &str) {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let topic = format!("interop/{version}/retained");
    Proc::publ(
        addr,
        &["-V", version, "-t", &topic, "-q", "1", "-r", "-m", "kept"],
    )
    .success()
    .await;
    assert_eq!(broker.retained(&topic).as_deref(), Some(&b"kept"[..]));

    // %r: retain flag, %q: delivered QoS (min of 1 and the subscription's 2).
    let out = Proc::sub(
        addr,
        &[
            "-V",
            version,
            "-t",
            &topic,
            "-q",
            "2",
            "-C",
            "1",
            "-W",
            W,
            "-F",
            "%r %q %t %p",
        ],
    )
    .success()
    .await;
    assert_eq!(String::from_utf8_lossy(&out), format!("1 1 {topic} kept\n"));

    // An empty retained publish clears it (QoS 1: mosquitto_pub exits after the PUBACK, so
    // the broker has processed it; at QoS 0 it may exit first).
    Proc::publ(addr, &["-V", version, "-t", &topic, "-q", "1", "-r", "-n"])
        .success()
        .await;
    assert_eq!(broker.retained(&topic), None);
    broker.shutdown().await;
}

#[tokio::test]
async fn retained_v311() {
    if clients_available("retained_v311") {
        retained("mqttv311").await;
    }
}

#[tokio::test]
async fn retained_v5() {
    if clients_available("retained_v5") {
        retained("mqttv5").await;
    }
}

/// mosquitto_sub with a will, killed with SIGKILL: a second mosquitto_sub receives the will.
async fn will_on_sigkill(version: &str) {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    let will_topic = format!("interop/{version}/will");

    let mut watcher = Proc::sub(
        addr,
        &[
            "-V",
            version,
            "-i",
            "watcher",
            "-t",
            &will_topic,
            "-q",
            "1",
            "-C",
            "1",
            "-W",
            W,
            "-v",
        ],
    );
    watcher.subscribed(&mut events, &will_topic).await;

    let mut doomed = Proc::sub(
        addr,
        &[
            "-V",
            version,
            "-i",
            "doomed",
            "-t",
            "interop/nothing",
            "-W",
            W,
            "--will-topic",
            &will_topic,
            "--will-payload",
            "doomed is gone",
            "--will-qos",
            "1",
        ],
    );
    doomed.subscribed(&mut events, "interop/nothing").await;
    let killed = doomed.kill();
    assert!(!killed.status.success(), "{killed:?}");

    let out = watcher.success().await;
    assert_eq!(
        String::from_utf8_lossy(&out),
        format!("{will_topic} doomed is gone\n")
    );
    let seen = within(events.wait_for(|e| matches!(e, Event::Published { will: true, .. })))
        .await
        .unwrap();
    let Event::Published { client_id, .. } = seen else {
        unreachable!()
    };
    assert_eq!(client_id, "doomed");
    broker.shutdown().await;
}

#[tokio::test]
async fn will_on_sigkill_v311() {
    if clients_available("will_on_sigkill_v311") {
        will_on_sigkill("mqttv311").await;
    }
}

#[tokio::test]
async fn will_on_sigkill_v5() {
    if clients_available("will_on_sigkill_v5") {
        will_on_sigkill("mqttv5").await;
    }
}

/// mosquitto_pub ends with a normal DISCONNECT, so its will is not published (a raw client
/// of ours watches the will topic).
#[tokio::test]
async fn no_will_after_mosquitto_pub_disconnects() {
    if !clients_available("no_will_after_mosquitto_pub_disconnects") {
        return;
    }
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    let mut raw = RawClient::connect(addr, V311, "raw-watcher").await;
    raw.subscribe(1, "interop/pubwill", QoS::AtMostOnce).await;

    // A normal DISCONNECT after publishing: the will is not sent.
    Proc::publ(
        addr,
        &[
            "-V",
            "mqttv311",
            "-t",
            "interop/other",
            "-m",
            "x",
            "--will-topic",
            "interop/pubwill",
            "--will-payload",
            "never",
        ],
    )
    .success()
    .await;
    let gone = within(events.wait_for(
        |e| matches!(e, Event::Disconnected { client_id: Some(c), .. } if c != "raw-watcher"),
    ))
    .await
    .unwrap();
    assert!(
        matches!(
            gone,
            Event::Disconnected {
                reason: CloseReason::ClientDisconnect,
                ..
            }
        ),
        "{gone:?}"
    );
    // Had the will been published, it would come before this.
    raw.publish(publish("interop/pubwill", QosPid::AtMostOnce, b"marker"))
        .await;
    let got = raw.recv_publish().await;
    assert_eq!(&got.payload[..], b"marker");
    broker.shutdown().await;
}

/// mosquitto_sub -c -i ID -q 1 -E primes a persistent session; QoS 1 messages published
/// while it is away are delivered, in order, to the next mosquitto_sub -c -i ID.
async fn persistent_session(version: &str) {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    let id = format!("durable-{version}");
    let topic = format!("interop/{version}/durable");

    let mut prime = Proc::sub(
        addr,
        &[
            "-V", version, "-c", "-i", &id, "-t", &topic, "-q", "1", "-E", "-W", W,
        ],
    );
    prime.subscribed(&mut events, &topic).await;
    prime.success().await;
    within(
        events
            .wait_for(|e| matches!(e, Event::Disconnected { client_id: Some(c), .. } if *c == id)),
    )
    .await
    .unwrap();

    for n in 1..=3 {
        Proc::publ(
            addr,
            &[
                "-V",
                version,
                "-t",
                &topic,
                "-q",
                "1",
                "-m",
                &format!("m{n}"),
            ],
        )
        .success()
        .await;
    }

    let out = Proc::sub(
        addr,
        &[
            "-V", version, "-c", "-i", &id, "-t", &topic, "-q", "1", "-C", "3", "-W", W, "-v",
        ],
    )
    .success()
    .await;
    assert_eq!(
        String::from_utf8_lossy(&out),
        format!("{topic} m1\n{topic} m2\n{topic} m3\n")
    );
    let present = within(
        events.wait_for(|e| matches!(e, Event::Connected { client_id, .. } if *client_id == id)),
    )
    .await
    .unwrap();
    assert!(
        matches!(
            present,
            Event::Connected {
                session_present: true,
                ..
            }
        ),
        "{present:?}"
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn persistent_session_v311() {
    if clients_available("persistent_session_v311") {
        persistent_session("mqttv311").await;
    }
}

#[tokio::test]
async fn persistent_session_v5() {
    if clients_available("persistent_session_v5") {
        persistent_session("mqttv5").await;
    }
}

/// On SIGTERM mosquitto_sub sends DISCONNECT: on 5.0 with reason 0x04 (Disconnect with Will
/// Message), so the will is published; on 3.1.1 a plain DISCONNECT, so it is not.
async fn will_on_sigterm(version: &str, published: bool) {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    let will_topic = format!("interop/{version}/term-will");
    let mut raw = RawClient::connect(addr, V311, "raw-watcher").await;
    raw.subscribe(1, &will_topic, QoS::AtMostOnce).await;

    let mut doomed = Proc::sub(
        addr,
        &[
            "-V",
            version,
            "-i",
            "terminated",
            "-t",
            "interop/nothing",
            "-W",
            W,
            "--will-topic",
            &will_topic,
            "--will-payload",
            "terminated",
        ],
    );
    doomed.subscribed(&mut events, "interop/nothing").await;
    // mosquitto_sub's SIGTERM handler calls mosquitto_disconnect_v5, which is not
    // async-signal-safe: a signal that lands while libmosquitto still holds its write mutex
    // (the broker can see SUBSCRIBE before the client's write() has returned) deadlocks the
    // client for good (seen in about 1 run in 10). The broker has no event for "the client is
    // idle", so give it time to finish writing SUBSCRIBE and reading the SUBACK.
    tokio::time::sleep(Duration::from_millis(300)).await;
    doomed.terminate().await;
    let gone = within(events.wait_for(
        |e| matches!(e, Event::Disconnected { client_id: Some(c), .. } if c == "terminated"),
    ))
    .await
    .unwrap();
    let Event::Disconnected { reason, .. } = gone else {
        unreachable!()
    };
    if published {
        assert_eq!(reason, CloseReason::ClientDisconnectWithWill);
        let will = raw.recv_publish().await;
        assert_eq!(will.topic.as_str(), will_topic);
        assert_eq!(&will.payload[..], b"terminated");
    } else {
        assert_eq!(reason, CloseReason::ClientDisconnect);
        raw.publish(publish(&will_topic, QosPid::AtMostOnce, b"marker"))
            .await;
        assert_eq!(&raw.recv_publish().await.payload[..], b"marker");
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn will_on_sigterm_v5_is_published() {
    if clients_available("will_on_sigterm_v5_is_published") {
        will_on_sigterm("mqttv5", true).await;
    }
}

#[tokio::test]
async fn no_will_on_sigterm_v311() {
    if clients_available("no_will_on_sigterm_v311") {
        will_on_sigterm("mqttv311", false).await;
    }
}
