//! Issue 16, defect 3: mqpub's topic aliases, asserted on the wire.
//!
//! - `-D publish topic-alias N` as mosquitto_pub 2.0.11 sends it: the first PUBLISH carries
//!   the topic and alias N, the later ones an empty topic and alias N (`'(null)'` in `-d`).
//! - `--topic-aliases` (an addition): the client's automatic aliases, the same way.
//! - An alias above the broker's Topic Alias Maximum is not sent (mosquitto_pub sends it and
//!   the broker closes the connection); the messages go with their topic.
//!
//! The wire is read by a scripted broker (`mqtt_testkit::script`, decoding with
//! mqtt-proto); and against Debian's mosquitto (`max_topic_alias 2`) mqpub's `-d` output
//! equals mosquitto_pub's, and a subscriber receives every message with its topic. Skipped
//! with a notice without mosquitto; `MQTT_INTEROP=require` makes that a failure.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs,
    unreachable_pub
)]

use mqtt_proto::{ConnAck, ConnectReason, Packet, ProtocolVersion, PubAck};
use mqtt_testkit::external::{Mosquitto, or_skip, tools};
use mqtt_testkit::script::ScriptedBroker;

mod common;

use common::{MQPUB, Out, Proc, run};

/// Each PUBLISH as it was on the wire: (topic, Topic Alias).
type Wire = Vec<(String, Option<u16>)>;

/// Accept one client (`mqtt_testkit::script`), announce Topic Alias Maximum `max`,
/// acknowledge its PUBLISHes, and return (topic, alias) of each PUBLISH as it was on the wire.
fn scripted_broker(max: u16) -> ScriptedBroker<Wire> {
    ScriptedBroker::accept(1, move |_, mut peer| async move {
        let c = peer.connect().await;
        assert_eq!(c.protocol, ProtocolVersion::V5);
        let mut ack = ConnAck::new(false, ConnectReason::Success);
        ack.properties.topic_alias_maximum = Some(max);
        peer.send(Packet::ConnAck(Box::new(ack))).await;
        let mut seen = Vec::new();
        while let Some(packet) = peer.next().await {
            match packet {
                Packet::Publish(p) => {
                    seen.push((
                        p.topic.as_str().to_owned(),
                        p.properties().topic_alias.map(|a| a.get()),
                    ));
                    if let Some(id) = p.qos.packet_id() {
                        peer.send(Packet::PubAck(PubAck::new(id))).await;
                    }
                }
                Packet::Disconnect(_) => break,
                _ => {}
            }
        }
        seen
    })
}

fn wire(max: u16, args: &[&str], stdin: Option<&[u8]>) -> (Out, Wire) {
    let script = scripted_broker(max);
    let port = script.port().to_string();
    let mut all = vec!["-h", "127.0.0.1", "-p", &port, "-V", "mqttv5"];
    all.extend_from_slice(args);
    let out = run(MQPUB, &all, stdin);
    (out, script.join().remove(0))
}

fn expect(first: &str, alias: Option<u16>, n: usize) -> Wire {
    let mut v = vec![(first.to_owned(), alias)];
    let later = if alias.is_some() { "" } else { first };
    v.extend(std::iter::repeat_n((later.to_owned(), alias), n - 1));
    v
}

#[test]
fn mqpub_sends_the_topic_alias_asked_for() {
    // --repeat, QoS 1.
    let (out, seen) = wire(
        2,
        &[
            "-D",
            "publish",
            "topic-alias",
            "2",
            "-t",
            "a/b",
            "-m",
            "x",
            "--repeat",
            "3",
            "-q",
            "1",
        ],
        None,
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(seen, expect("a/b", Some(2), 3));
    // -l, QoS 0, with -d: the alias-only PUBLISHes show as '(null)', as in mosquitto_pub.
    let (out, seen) = wire(
        2,
        &["-d", "-D", "publish", "topic-alias", "1", "-t", "a/c", "-l"],
        Some(b"l1\nl2\nl3\n"),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(seen, expect("a/c", Some(1), 3));
    let topics: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains("sending PUBLISH"))
        .map(|l| l.split('\'').nth(1).unwrap())
        .collect();
    assert_eq!(topics, ["a/c", "(null)", "(null)"], "{}", out.stdout);
}

#[test]
fn mqpub_topic_aliases_option_uses_the_clients_own() {
    let lines: String = (0..50).map(|n| format!("{n}\n")).collect();
    let (out, seen) = wire(
        3,
        &["--topic-aliases", "-t", "many/lines", "-l", "-q", "1"],
        Some(lines.as_bytes()),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(seen, expect("many/lines", Some(1), 50));
    // Without the option, and without -D, no alias (mosquitto_pub's bytes).
    let (out, seen) = wire(3, &["-t", "many/lines", "-l"], Some(b"a\nb\n"));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(seen, expect("many/lines", None, 2));
}

#[test]
fn mqpub_does_not_send_an_alias_the_broker_does_not_allow() {
    for max in [0, 2] {
        let (out, seen) = wire(
            max,
            &[
                "-D",
                "publish",
                "topic-alias",
                "3",
                "-t",
                "a/b",
                "-m",
                "x",
                "--repeat",
                "2",
            ],
            None,
        );
        assert_eq!(out.code, Some(0), "{out:?}");
        assert_eq!(seen, expect("a/b", None, 2), "broker maximum {max}");
    }
}

// ---------------------------------------------------------------------------------------------
// Beside mosquitto_pub, against Debian's mosquitto
// ---------------------------------------------------------------------------------------------

#[test]
fn mqpub_sends_aliases_as_mosquitto_pub_does() {
    let test = "mqpub_sends_aliases_as_mosquitto_pub_does";
    if or_skip(test, tools(&["mosquitto_pub"])).is_none() {
        return;
    }
    let Some(broker) = Mosquitto::builder()
        .config_line("allow_anonymous true")
        .config_line("max_topic_alias 2")
        .start_or_skip(test)
    else {
        return;
    };
    let port = broker.port().to_string();
    let port = port.as_str();
    let sub = Proc::subscribed(&[
        "-h",
        "127.0.0.1",
        "-p",
        port,
        "-V",
        "mqttv5",
        "-t",
        "alias/#",
        "-v",
        "-d",
        "-C",
        "6",
        "-q",
        "1",
    ]);
    let publish = |tool: &str, payload: &str| {
        run(
            tool,
            &[
                "-h",
                "127.0.0.1",
                "-p",
                port,
                "-V",
                "mqttv5",
                "-i",
                "alias-pub",
                "-d",
                "-q",
                "1",
                "-D",
                "publish",
                "topic-alias",
                "2",
                "-t",
                "alias/t",
                "-m",
                payload,
                "--repeat",
                "3",
            ],
            None,
        )
    };
    let theirs = publish("mosquitto_pub", "theirs");
    let ours = publish(MQPUB, "ours");
    assert_eq!(theirs.code, Some(0), "{theirs:?}");
    assert_eq!(
        ours.stdout
            .replace("ours", "theirs")
            .replace("(4 bytes)", "(6 bytes)"),
        theirs.stdout,
        "mqpub -d against mosquitto_pub -d"
    );
    assert_eq!(ours.stderr, theirs.stderr);
    assert_eq!(ours.code, theirs.code);
    assert!(
        theirs.stdout.contains("'(null)'"),
        "mosquitto_pub sent alias-only PUBLISHes: {}",
        theirs.stdout
    );
    // Every message arrived, with its topic.
    let out = sub.wait();
    let messages: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| !l.starts_with("Client ") && !l.starts_with("Subscribed"))
        .collect();
    assert_eq!(
        messages,
        [
            "alias/t theirs",
            "alias/t theirs",
            "alias/t theirs",
            "alias/t ours",
            "alias/t ours",
            "alias/t ours"
        ],
        "{out:?}"
    );
}
