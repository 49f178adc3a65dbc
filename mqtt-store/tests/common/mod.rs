//! Helpers shared by the store's tests: scratch directories and a session with something in
//! every table.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use mqtt_proto::client::{PublishRequest, RequestId};
use mqtt_proto::{
    PacketId, ProtocolVersion, PubAckReason, PublishProperties, QoS, SubscribeFilter,
    SubscribeProperties, SubscriptionId, TopicFilter, TopicName, UserProperty,
};
use mqtt_store::{SessionChange, SessionMeta};

/// A directory of its own under the system's temporary directory, removed on drop.
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mqtt-store-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn meta(n: u32) -> SessionMeta {
    SessionMeta {
        client_id: "gateway-7".into(),
        protocol: ProtocolVersion::V5,
        expiry_interval: n,
        established: true,
    }
}

pub fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

/// A publish request with properties, so that records carry more than a topic.
pub fn request(n: u64, qos: QoS) -> PublishRequest {
    let mut props = PublishProperties::default();
    props.user_properties = vec![UserProperty::new("n", n.to_string())];
    props.content_type = Some("text/plain".into());
    PublishRequest::new(
        TopicName::new(format!("plant/line-{}/count", n % 3)).unwrap(),
        qos,
        format!("payload {n}"),
    )
    .retain(n.is_multiple_of(2))
    .properties(props)
}

/// A session with a queued, a sent and a released publish, two inbound ids and two
/// subscriptions, as the changes that make it.
pub fn sample_changes() -> Vec<SessionChange> {
    let mut props = SubscribeProperties::default();
    props.subscription_identifier = SubscriptionId::new(7);
    vec![
        SessionChange::New(meta(3600)),
        SessionChange::PublishAccepted {
            id: RequestId::new(1),
            request: request(1, QoS::AtLeastOnce),
        },
        SessionChange::PublishAccepted {
            id: RequestId::new(2),
            request: request(2, QoS::ExactlyOnce),
        },
        SessionChange::PublishAccepted {
            id: RequestId::new(3),
            request: request(3, QoS::ExactlyOnce),
        },
        SessionChange::PublishSent {
            id: RequestId::new(1),
            packet_id: pid(10),
            seq: 1,
        },
        SessionChange::PublishSent {
            id: RequestId::new(2),
            packet_id: pid(11),
            seq: 2,
        },
        SessionChange::Released {
            id: RequestId::new(2),
            packet_id: pid(11),
            order: 3,
            reason: PubAckReason::NoMatchingSubscribers,
        },
        SessionChange::InboundQos2Held {
            packet_id: pid(500),
        },
        SessionChange::InboundQos2Held { packet_id: pid(4) },
        SessionChange::Subscribed {
            subscriptions: vec![
                SubscribeFilter::new(TopicFilter::new("plant/+/alarm").unwrap(), QoS::ExactlyOnce),
                SubscribeFilter::new(
                    TopicFilter::new("$share/g/cmd/#").unwrap(),
                    QoS::AtLeastOnce,
                ),
            ],
            properties: props,
        },
    ]
}

/// The bytes of a file, or an empty vector.
pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}
