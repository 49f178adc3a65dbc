//! Settings fixed when the broker starts, and the checks that read only them:
//! authentication, the deny lists, the topic level cap.

use std::collections::HashMap;
use std::num::{NonZeroU16, NonZeroU32};
use std::time::Duration;

use mqtt_proto::QoS;

use crate::acl::Acl;

/// The default of [`Config::max_subscriptions`].
const DEFAULT_MAX_SUBSCRIPTIONS: usize = 10_000;
/// The default of [`Config::max_connections`].
const DEFAULT_MAX_CONNECTIONS: usize = 1_000;
/// The default of [`Config::max_topic_levels`].
const DEFAULT_MAX_TOPIC_LEVELS: usize = 1_000;

/// Settings fixed when the broker starts.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) max_packet_size: NonZeroU32,
    pub(crate) max_queued_messages: usize,
    pub(crate) connect_timeout: Duration,
    pub(crate) packet_timeout: Duration,
    /// User name → password; `None`: anonymous clients are allowed.
    pub(crate) users: Option<HashMap<String, String>>,
    /// Topic filter patterns no client may subscribe to.
    pub(crate) deny_subscribe: Vec<String>,
    /// Topic filter patterns no client may publish to.
    pub(crate) deny_publish: Vec<String>,
    /// More deny patterns, by user name (the CONNECT's).
    pub(crate) user_acls: HashMap<String, Acl>,
    /// The most subscriptions one session may hold.
    pub(crate) max_subscriptions: usize,
    /// The most clients connected at once (past CONNECT).
    pub(crate) max_connections: usize,
    /// The most levels a topic name or filter may have.
    pub(crate) max_topic_levels: usize,
    /// The longest keep alive a 5.0 client may use (0 and longer become this).
    pub(crate) max_keep_alive: Option<u16>,
    /// The Topic Alias Maximum announced to 5.0 clients (0: aliases refused).
    pub(crate) topic_alias_maximum: u16,
    /// The Receive Maximum announced to 5.0 clients and enforced on them.
    pub(crate) receive_maximum: NonZeroU16,
    /// The highest QoS accepted in a PUBLISH and granted to a subscription.
    pub(crate) maximum_qos: QoS,
    /// Whether 5.0 SUBSCRIBEs may carry a Subscription Identifier.
    pub(crate) subscription_identifiers: bool,
    /// Whether the broker assigns topic aliases to 5.0 clients that accept them.
    pub(crate) assign_topic_aliases: bool,
}

/// Why a CONNECT fails authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    /// No user name (or no password) with a user table set.
    NoCredentials,
    /// Unknown user name or wrong password.
    BadCredentials,
}

impl Config {
    /// Check a CONNECT's credentials against the user table, if there is one.
    pub(crate) fn authenticate(
        &self,
        username: Option<&str>,
        password: Option<&[u8]>,
    ) -> Result<(), AuthFailure> {
        let Some(users) = &self.users else {
            return Ok(());
        };
        let (Some(username), Some(password)) = (username, password) else {
            return Err(AuthFailure::NoCredentials);
        };
        match users.get(username) {
            Some(expected) if expected.as_bytes() == password => Ok(()),
            _ => Err(AuthFailure::BadCredentials),
        }
    }

    /// The deny pattern that forbids `user` (the CONNECT's user name) subscribing to
    /// `filter`, if any: a global one, then the user's own. Patterns are matched against
    /// the filter string as it was sent (`a/#` denies `a/+`, `a/b/#`...).
    pub(crate) fn subscribe_denied(&self, user: Option<&str>, filter: &str) -> Option<&str> {
        self.deny_subscribe
            .iter()
            .find(|pattern| mqtt_proto::topic::matches(pattern, filter))
            .map(String::as_str)
            .or_else(|| self.user_acl(user)?.subscribe_denied(filter))
    }

    /// The deny pattern that forbids `user` publishing to `topic`, if any: a global one,
    /// then the user's own.
    pub(crate) fn publish_denied(&self, user: Option<&str>, topic: &str) -> Option<&str> {
        self.deny_publish
            .iter()
            .find(|pattern| mqtt_proto::topic::matches(pattern, topic))
            .map(String::as_str)
            .or_else(|| self.user_acl(user)?.publish_denied(topic))
    }

    fn user_acl(&self, user: Option<&str>) -> Option<&Acl> {
        self.user_acls.get(user?)
    }

    /// Whether a topic name or filter has more levels than allowed.
    pub(crate) fn too_many_levels(&self, topic: &str) -> bool {
        // Levels are separated by '/': n separators, n + 1 levels. Counting stops early.
        topic
            .bytes()
            .filter(|b| *b == b'/')
            .nth(self.max_topic_levels.saturating_sub(1))
            .is_some()
    }
}

impl Default for Config {
    /// The codec's default maximum packet size (16 MiB), 1000 queued messages per session,
    /// 10 s to send CONNECT, 30 s to complete a half-received packet, anonymous clients,
    /// no deny lists, every 5.0 feature announced as fully available.
    fn default() -> Self {
        Self {
            max_packet_size: NonZeroU32::new(mqtt_proto::DEFAULT_DECODER_MAX_PACKET_SIZE)
                .unwrap_or(NonZeroU32::MAX),
            max_queued_messages: 1000,
            connect_timeout: Duration::from_secs(10),
            packet_timeout: Duration::from_secs(30),
            users: None,
            deny_subscribe: Vec::new(),
            deny_publish: Vec::new(),
            user_acls: HashMap::new(),
            max_subscriptions: DEFAULT_MAX_SUBSCRIPTIONS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_topic_levels: DEFAULT_MAX_TOPIC_LEVELS,
            max_keep_alive: None,
            topic_alias_maximum: 0,
            receive_maximum: NonZeroU16::MAX,
            maximum_qos: QoS::ExactlyOnce,
            subscription_identifiers: true,
            assign_topic_aliases: false,
        }
    }
}
