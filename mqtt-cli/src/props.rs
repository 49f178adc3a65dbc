//! `-D` / `--property`: MQTT v5 properties given on the command line.
//!
//! Syntax, as in mosquitto: `-D <command> <identifier> <value>`, or
//! `-D <command> user-property <name> <value>`. The identifier uses the specification's names
//! with `-` between words (`message-expiry-interval`).
//!
//! Validation happens in the same three steps as mosquitto 2.0.11, so that the same input
//! fails with the same message:
//!
//! 1. while the word is read: the number of words, the command, the property name, whether
//!    the property may appear in that packet at all, whether the tool supports it there, and
//!    the numeric range of the value (`Error: Property value (300) out of range for property
//!    payload-format-indicator.`);
//! 2. after the whole command line is read: values that are in range but not valid on the
//!    wire (a `receive-maximum` of 0, a property given twice...), reported as
//!    `Error in CONNECT properties: A network protocol error occurred when communicating with
//!    the broker.` (see [`PropertyPacket::check_all_message`]).

use std::ffi::{OsStr, OsString};
use std::num::{NonZeroU16, NonZeroU32};

use mqtt_proto::{
    ConnectProperties, DisconnectProperties, PublishProperties, SubscribeProperties,
    SubscriptionId, TopicName, UnsubscribeProperties, UserProperty, WillProperties,
};

use crate::cnum::{atoll, os_to_bytes};

/// The properties collected from every `-D` option, one set per packet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct V5Properties {
    /// `-D connect ...`. `-x` (session expiry) is also stored here.
    pub connect: ConnectProperties,
    /// `-D publish ...` (mqpub only).
    pub publish: PublishProperties,
    /// `-D subscribe ...` (mqsub only).
    pub subscribe: SubscribeProperties,
    /// `-D unsubscribe ...` (mqsub only).
    pub unsubscribe: UnsubscribeProperties,
    /// `-D disconnect ...`.
    pub disconnect: DisconnectProperties,
    /// `-D will ...`: used only with `--will-topic`.
    pub will: WillProperties,
}

/// The packets whose properties can be set with `-D`, in the order mosquitto checks them
/// after parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropertyPacket {
    /// CONNECT.
    Connect,
    /// PUBLISH.
    Publish,
    /// SUBSCRIBE.
    Subscribe,
    /// UNSUBSCRIBE.
    Unsubscribe,
    /// DISCONNECT.
    Disconnect,
    /// The will message.
    Will,
}

impl PropertyPacket {
    /// All of them, in mosquitto's checking order.
    pub const ALL: [Self; 6] = [
        Self::Connect,
        Self::Publish,
        Self::Subscribe,
        Self::Unsubscribe,
        Self::Disconnect,
        Self::Will,
    ];

    /// The message mosquitto prints when the properties of this packet are in range but
    /// invalid (`mosquitto_property_check_all` failing with `MOSQ_ERR_PROTOCOL`).
    pub fn check_all_message(self) -> String {
        let name = match self {
            Self::Connect => "CONNECT",
            Self::Publish => "PUBLISH",
            Self::Subscribe => "SUBSCRIBE",
            Self::Unsubscribe => "UNSUBSCRIBE",
            Self::Disconnect => "DISCONNECT",
            Self::Will => "Will",
        };
        format!(
            "Error in {name} properties: A network protocol error occurred when communicating \
             with the broker.\n"
        )
    }
}

/// The value type of a property, as mosquitto names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Byte,
    Int16,
    Int32,
    Varint,
    Binary,
    Str,
    Pair,
}

/// Every property name mosquitto knows, with its identifier and type.
const PROPERTIES: &[(&str, u8, Kind)] = &[
    ("payload-format-indicator", 1, Kind::Byte),
    ("message-expiry-interval", 2, Kind::Int32),
    ("content-type", 3, Kind::Str),
    ("response-topic", 8, Kind::Str),
    ("correlation-data", 9, Kind::Binary),
    ("subscription-identifier", 11, Kind::Varint),
    ("session-expiry-interval", 17, Kind::Int32),
    ("assigned-client-identifier", 18, Kind::Str),
    ("server-keep-alive", 19, Kind::Int16),
    ("authentication-method", 21, Kind::Str),
    ("authentication-data", 22, Kind::Binary),
    ("request-problem-information", 23, Kind::Byte),
    ("will-delay-interval", 24, Kind::Int32),
    ("request-response-information", 25, Kind::Byte),
    ("response-information", 26, Kind::Str),
    ("server-reference", 28, Kind::Str),
    ("reason-string", 31, Kind::Str),
    ("receive-maximum", 33, Kind::Int16),
    ("topic-alias-maximum", 34, Kind::Int16),
    ("topic-alias", 35, Kind::Int16),
    ("maximum-qos", 36, Kind::Byte),
    ("retain-available", 37, Kind::Byte),
    ("user-property", 38, Kind::Pair),
    ("maximum-packet-size", 39, Kind::Int32),
    ("wildcard-subscription-available", 40, Kind::Byte),
    ("subscription-identifier-available", 41, Kind::Byte),
    ("shared-subscription-available", 42, Kind::Byte),
];

/// The command names mosquitto accepts (`mosquitto_string_to_command`).
const COMMANDS: &[&str] = &[
    "connect",
    "connack",
    "publish",
    "puback",
    "pubrec",
    "pubrel",
    "pubcomp",
    "subscribe",
    "suback",
    "unsubscribe",
    "unsuback",
    "pingreq",
    "pingresp",
    "disconnect",
    "auth",
    "will",
];

/// Which property identifiers the specification allows in which packet
/// (`mosquitto_property_check_command`).
fn allowed(command: &str, id: u8) -> bool {
    let list: &[u8] = match command {
        "connect" => &[17, 33, 39, 34, 25, 23, 38, 21, 22],
        "connack" => &[
            17, 33, 36, 37, 39, 18, 34, 31, 38, 40, 41, 42, 19, 26, 28, 21, 22,
        ],
        "publish" => &[1, 2, 35, 8, 9, 38, 11, 3],
        "puback" | "pubrec" | "pubrel" | "pubcomp" | "suback" | "unsuback" => &[31, 38],
        "subscribe" => &[11, 38],
        "unsubscribe" => &[38],
        "disconnect" => &[17, 31, 28, 38],
        "auth" => &[21, 22, 31, 38],
        "will" => &[24, 1, 2, 3, 8, 9, 38],
        _ => &[],
    };
    list.contains(&id)
}

/// What reading one `-D` option produced.
#[derive(Debug)]
pub(crate) struct Parsed {
    /// How many words after `-D` were consumed.
    pub(crate) consumed: usize,
    /// Set when the value is in range but invalid on the wire: reported after parsing.
    pub(crate) deferred: Option<PropertyPacket>,
}

const NOT_ENOUGH: &str = "Error: --property argument given but not enough arguments specified.\n\n";

fn lossy(s: &OsStr) -> String {
    s.to_string_lossy().into_owned()
}

/// Reads the words after a `-D` into `props`. `words` starts at the command.
///
/// The error is the complete first part of the stderr text (with its trailing newlines).
pub(crate) fn parse_property(
    words: &[OsString],
    props: &mut V5Properties,
) -> Result<Parsed, String> {
    if words.len() < 3 {
        return Err(NOT_ENOUGH.to_owned());
    }
    let cmdname = lossy(&words[0]);
    // 2.0.11 prints no name here (later versions do); see §1.5 of the reference.
    let Some(&command) = COMMANDS.iter().find(|c| **c == cmdname) else {
        return Err("Error: Invalid command given in --property argument.\n\n".to_owned());
    };
    let propname = lossy(&words[1]);
    let Some(&(name, id, kind)) = PROPERTIES.iter().find(|p| p.0 == propname) else {
        return Err("Error: Invalid property name given in --property argument.\n\n".to_owned());
    };
    if !allowed(command, id) {
        return Err(format!(
            "Error: {name} property not allowed for {command} in --property argument.\n\n"
        ));
    }
    let (key, value, consumed) = if kind == Kind::Pair {
        if words.len() < 4 {
            return Err(NOT_ENOUGH.to_owned());
        }
        (Some(&words[2]), &words[3], 4)
    } else {
        (None, &words[2], 3)
    };
    let not_supported = || {
        format!("Error: {name} property not supported for {command} in --property argument.\n\n")
    };
    let packet = match command {
        "connect" => PropertyPacket::Connect,
        "publish" if id == 11 => return Err(not_supported()),
        "publish" => PropertyPacket::Publish,
        "subscribe" => PropertyPacket::Subscribe,
        "unsubscribe" => PropertyPacket::Unsubscribe,
        "disconnect" => PropertyPacket::Disconnect,
        "will" => PropertyPacket::Will,
        // auth, the acknowledgements, connack, pingreq and pingresp. (2.0.11 fails silently
        // for connack/pingreq/pingresp; we always say why.)
        _ => return Err(not_supported()),
    };

    // Range checks, with the atoll value in the message as mosquitto prints it.
    let max: i64 = match kind {
        Kind::Byte => 0xff,
        Kind::Int16 => 0xffff,
        Kind::Int32 => 0xffff_ffff,
        Kind::Varint => i64::from(SubscriptionId::MAX),
        _ => 0,
    };
    let mut number = 0u32;
    if max > 0 {
        let v = atoll(value);
        if !(0..=max).contains(&v) {
            return Err(format!(
                "Error: Property value ({v}) out of range for property {name}.\n\n"
            ));
        }
        number = u32::try_from(v).unwrap_or(u32::MAX);
    }
    let text = || -> Result<String, String> {
        value
            .to_str()
            .map(str::to_owned)
            .ok_or_else(|| "Error: Malformed UTF-8 in --property argument.\n\n".to_owned())
    };
    let binary = || os_to_bytes(value);

    let mut bad = false;
    // Sets an at-most-once property, marking a duplicate (mosquitto: protocol error).
    fn set<T>(slot: &mut Option<T>, v: Option<T>, bad: &mut bool) {
        match v {
            Some(v) if slot.is_none() => *slot = Some(v),
            _ => *bad = true,
        }
    }
    let flag = |n: u32, bad: &mut bool| match n {
        0 => Some(false),
        1 => Some(true),
        _ => {
            *bad = true;
            None
        }
    };
    let u16v = u16::try_from(number).unwrap_or(u16::MAX);
    match (packet, id) {
        (_, 38) => {
            let key = key.map(|k| k.to_str().map(str::to_owned)).unwrap_or(None);
            let (Some(k), Ok(v)) = (key, text()) else {
                return Err("Error: Malformed UTF-8 in --property argument.\n\n".to_owned());
            };
            let up = UserProperty::new(k, v);
            match packet {
                PropertyPacket::Connect => props.connect.user_properties.push(up),
                PropertyPacket::Publish => props.publish.user_properties.push(up),
                PropertyPacket::Subscribe => props.subscribe.user_properties.push(up),
                PropertyPacket::Unsubscribe => props.unsubscribe.user_properties.push(up),
                PropertyPacket::Disconnect => props.disconnect.user_properties.push(up),
                PropertyPacket::Will => props.will.user_properties.push(up),
            }
        }
        (PropertyPacket::Connect, 17) => set(
            &mut props.connect.session_expiry_interval,
            Some(number),
            &mut bad,
        ),
        (PropertyPacket::Connect, 33) => set(
            &mut props.connect.receive_maximum,
            NonZeroU16::new(u16v),
            &mut bad,
        ),
        (PropertyPacket::Connect, 39) => set(
            &mut props.connect.maximum_packet_size,
            NonZeroU32::new(number),
            &mut bad,
        ),
        (PropertyPacket::Connect, 34) => {
            set(&mut props.connect.topic_alias_maximum, Some(u16v), &mut bad)
        }
        (PropertyPacket::Connect, 25) => {
            let v = flag(number, &mut bad);
            set(&mut props.connect.request_response_information, v, &mut bad)
        }
        (PropertyPacket::Connect, 23) => {
            let v = flag(number, &mut bad);
            set(&mut props.connect.request_problem_information, v, &mut bad)
        }
        (PropertyPacket::Connect, 21) => set(
            &mut props.connect.authentication_method,
            Some(text()?.into()),
            &mut bad,
        ),
        (PropertyPacket::Connect, 22) => set(
            &mut props.connect.authentication_data,
            Some(binary().into()),
            &mut bad,
        ),
        (PropertyPacket::Publish, 1) => {
            let v = flag(number, &mut bad);
            set(&mut props.publish.payload_format_indicator, v, &mut bad)
        }
        (PropertyPacket::Publish, 2) => set(
            &mut props.publish.message_expiry_interval,
            Some(number),
            &mut bad,
        ),
        (PropertyPacket::Publish, 35) => set(
            &mut props.publish.topic_alias,
            NonZeroU16::new(u16v),
            &mut bad,
        ),
        (PropertyPacket::Publish, 8) => {
            let t = TopicName::new(text()?).ok();
            set(&mut props.publish.response_topic, t, &mut bad)
        }
        (PropertyPacket::Publish, 9) => set(
            &mut props.publish.correlation_data,
            Some(binary().into()),
            &mut bad,
        ),
        (PropertyPacket::Publish, 3) => set(
            &mut props.publish.content_type,
            Some(text()?.into()),
            &mut bad,
        ),
        (PropertyPacket::Subscribe, 11) => set(
            &mut props.subscribe.subscription_identifier,
            SubscriptionId::new(number),
            &mut bad,
        ),
        (PropertyPacket::Disconnect, 17) => set(
            &mut props.disconnect.session_expiry_interval,
            Some(number),
            &mut bad,
        ),
        (PropertyPacket::Disconnect, 31) => set(
            &mut props.disconnect.reason_string,
            Some(text()?.into()),
            &mut bad,
        ),
        (PropertyPacket::Disconnect, 28) => set(
            &mut props.disconnect.server_reference,
            Some(text()?.into()),
            &mut bad,
        ),
        (PropertyPacket::Will, 24) => {
            set(&mut props.will.will_delay_interval, Some(number), &mut bad)
        }
        (PropertyPacket::Will, 1) => {
            let v = flag(number, &mut bad);
            set(&mut props.will.payload_format_indicator, v, &mut bad)
        }
        (PropertyPacket::Will, 2) => set(
            &mut props.will.message_expiry_interval,
            Some(number),
            &mut bad,
        ),
        (PropertyPacket::Will, 3) => {
            set(&mut props.will.content_type, Some(text()?.into()), &mut bad)
        }
        (PropertyPacket::Will, 8) => {
            let t = TopicName::new(text()?).ok();
            set(&mut props.will.response_topic, t, &mut bad)
        }
        (PropertyPacket::Will, 9) => set(
            &mut props.will.correlation_data,
            Some(binary().into()),
            &mut bad,
        ),
        // Every other (packet, id) pair was rejected by `allowed` or the packet match.
        _ => bad = true,
    }
    Ok(Parsed {
        consumed,
        deferred: bad.then_some(packet),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn run(words: &[&str]) -> (Result<Parsed, String>, V5Properties) {
        let words: Vec<OsString> = words.iter().map(OsString::from).collect();
        let mut props = V5Properties::default();
        let r = parse_property(&words, &mut props);
        (r, props)
    }

    #[test]
    fn connect_properties_are_typed() {
        let (r, p) = run(&["connect", "receive-maximum", "10"]);
        assert_eq!(r.unwrap().consumed, 3);
        assert_eq!(p.connect.receive_maximum, NonZeroU16::new(10));
        let (r, p) = run(&["connect", "user-property", "k", "v"]);
        assert_eq!(r.unwrap().consumed, 4);
        assert_eq!(p.connect.user_properties, vec![UserProperty::new("k", "v")]);
    }

    #[test]
    fn publish_properties_are_typed() {
        let (_, p) = run(&["publish", "content-type", "text/plain"]);
        assert_eq!(p.publish.content_type.as_deref(), Some("text/plain"));
        let (_, p) = run(&["publish", "message-expiry-interval", "60"]);
        assert_eq!(p.publish.message_expiry_interval, Some(60));
        let (_, p) = run(&["publish", "payload-format-indicator", "1"]);
        assert_eq!(p.publish.payload_format_indicator, Some(true));
        let (_, p) = run(&["publish", "correlation-data", "abc"]);
        assert_eq!(p.publish.correlation_data.as_deref(), Some(&b"abc"[..]));
        let (_, p) = run(&["publish", "topic-alias", "3"]);
        assert_eq!(p.publish.topic_alias, NonZeroU16::new(3));
        let (_, p) = run(&["publish", "response-topic", "reply/here"]);
        assert_eq!(p.publish.response_topic.unwrap().as_str(), "reply/here");
    }

    #[test]
    fn other_packets() {
        let (_, p) = run(&["subscribe", "subscription-identifier", "7"]);
        assert_eq!(p.subscribe.subscription_identifier.unwrap().get(), 7);
        let (_, p) = run(&["unsubscribe", "user-property", "a", "b"]);
        assert_eq!(p.unsubscribe.user_properties.len(), 1);
        let (_, p) = run(&["disconnect", "session-expiry-interval", "5"]);
        assert_eq!(p.disconnect.session_expiry_interval, Some(5));
        let (_, p) = run(&["will", "will-delay-interval", "5"]);
        assert_eq!(p.will.will_delay_interval, Some(5));
    }

    #[test]
    fn errors_match_mosquitto() {
        let e = |w: &[&str]| run(w).0.unwrap_err();
        assert_eq!(e(&["connect"]), NOT_ENOUGH);
        assert_eq!(e(&["connect", "receive-maximum"]), NOT_ENOUGH);
        assert_eq!(e(&["connect", "user-property", "key"]), NOT_ENOUGH);
        assert_eq!(
            e(&["invalid", "receive-maximum", "1"]),
            "Error: Invalid command given in --property argument.\n\n"
        );
        assert_eq!(
            e(&["connect", "invalid", "1"]),
            "Error: Invalid property name given in --property argument.\n\n"
        );
        assert_eq!(
            e(&["connect", "will-delay-interval", "1"]),
            "Error: will-delay-interval property not allowed for connect in --property argument.\n\n"
        );
        assert_eq!(
            e(&["publish", "session-expiry-interval", "1"]),
            "Error: session-expiry-interval property not allowed for publish in --property argument.\n\n"
        );
        assert_eq!(
            e(&["publish", "subscription-identifier", "1"]),
            "Error: subscription-identifier property not supported for publish in --property argument.\n\n"
        );
        assert_eq!(e(&["subscribe", "user-property", "a"]), NOT_ENOUGH);
        assert_eq!(
            e(&["auth", "reason-string", "x"]),
            "Error: reason-string property not supported for auth in --property argument.\n\n"
        );
        assert_eq!(
            e(&["puback", "reason-string", "x"]),
            "Error: reason-string property not supported for puback in --property argument.\n\n"
        );
        assert_eq!(
            e(&["publish", "payload-format-indicator", "300"]),
            "Error: Property value (300) out of range for property payload-format-indicator.\n\n"
        );
        assert_eq!(
            e(&["connect", "request-problem-information", "-1"]),
            "Error: Property value (-1) out of range for property request-problem-information.\n\n"
        );
        assert_eq!(
            e(&["connect", "receive-maximum", "65536"]),
            "Error: Property value (65536) out of range for property receive-maximum.\n\n"
        );
        assert_eq!(
            e(&["connect", "session-expiry-interval", "4294967296"]),
            "Error: Property value (4294967296) out of range for property session-expiry-interval.\n\n"
        );
    }

    #[test]
    fn in_range_but_invalid_values_are_deferred() {
        let (r, _) = run(&["connect", "receive-maximum", "0"]);
        assert_eq!(r.unwrap().deferred, Some(PropertyPacket::Connect));
        let (r, _) = run(&["publish", "payload-format-indicator", "2"]);
        assert_eq!(r.unwrap().deferred, Some(PropertyPacket::Publish));
        let (r, _) = run(&["subscribe", "subscription-identifier", "0"]);
        assert_eq!(r.unwrap().deferred, Some(PropertyPacket::Subscribe));
        let (r, _) = run(&["publish", "response-topic", "a/+"]);
        assert_eq!(r.unwrap().deferred, Some(PropertyPacket::Publish));
        assert_eq!(
            PropertyPacket::Connect.check_all_message(),
            "Error in CONNECT properties: A network protocol error occurred when communicating with the broker.\n"
        );
    }

    #[test]
    fn duplicates_are_deferred() {
        let mut props = V5Properties::default();
        let w: Vec<OsString> = ["publish", "content-type", "a"]
            .iter()
            .map(OsString::from)
            .collect();
        assert!(parse_property(&w, &mut props).unwrap().deferred.is_none());
        assert_eq!(
            parse_property(&w, &mut props).unwrap().deferred,
            Some(PropertyPacket::Publish)
        );
    }
}
