//! Proptest strategies for arbitrary valid MQTT packets of a given protocol version, and for
//! corrupting their bytes.
//!
//! What 3.1 and 3.1.1 cannot carry (properties, reason codes other than success, UNSUBACK
//! reasons, subscription options other than QoS, AUTH, a password without a user name) is never
//! generated for them; for 5.0 every property of every packet is generated, as random subsets.

use std::num::{NonZeroU16, NonZeroU32};

use bytes::Bytes;
use bytestring::ByteString;
use mqtt_proto::{
    AckProperties, Auth, AuthProperties, AuthReason, ConnAck, ConnAckProperties, Connect,
    ConnectProperties, ConnectReason, Disconnect, DisconnectProperties, DisconnectReason, Packet,
    PacketId, PacketType, ProtocolVersion, PubAck, PubAckReason, PubComp, PubRec, PubRel,
    PubRelReason, Publish, PublishProperties, QoS, QosPid, RetainHandling, SubAck, SubAckReason,
    Subscribe, SubscribeFilter, SubscribeProperties, SubscriptionId, SubscriptionOptions,
    TopicFilter, TopicName, UnsubAck, UnsubAckReason, Unsubscribe, UnsubscribeProperties,
    UserProperty, Will, WillProperties,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::strategy::Union;

/// The three protocol versions.
pub(crate) const VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V3_1,
    ProtocolVersion::V3_1_1,
    ProtocolVersion::V5,
];

/// The largest string or binary field.
const MAX_FIELD: usize = 65_535;

// ---- scalars ----------------------------------------------------------------------------------

fn packet_id() -> impl Strategy<Value = PacketId> + Clone {
    prop_oneof![
        1 => Just(PacketId::MIN),
        1 => Just(PacketId::MAX),
        6 => any::<NonZeroU16>().prop_map(PacketId::from),
    ]
}

fn qos() -> impl Strategy<Value = QoS> + Clone {
    select(vec![QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce])
}

fn qos_pid() -> impl Strategy<Value = QosPid> {
    (qos(), packet_id()).prop_map(|(qos, id)| QosPid::from_qos(qos, id))
}

/// Subscription identifiers of every variable-integer width, edges included.
fn subscription_id() -> impl Strategy<Value = SubscriptionId> + Clone {
    prop_oneof![
        Just(1),
        Just(127),
        Just(128),
        Just(16_383),
        Just(16_384),
        Just(2_097_151),
        Just(2_097_152),
        Just(SubscriptionId::MAX),
        1..=SubscriptionId::MAX,
    ]
    .prop_map(|v| SubscriptionId::new(v).expect("in range"))
}

/// Maximum QoS on the wire is 0 or 1 only (absent means 2).
fn maximum_qos() -> impl Strategy<Value = QoS> + Clone {
    select(vec![QoS::AtMostOnce, QoS::AtLeastOnce])
}

/// A reason code: half the time the first (success, which the short forms of acknowledgements,
/// DISCONNECT and AUTH leave out), otherwise any.
fn reason<T: Copy + std::fmt::Debug + 'static>(all: &'static [T]) -> impl Strategy<Value = T> {
    prop_oneof![Just(all[0]), select(all)]
}

// ---- strings, topics, binary ------------------------------------------------------------------

/// Any character but U+0000: mostly ASCII, often multi-byte (two, three and four bytes).
fn any_char() -> impl Strategy<Value = char> + Clone {
    prop_oneof![
        6 => (1u8..0x80).prop_map(char::from),
        2 => any::<char>().prop_filter("U+0000", |c| *c != '\0'),
        2 => select(vec![
            'é', 'ß', '\u{7FF}', '\u{800}', '€', '中', '\u{FEFF}', '\u{FFFF}', '😀', '\u{10FFFF}',
        ]),
    ]
}

/// A character that may appear inside a topic level: not `/`, `+`, `#` or U+0000.
fn level_char() -> impl Strategy<Value = char> + Clone {
    any_char().prop_filter("separator or wildcard", |c| !matches!(c, '/' | '+' | '#'))
}

/// A field of exactly 65,535 bytes, in one-, two- or three-byte characters.
fn longest_string() -> impl Strategy<Value = String> + Clone {
    select(vec!["a", "\u{7FF}a", "€"]).prop_map(|unit| {
        let reps = MAX_FIELD / unit.len();
        let mut s = unit.repeat(reps);
        // Pad with ASCII up to exactly the limit.
        s.push_str(&"b".repeat(MAX_FIELD - s.len()));
        s
    })
}

/// An arbitrary UTF-8 string without U+0000, now and then as long as a field may be.
pub(crate) fn string() -> impl Strategy<Value = ByteString> + Clone {
    prop_oneof![
        60 => vec(any_char(), 0..12).prop_map(String::from_iter),
        1 => longest_string(),
    ]
    .prop_map(ByteString::from)
}

/// Arbitrary binary data, now and then as long as a field may be.
fn binary() -> impl Strategy<Value = Bytes> + Clone {
    prop_oneof![
        60 => vec(any::<u8>(), 0..16).prop_map(Bytes::from),
        1 => any::<u8>().prop_map(|b| Bytes::from(vec![b; MAX_FIELD])),
    ]
}

/// A PUBLISH payload: usually small, sometimes long enough for a two- or three-byte remaining
/// length.
fn payload() -> impl Strategy<Value = Bytes> + Clone {
    prop_oneof![
        12 => vec(any::<u8>(), 0..32).prop_map(Bytes::from),
        2 => (100usize..300, any::<u8>())
            .prop_map(|(n, seed)| Bytes::from_iter((0..n).map(|i| seed.wrapping_add(i as u8)))),
        1 => (16_300usize..16_500, any::<u8>())
            .prop_map(|(n, seed)| Bytes::from_iter((0..n).map(|i| seed ^ (i as u8)))),
    ]
}

/// A topic name: non-empty, no wildcards, no U+0000.
pub(crate) fn topic_name() -> impl Strategy<Value = TopicName> + Clone {
    let ch = prop_oneof![8 => level_char(), 1 => Just('/'), 1 => Just('$')];
    prop_oneof![
        40 => vec(ch, 1..16).prop_map(String::from_iter),
        4 => select(vec!["/", "a//b", "$SYS/broker/load", "$share/g/x", " ", "\u{FEFF}"])
            .prop_map(String::from),
        1 => Just("t".repeat(MAX_FIELD)),
    ]
    .prop_map(|s| TopicName::new(s).expect("valid topic name"))
}

fn filter_level() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        4 => vec(level_char(), 0..5).prop_map(String::from_iter),
        2 => Just(String::from("+")),
        1 => select(vec!["$SYS", "$share", "sport", ""]).prop_map(String::from),
    ]
}

/// A topic filter without the shared-subscription prefix: levels, `+`, and maybe a final `#`.
fn plain_filter() -> impl Strategy<Value = String> + Clone {
    (vec(filter_level(), 0..5), any::<bool>()).prop_map(|(levels, hash)| {
        let mut s = levels.join("/");
        if hash {
            if !levels.is_empty() {
                s.push('/');
            }
            s.push('#');
        }
        if s.is_empty() {
            s.push('#');
        }
        s
    })
}

/// A valid topic filter, including `+`, `#` and `$share/{group}/{filter}`.
pub(crate) fn topic_filter() -> impl Strategy<Value = TopicFilter> + Clone {
    prop_oneof![
        6 => plain_filter(),
        2 => (vec(level_char(), 1..5), plain_filter())
            .prop_map(|(group, f)| format!("$share/{}/{f}", String::from_iter(group))),
        1 => select(vec!["#", "+", "+/+", "/#", "$share/g/#", "$SYS/#", "$share"])
            .prop_map(String::from),
    ]
    // `$share` as a first level of a plain filter may still not form a valid shared filter.
    .prop_filter_map("invalid filter", |s| TopicFilter::new(s).ok())
}

// ---- properties -------------------------------------------------------------------------------

/// Each single property is present with this probability.
const PRESENT: f64 = 0.4;

fn opt<S: Strategy>(s: S) -> impl Strategy<Value = Option<S::Value>> {
    option::weighted(PRESENT, s)
}

/// Usually empty properties; otherwise a random subset.
fn maybe_empty<T: Default + Clone + std::fmt::Debug + 'static>(
    s: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<T> {
    prop_oneof![1 => Just(T::default()), 3 => s].boxed()
}

fn user_property() -> impl Strategy<Value = UserProperty> + Clone {
    (string(), string()).prop_map(|(name, value)| UserProperty { name, value })
}

/// User properties, order preserved, the same pair sometimes repeated.
fn user_properties() -> impl Strategy<Value = Vec<UserProperty>> + Clone {
    (vec(user_property(), 0..4), any::<bool>()).prop_map(|(mut v, repeat)| {
        if let (true, Some(first)) = (repeat, v.first().cloned()) {
            v.push(first);
        }
        v
    })
}

fn connect_properties() -> BoxedStrategy<ConnectProperties> {
    maybe_empty(
        (
            opt(any::<u32>()),
            opt(any::<NonZeroU16>()),
            opt(any::<NonZeroU32>()),
            opt(any::<u16>()),
            opt(any::<bool>()),
            opt(any::<bool>()),
            opt(string()),
            opt(binary()),
            user_properties(),
        )
            .prop_map(|(sei, rm, mps, tam, rri, rpi, am, ad, up)| {
                let mut p = ConnectProperties::default();
                p.session_expiry_interval = sei;
                p.receive_maximum = rm;
                p.maximum_packet_size = mps;
                p.topic_alias_maximum = tam;
                p.request_response_information = rri;
                p.request_problem_information = rpi;
                // Authentication Data only with an Authentication Method.
                p.authentication_data = ad.filter(|_| am.is_some());
                p.authentication_method = am;
                p.user_properties = up;
                p
            }),
    )
}

fn will_properties() -> BoxedStrategy<WillProperties> {
    maybe_empty(
        (
            opt(any::<u32>()),
            opt(any::<bool>()),
            opt(any::<u32>()),
            opt(string()),
            opt(topic_name()),
            opt(binary()),
            user_properties(),
        )
            .prop_map(|(wdi, pfi, mei, ct, rt, cd, up)| {
                let mut p = WillProperties::default();
                p.will_delay_interval = wdi;
                p.payload_format_indicator = pfi;
                p.message_expiry_interval = mei;
                p.content_type = ct;
                p.response_topic = rt;
                p.correlation_data = cd;
                p.user_properties = up;
                p
            }),
    )
}

fn connack_properties() -> BoxedStrategy<ConnAckProperties> {
    let first = (
        opt(any::<u32>()),
        opt(any::<NonZeroU16>()),
        opt(maximum_qos()),
        opt(any::<bool>()),
        opt(any::<NonZeroU32>()),
        opt(string()),
        opt(any::<u16>()),
        opt(string()),
        opt(any::<bool>()),
    );
    let second = (
        opt(any::<bool>()),
        opt(any::<bool>()),
        opt(any::<u16>()),
        opt(string()),
        opt(string()),
        opt(string()),
        opt(binary()),
        user_properties(),
    );
    maybe_empty((first, second).prop_map(
        |((sei, rm, mq, ra, mps, aci, tam, rs, wsa), (sia, ssa, ska, ri, sr, am, ad, up))| {
            let mut p = ConnAckProperties::default();
            p.session_expiry_interval = sei;
            p.receive_maximum = rm;
            p.maximum_qos = mq;
            p.retain_available = ra;
            p.maximum_packet_size = mps;
            p.assigned_client_identifier = aci;
            p.topic_alias_maximum = tam;
            p.reason_string = rs;
            p.wildcard_subscription_available = wsa;
            p.subscription_identifier_available = sia;
            p.shared_subscription_available = ssa;
            p.server_keep_alive = ska;
            p.response_information = ri;
            p.server_reference = sr;
            p.authentication_data = ad.filter(|_| am.is_some());
            p.authentication_method = am;
            p.user_properties = up;
            p
        },
    ))
}

fn publish_properties() -> BoxedStrategy<PublishProperties> {
    maybe_empty(
        (
            opt(any::<bool>()),
            opt(any::<u32>()),
            opt(any::<NonZeroU16>()),
            opt(topic_name()),
            opt(binary()),
            opt(string()),
            user_properties(),
            vec(subscription_id(), 0..4),
        )
            .prop_map(|(pfi, mei, ta, rt, cd, ct, up, sids)| {
                let mut p = PublishProperties::default();
                p.payload_format_indicator = pfi;
                p.message_expiry_interval = mei;
                p.topic_alias = ta;
                p.response_topic = rt;
                p.correlation_data = cd;
                p.content_type = ct;
                p.user_properties = up;
                p.subscription_identifiers = sids;
                p
            }),
    )
}

fn ack_properties() -> BoxedStrategy<AckProperties> {
    maybe_empty((opt(string()), user_properties()).prop_map(|(rs, up)| {
        let mut p = AckProperties::default();
        p.reason_string = rs;
        p.user_properties = up;
        p
    }))
}

fn subscribe_properties() -> BoxedStrategy<SubscribeProperties> {
    maybe_empty(
        (opt(subscription_id()), user_properties()).prop_map(|(sid, up)| {
            let mut p = SubscribeProperties::default();
            p.subscription_identifier = sid;
            p.user_properties = up;
            p
        }),
    )
}

fn unsubscribe_properties() -> BoxedStrategy<UnsubscribeProperties> {
    maybe_empty(user_properties().prop_map(|up| {
        let mut p = UnsubscribeProperties::default();
        p.user_properties = up;
        p
    }))
}

fn disconnect_properties() -> BoxedStrategy<DisconnectProperties> {
    maybe_empty(
        (
            opt(any::<u32>()),
            opt(string()),
            opt(string()),
            user_properties(),
        )
            .prop_map(|(sei, rs, sr, up)| {
                let mut p = DisconnectProperties::default();
                p.session_expiry_interval = sei;
                p.reason_string = rs;
                p.server_reference = sr;
                p.user_properties = up;
                p
            }),
    )
}

fn auth_properties() -> BoxedStrategy<AuthProperties> {
    maybe_empty(
        (
            opt(string()),
            opt(binary()),
            opt(string()),
            user_properties(),
        )
            .prop_map(|(am, ad, rs, up)| {
                let mut p = AuthProperties::default();
                p.authentication_data = ad.filter(|_| am.is_some());
                p.authentication_method = am;
                p.reason_string = rs;
                p.user_properties = up;
                p
            }),
    )
}

/// `props` on 5.0, the empty default before.
fn props_for<T: Default + Clone + std::fmt::Debug + 'static>(
    v: ProtocolVersion,
    props: fn() -> BoxedStrategy<T>,
) -> BoxedStrategy<T> {
    if v.is_v5() {
        props()
    } else {
        Just(T::default()).boxed()
    }
}

// ---- packets ----------------------------------------------------------------------------------

fn will(v: ProtocolVersion) -> impl Strategy<Value = Will> {
    (
        topic_name(),
        binary(),
        qos(),
        any::<bool>(),
        props_for(v, will_properties),
    )
        .prop_map(|(topic, payload, qos, retain, properties)| Will {
            topic,
            payload,
            qos,
            retain,
            properties,
        })
}

/// A CONNECT announcing `v`.
pub(crate) fn connect(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (
        any::<bool>(),
        any::<u16>(),
        string(),
        option::of(will(v)),
        option::of(string()),
        option::of(binary()),
        props_for(v, connect_properties),
    )
        .prop_map(
            move |(clean_start, keep_alive, client_id, will, username, password, properties)| {
                // 3.1 and 3.1.1 send a password only with a user name.
                let password = password.filter(|_| v.is_v5() || username.is_some());
                Connect {
                    protocol: v,
                    clean_start,
                    keep_alive,
                    client_id,
                    will,
                    username,
                    password,
                    properties,
                }
                .into()
            },
        )
}

fn connack(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let reasons: Vec<ConnectReason> = ConnectReason::ALL
        .iter()
        .copied()
        .filter(|r| v.is_v5() || r.to_v3().is_some())
        .collect();
    (
        any::<bool>(),
        select(reasons),
        props_for(v, connack_properties),
    )
        .prop_map(|(session_present, reason, properties)| {
            ConnAck {
                session_present,
                reason,
                properties,
            }
            .into()
        })
}

fn publish(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (
        qos_pid(),
        any::<bool>(),
        any::<bool>(),
        topic_name(),
        any::<bool>(),
        payload(),
        props_for(v, publish_properties),
    )
        .prop_map(
            |(qos, dup, retain, topic, alias_only, payload, properties)| {
                // With a Topic Alias, 5.0 may leave the topic name empty.
                let topic = if alias_only && properties.topic_alias.is_some() {
                    TopicName::alias_only()
                } else {
                    topic
                };
                Publish {
                    // DUP is always false on QoS 0 [MQTT-3.3.1-2].
                    dup: dup && qos != QosPid::AtMostOnce,
                    qos,
                    retain,
                    topic,
                    payload,
                    // Both ways of saying "none", so equality treats them alike.
                    properties: if properties.is_empty() && retain {
                        None
                    } else {
                        Some(Box::new(properties))
                    },
                }
                .into()
            },
        )
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP.
fn pub_acks(v: ProtocolVersion) -> Vec<BoxedStrategy<Packet>> {
    let v5 = v.is_v5();
    let ack_reason = move || -> BoxedStrategy<PubAckReason> {
        if v5 {
            reason(PubAckReason::ALL).boxed()
        } else {
            Just(PubAckReason::Success).boxed()
        }
    };
    let rel_reason = move || -> BoxedStrategy<PubRelReason> {
        if v5 {
            reason(PubRelReason::ALL).boxed()
        } else {
            Just(PubRelReason::Success).boxed()
        }
    };
    let props = move || props_for(v, ack_properties);
    vec![
        (packet_id(), ack_reason(), props())
            .prop_map(|(packet_id, reason, properties)| {
                PubAck {
                    packet_id,
                    reason,
                    properties,
                }
                .into()
            })
            .boxed(),
        (packet_id(), ack_reason(), props())
            .prop_map(|(packet_id, reason, properties)| {
                PubRec {
                    packet_id,
                    reason,
                    properties,
                }
                .into()
            })
            .boxed(),
        (packet_id(), rel_reason(), props())
            .prop_map(|(packet_id, reason, properties)| {
                PubRel {
                    packet_id,
                    reason,
                    properties,
                }
                .into()
            })
            .boxed(),
        (packet_id(), rel_reason(), props())
            .prop_map(|(packet_id, reason, properties)| {
                PubComp {
                    packet_id,
                    reason,
                    properties,
                }
                .into()
            })
            .boxed(),
    ]
}

/// Subscription options: the QoS alone before 5.0, every option on 5.0.
fn subscription_options(v: ProtocolVersion) -> BoxedStrategy<SubscriptionOptions> {
    if v.is_v5() {
        (
            qos(),
            any::<bool>(),
            any::<bool>(),
            select(vec![
                RetainHandling::SendAtSubscribe,
                RetainHandling::SendAtSubscribeIfNew,
                RetainHandling::DoNotSend,
            ]),
        )
            .prop_map(
                |(qos, no_local, retain_as_published, retain_handling)| SubscriptionOptions {
                    qos,
                    no_local,
                    retain_as_published,
                    retain_handling,
                },
            )
            .boxed()
    } else {
        qos().prop_map(SubscriptionOptions::new).boxed()
    }
}

fn subscribe(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let subscription =
        (topic_filter(), subscription_options(v)).prop_map(|(filter, mut options)| {
            // No Local is not allowed on a shared subscription [MQTT-3.8.3-4].
            options.no_local &= !filter.is_shared();
            SubscribeFilter { filter, options }
        });
    (
        packet_id(),
        vec(subscription, 1..5),
        props_for(v, subscribe_properties),
    )
        .prop_map(|(packet_id, subscriptions, properties)| {
            Subscribe {
                packet_id,
                subscriptions,
                properties,
            }
            .into()
        })
}

fn suback(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let reasons: Vec<SubAckReason> = SubAckReason::ALL
        .iter()
        .copied()
        .filter(|r| v.is_v5() || r.in_v3())
        .collect();
    (
        packet_id(),
        vec(select(reasons), 0..6),
        props_for(v, ack_properties),
    )
        .prop_map(|(packet_id, reasons, properties)| {
            SubAck {
                packet_id,
                reasons,
                properties,
            }
            .into()
        })
}

fn unsubscribe(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (
        packet_id(),
        vec(topic_filter(), 1..5),
        props_for(v, unsubscribe_properties),
    )
        .prop_map(|(packet_id, filters, properties)| {
            Unsubscribe {
                packet_id,
                filters,
                properties,
            }
            .into()
        })
}

fn unsuback(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    // 3.1 and 3.1.1 carry no reason codes at all.
    let max_reasons = if v.is_v5() { 6 } else { 1 };
    (
        packet_id(),
        vec(reason(UnsubAckReason::ALL), 0..max_reasons),
        props_for(v, ack_properties),
    )
        .prop_map(|(packet_id, reasons, properties)| {
            UnsubAck {
                packet_id,
                reasons,
                properties,
            }
            .into()
        })
}

fn disconnect(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    if !v.is_v5() {
        return Just(Disconnect::default().into()).boxed();
    }
    (reason(DisconnectReason::ALL), disconnect_properties())
        .prop_map(|(reason, properties)| Disconnect { reason, properties }.into())
        .boxed()
}

fn auth() -> impl Strategy<Value = Packet> {
    (reason(AuthReason::ALL), auth_properties())
        .prop_map(|(reason, properties)| Auth { reason, properties }.into())
}

/// Any valid packet that `v` can carry, every packet type about equally likely. A CONNECT
/// carries `v` as its own protocol version.
pub(crate) fn packet(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    let mut arms: Vec<BoxedStrategy<Packet>> = vec![
        connect(v).boxed(),
        connack(v).boxed(),
        publish(v).boxed(),
        subscribe(v).boxed(),
        suback(v).boxed(),
        unsubscribe(v).boxed(),
        unsuback(v).boxed(),
        Just(Packet::PingReq).boxed(),
        Just(Packet::PingResp).boxed(),
        disconnect(v),
    ];
    arms.extend(pub_acks(v));
    if v.is_v5() {
        arms.push(auth().boxed());
    }
    Union::new(arms).boxed()
}

// ---- corrupted input --------------------------------------------------------------------------

/// Append `v` as a variable byte integer.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: usize) {
    loop {
        let byte = (v & 0x7F) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The length of the fixed header at the front of `wire`, which must hold a whole one.
pub(crate) fn fixed_header_len(wire: &[u8]) -> usize {
    1 + wire[1..]
        .iter()
        .position(|b| b & 0x80 == 0)
        .expect("complete fixed header")
        + 1
}

/// Arbitrary bytes; half the time a first byte naming a packet type (with the flags it
/// requires, or random ones) and a remaining length that matches the random body, so that
/// decoding reaches the body parsers.
pub(crate) fn arbitrary_bytes() -> impl Strategy<Value = Vec<u8>> {
    let framed = (
        1u8..=15,
        prop_oneof![3 => Just(None), 1 => (0u8..16).prop_map(Some)],
        // Short bodies too: most packets are a few bytes long.
        prop_oneof![
            vec(any::<u8>(), 0..8),
            vec(any::<u8>(), 0..64),
            vec(any::<u8>(), 0..512)
        ],
    )
        .prop_map(|(nibble, flags, body)| {
            let t = PacketType::from_nibble(nibble).expect("1..=15 are packet types");
            let flags = flags.unwrap_or(t.fixed_flags());
            let mut out = vec![(nibble << 4) | flags];
            put_varint(&mut out, body.len());
            out.extend_from_slice(&body);
            out
        });
    prop_oneof![vec(any::<u8>(), 0..512), framed]
}

/// One change to a byte string.
#[derive(Debug, Clone)]
pub(crate) enum Mutation {
    /// Overwrite a byte.
    Set(Index, u8),
    /// Overwrite one of the first bytes, where most length and flag fields sit.
    SetFront(u8, u8),
    /// Flip some bits of a byte.
    Xor(Index, u8),
    /// Insert a byte.
    Insert(Index, u8),
    /// Remove a byte.
    Remove(Index),
    /// Cut the bytes short.
    Truncate(Index),
}

impl Mutation {
    fn apply(&self, bytes: &mut Vec<u8>) {
        match *self {
            Self::Set(i, b) if !bytes.is_empty() => {
                let i = i.index(bytes.len());
                bytes[i] = b;
            }
            Self::SetFront(i, b) if !bytes.is_empty() => {
                let i = usize::from(i).min(bytes.len() - 1);
                bytes[i] = b;
            }
            Self::Xor(i, b) if !bytes.is_empty() => {
                let i = i.index(bytes.len());
                bytes[i] ^= b.max(1);
            }
            Self::Insert(i, b) => bytes.insert(i.index(bytes.len() + 1), b),
            Self::Remove(i) if !bytes.is_empty() => {
                bytes.remove(i.index(bytes.len()));
            }
            Self::Truncate(i) => bytes.truncate(i.index(bytes.len() + 1)),
            _ => {}
        }
    }
}

/// A byte, often one that sits on a boundary (lengths, flags, reason codes, varints).
fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        any::<u8>(),
        select(vec![
            0x00, 0x01, 0x02, 0x03, 0x04, 0x7F, 0x80, 0x81, 0xFE, 0xFF
        ]),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<Index>(), interesting_byte()).prop_map(|(i, b)| Mutation::Set(i, b)),
        2 => (0u8..8, interesting_byte()).prop_map(|(i, b)| Mutation::SetFront(i, b)),
        4 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Xor(i, b)),
        2 => (any::<Index>(), interesting_byte()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => any::<Index>().prop_map(Mutation::Remove),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

/// How a valid packet is corrupted.
#[derive(Debug, Clone)]
enum Corruption {
    /// Anywhere, fixed header included.
    Raw(Vec<Mutation>),
    /// In the body only, the remaining length rewritten to fit, so that decoding reaches the
    /// body parsers.
    Body(Vec<Mutation>),
    /// The low nibble of the fixed header replaced (DUP, QoS, RETAIN of PUBLISH; reserved
    /// flags of the others).
    Flags(u8),
}

/// A valid packet of `v` with a few bytes changed.
pub(crate) fn mutated_packet(v: ProtocolVersion) -> impl Strategy<Value = Vec<u8>> {
    let corruption = prop_oneof![
        3 => vec(mutation(), 1..4).prop_map(Corruption::Raw),
        3 => vec(mutation(), 1..4).prop_map(Corruption::Body),
        1 => (0u8..16).prop_map(Corruption::Flags),
    ];
    (packet(v), corruption).prop_map(move |(p, corruption)| {
        let mut wire = bytes::BytesMut::new();
        p.encode(v, &mut wire).expect("valid packet encodes");
        let mut wire = wire.to_vec();
        match corruption {
            Corruption::Raw(mutations) => {
                for m in &mutations {
                    m.apply(&mut wire);
                }
            }
            Corruption::Body(mutations) => {
                let mut body = wire.split_off(fixed_header_len(&wire));
                for m in &mutations {
                    m.apply(&mut body);
                }
                wire.truncate(1);
                put_varint(&mut wire, body.len());
                wire.extend_from_slice(&body);
            }
            Corruption::Flags(flags) => wire[0] = (wire[0] & 0xF0) | flags,
        }
        wire
    })
}
