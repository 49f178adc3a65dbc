//! Per-user authorisation: deny lists of topic filter patterns, for
//! [`BrokerBuilder::user_acl`](crate::BrokerBuilder::user_acl).

/// What one user may not do: topic filter patterns it may not subscribe to or publish to,
/// on top of the broker's global deny lists
/// ([`BrokerBuilder::deny_subscribe`](crate::BrokerBuilder::deny_subscribe),
/// [`BrokerBuilder::deny_publish`](crate::BrokerBuilder::deny_publish)). Patterns are matched
/// and refusals reported exactly as the global ones are.
///
/// ```
/// use mqtt_testkit::{Acl, Broker};
///
/// let builder = Broker::builder()
///     .user("alice", "secret")
///     .user_acl("alice", Acl::new().deny_subscribe("admin/#").deny_publish("$SYS/#"));
/// # let _ = builder;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl {
    deny_subscribe: Vec<String>,
    deny_publish: Vec<String>,
}

impl Acl {
    /// An ACL that denies nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also refuse subscriptions whose topic filter matches `pattern` (a topic filter,
    /// matched against the subscribed filter string; a shared subscription is also checked
    /// by its inner filter).
    pub fn deny_subscribe(mut self, pattern: impl Into<String>) -> Self {
        self.deny_subscribe.push(pattern.into());
        self
    }

    /// Also refuse publishing (and wills) to topics matching `pattern` (a topic filter).
    pub fn deny_publish(mut self, pattern: impl Into<String>) -> Self {
        self.deny_publish.push(pattern.into());
        self
    }

    /// Add another ACL's patterns to this one's.
    pub(crate) fn extend(&mut self, other: Self) {
        self.deny_subscribe.extend(other.deny_subscribe);
        self.deny_publish.extend(other.deny_publish);
    }

    /// The pattern that forbids subscribing to `filter`, if any.
    pub(crate) fn subscribe_denied(&self, filter: &str) -> Option<&str> {
        first_match(&self.deny_subscribe, filter)
    }

    /// The pattern that forbids publishing to `topic`, if any.
    pub(crate) fn publish_denied(&self, topic: &str) -> Option<&str> {
        first_match(&self.deny_publish, topic)
    }
}

fn first_match<'a>(patterns: &'a [String], name: &str) -> Option<&'a str> {
    patterns
        .iter()
        .find(|pattern| mqtt_proto::topic::matches(pattern, name))
        .map(String::as_str)
}

/// What a client asks to do with a topic, as an [`Authorizer`] is asked about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Subscribe to this topic filter (the filter as sent; a shared subscription is asked
    /// about by its inner filter too).
    Subscribe,
    /// Receive a message on this topic name: asked for every message about to be queued
    /// for a session (retained ones included), whatever filter matched it.
    Read,
    /// Publish to this topic name (a will included).
    Write,
}

/// Decides, beside the deny lists, what a client may do with a topic: the hook behind
/// access control files such as mosquitto's `acl_file`
/// ([`BrokerBuilder::authorizer`](crate::BrokerBuilder::authorizer)). It is called with the
/// broker's state locked, so it must be quick and must not block.
///
/// A refused [`Access::Subscribe`] is refused in the SUBACK (0x80, 5.0: 0x87), a refused
/// [`Access::Write`] as a deny-listed publish is, and a refused [`Access::Read`] keeps
/// that one message from that session: a subscription to `#` still receives nothing
/// from topics the client may not read.
pub trait Authorizer: Send + Sync + std::fmt::Debug {
    /// Whether the client `client_id`, connected with user name `username`, may have
    /// `access` to `topic`.
    fn allows(&self, client_id: &str, username: Option<&str>, topic: &str, access: Access) -> bool;
}

/// Checks a user name and password, beside or instead of a user table: the hook behind
/// password files such as mosquitto's `password_file`
/// ([`BrokerBuilder::authenticator`](crate::BrokerBuilder::authenticator)). Called with the
/// broker's state locked: it should be quick (a hashed password file is best checked
/// against a cache of what already succeeded). A CONNECT it refuses is answered as mosquitto
/// answers one its password file refuses: return code 5 Not authorized (5.0: 0x87).
pub trait Authenticator: Send + Sync + std::fmt::Debug {
    /// Whether `password` is right for `username`.
    fn check(&self, username: &str, password: &[u8]) -> bool;
}
