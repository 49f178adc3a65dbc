//! Settings fixed when the broker starts, and the checks that read only them:
//! authentication, the deny lists, the topic level cap.

use std::collections::HashMap;
use std::num::{NonZeroU16, NonZeroU32};
use std::sync::Arc;
use std::time::Duration;

use mqtt_proto::QoS;

use crate::acl::{Access, Acl, Authenticator, Authorizer};

/// What the log names when an [`Authorizer`] refused (it has no pattern to show).
const AUTHORIZER: &str = "(authorizer)";

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
    /// The most QoS 1 and 2 messages in flight to one client (below its Receive Maximum).
    pub(crate) max_inflight_out: usize,
    /// Checks user names and passwords beside `users`.
    pub(crate) authenticator: Option<Arc<dyn Authenticator>>,
    /// Whether clients without a user name are let in; `None`: only when no users (and
    /// no authenticator) are set.
    pub(crate) allow_anonymous: Option<bool>,
    /// Decides what each client may subscribe to, receive and publish.
    pub(crate) authorizer: Option<Arc<dyn Authorizer>>,
}

/// Why a CONNECT fails authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    /// No user name (or no password) with a user table set; or refused by the
    /// authenticator (mosquitto answers a password file's refusal so).
    NoCredentials,
    /// Unknown user name or wrong password.
    BadCredentials,
}

impl Config {
    /// Check a CONNECT's credentials against the user table and the authenticator, if
    /// there are any. A client without a user name is let in if anonymous clients are
    /// allowed; one with a user name and neither a table nor an authenticator is let in
    /// (as mosquitto does without a password file).
    pub(crate) fn authenticate(
        &self,
        username: Option<&str>,
        password: Option<&[u8]>,
    ) -> Result<(), AuthFailure> {
        let checked = self.users.is_some() || self.authenticator.is_some();
        let Some(username) = username else {
            return if self.allow_anonymous.unwrap_or(!checked) {
                Ok(())
            } else {
                Err(AuthFailure::NoCredentials)
            };
        };
        if !checked {
            return Ok(());
        }
        let Some(password) = password else {
            return Err(AuthFailure::NoCredentials);
        };
        let in_table = self
            .users
            .as_ref()
            .and_then(|users| users.get(username))
            .is_some_and(|expected| expected.as_bytes() == password);
        let by_hook = || {
            self.authenticator
                .as_ref()
                .is_some_and(|a| a.check(username, password))
        };
        if in_table || by_hook() {
            Ok(())
        } else if self.authenticator.is_some() {
            // As mosquitto answers a password file's refusal: Not authorized.
            Err(AuthFailure::NoCredentials)
        } else {
            Err(AuthFailure::BadCredentials)
        }
    }

    /// Whether the authorizer (if any) lets `client_id` (`user`) have `access` to `topic`.
    pub(crate) fn allows(
        &self,
        client_id: &str,
        user: Option<&str>,
        topic: &str,
        access: Access,
    ) -> bool {
        self.authorizer
            .as_ref()
            .is_none_or(|a| a.allows(client_id, user, topic, access))
    }

    /// The deny pattern that forbids `user` (the CONNECT's user name) subscribing to
    /// `filter`, if any: a global one, then the user's own. Patterns are matched against
    /// the filter string as it was sent (`a/#` denies `a/+`, `a/b/#`...).
    /// Then the authorizer, if any, is asked.
    pub(crate) fn subscribe_denied(
        &self,
        client_id: &str,
        user: Option<&str>,
        filter: &str,
    ) -> Option<&str> {
        self.deny_subscribe
            .iter()
            .find(|pattern| mqtt_proto::topic::matches(pattern, filter))
            .map(String::as_str)
            .or_else(|| self.user_acl(user)?.subscribe_denied(filter))
            .or_else(|| {
                (!self.allows(client_id, user, filter, Access::Subscribe)).then_some(AUTHORIZER)
            })
    }

    /// The deny pattern that forbids `user` publishing to `topic`, if any: a global one,
    /// then the user's own, then the authorizer's answer.
    pub(crate) fn publish_denied(
        &self,
        client_id: &str,
        user: Option<&str>,
        topic: &str,
    ) -> Option<&str> {
        self.deny_publish
            .iter()
            .find(|pattern| mqtt_proto::topic::matches(pattern, topic))
            .map(String::as_str)
            .or_else(|| self.user_acl(user)?.publish_denied(topic))
            .or_else(|| (!self.allows(client_id, user, topic, Access::Write)).then_some(AUTHORIZER))
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
            max_inflight_out: usize::from(u16::MAX),
            authenticator: None,
            allow_anonymous: None,
            authorizer: None,
        }
    }
}
