//! What to connect to and how: [`Options`], built from a URL or field by field.

use std::fmt;
use std::future::Future;
use std::num::{NonZeroU16, NonZeroU32};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use bytestring::ByteString;
use mqtt_proto::client::{ClientOptions, SessionLossPolicy};
use mqtt_proto::{
    ProtocolVersion, QoS, SubscribeFilter, SubscribeProperties, TopicFilter, UserProperty, Will,
};

use crate::endpoint::{BoxStream, Connector, Endpoint};
use crate::error::ConnectError;
use crate::proxy::Proxy;
#[cfg(feature = "tls")]
use crate::tls::TlsOptions;

/// The default largest packet accepted from the server (and announced on 5.0): 8 MiB.
pub const DEFAULT_MAX_PACKET_SIZE: u32 = 8 * 1024 * 1024;

/// The default limit on outbound QoS 1 and 2 messages in flight on MQTT 5.0 (the broker's
/// Receive Maximum, if lower, wins).
pub const DEFAULT_MAX_INFLIGHT: u16 = 100;

/// The default limit on outbound QoS 1 and 2 messages in flight on MQTT 3.1 and 3.1.1,
/// where a broker has no way to announce its own: 20, libmosquitto's default and what
/// mosquitto accepts by default (`max_inflight_messages 20`; past it mosquitto answers a
/// QoS 2 message with PUBREC and drops it).
pub const DEFAULT_MAX_INFLIGHT_V3: u16 = 20;

/// User name and password for one connection attempt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<Bytes>,
}

/// The future a [`CredentialsHook`] returns.
pub type CredentialsFuture = Pin<Box<dyn Future<Output = Result<Credentials, String>> + Send>>;

/// Called before every connection attempt, for credentials that rotate (tokens). An error
/// fails that attempt ([`ConnectError::Credentials`]); reconnection goes on.
pub type CredentialsHook = Arc<dyn Fn() -> CredentialsFuture + Send + Sync>;

/// Which way a traced packet went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Written to the broker.
    Sent,
    /// Received from the broker.
    Received,
}

/// Called with every packet sent or received, for debugging output (`mqsub -d`); the
/// packets are decoded a second time from the bytes on the wire, so only set it when the
/// output is wanted.
pub type PacketTrace = Arc<dyn Fn(Direction, &mqtt_proto::Packet) + Send + Sync>;

/// Reconnection after a connection that had succeeded is lost: exponential backoff with full
/// jitter. The delay before attempt `n` (from 0) is uniformly random in
/// `0..=min(max, min * 2^n)`, and the attempt counter goes back to 0 once a connection has
/// stayed up for `reset_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reconnect {
    /// Reconnect at all (default true).
    pub enabled: bool,
    /// The base delay (default 100 ms).
    pub min_delay: Duration,
    /// The largest delay (default 30 s).
    pub max_delay: Duration,
    /// A connection that lasted this long resets the backoff (default 60 s).
    pub reset_after: Duration,
    /// Stop after this many failed attempts in a row (default: never).
    pub max_attempts: Option<u32>,
    /// Keep trying after a refusal that cannot succeed by retrying (bad user name or
    /// password, not authorised, banned, bad client identifier): off by default.
    pub retry_fatal_refusals: bool,
}

impl Default for Reconnect {
    fn default() -> Self {
        Self {
            enabled: true,
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(30),
            reset_after: Duration::from_secs(60),
            max_attempts: None,
            retry_fatal_refusals: false,
        }
    }
}

/// Everything [`Client::connect`](crate::Client::connect) needs. Build with
/// [`Options::new`] (an endpoint) or [`Options::from_url`], then change fields or use the
/// `with_*` methods.
#[derive(Clone)]
#[non_exhaustive]
pub struct Options {
    /// Where to connect.
    pub endpoint: Endpoint,
    /// The MQTT session options (protocol version, client id, keepalive, will, limits...).
    /// Defaults: 5.0, a generated client id, clean start, keepalive 60 s, 8 MiB packets.
    pub mqtt: ClientOptions,
    /// On 5.0, if the broker refuses the protocol version on the first connection, connect
    /// again with 3.1.1 (off by default).
    pub fallback_to_v311: bool,
    /// The local address to connect from (mosquitto's `-A`); any port.
    pub bind_address: Option<std::net::IpAddr>,
    /// TCP_NODELAY (default true: MQTT packets are small and latency matters; writes are
    /// batched by the client anyway).
    pub tcp_nodelay: bool,
    /// How long the transport (TCP connect, TLS and WebSocket handshakes) may take (default
    /// 30 s). The wait for CONNACK is `mqtt.connect_timeout`.
    pub transport_timeout: Duration,
    /// TLS settings for `mqtts://` and `wss://`.
    #[cfg(feature = "tls")]
    pub tls: TlsOptions,
    /// Extra HTTP headers for the WebSocket upgrade request.
    pub ws_headers: Vec<(String, String)>,
    /// Reach the broker through this proxy (SOCKS5 or HTTP CONNECT), under every
    /// transport but unix sockets: TLS and WebSocket run end to end through the tunnel,
    /// and the TLS server name is still the broker's. None by default; the environment
    /// is read only by [`with_proxy_from_env`](Self::with_proxy_from_env).
    pub proxy: Option<Proxy>,
    /// Open the byte stream with this hook instead of TCP (see
    /// [`Connector`](crate::Connector)).
    pub connector: Option<Connector>,
    /// Reconnection policy.
    pub reconnect: Reconnect,
    /// Called before every connection attempt to get the user name and password.
    pub credentials: Option<CredentialsHook>,
    /// Publish, subscribe and unsubscribe requests that may wait for the connection task at
    /// once (default 1024): beyond it [`publish`](crate::Client::publish) waits and
    /// [`try_publish`](crate::Client::try_publish) fails.
    pub request_queue: usize,
    /// Messages each subscription stream (and the catch-all stream) holds before the client
    /// stops reading the socket (default 1024). A stream being read also takes up to 32 at
    /// a time from its queue into its own buffer, so up to 32 more may be held.
    pub message_queue: usize,
    /// Called with every packet sent or received (see [`PacketTrace`]).
    pub packet_trace: Option<PacketTrace>,
    /// On 5.0, give each SUBSCRIBE without one a Subscription Identifier of the client's
    /// own choosing (when the server supports them), to route messages to their
    /// subscription's stream without matching filters (default true). Tools that must send
    /// exactly what the user asked for (mqsub, like mosquitto_sub) turn it off; routing then
    /// matches topic filters.
    pub auto_subscription_ids: bool,
    /// Subscriptions made as part of connecting, each one SUBSCRIBE (see
    /// [`Options::with_subscription`]). Their messages arrive on the catch-all
    /// [`Messages`](crate::Messages) stream, in the order they arrived, from the first
    /// PUBLISH after CONNACK on: the way to read a resumed persistent session in order.
    pub subscriptions: Vec<DeclaredSubscription>,
    /// `max_inflight` was chosen with [`with_max_inflight`](Self::with_max_inflight): no
    /// default by version applies.
    max_inflight_chosen: bool,
}

/// A subscription declared in [`Options::subscriptions`]: one SUBSCRIBE, sent as part of
/// connecting.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeclaredSubscription {
    /// The filters with their options.
    pub subscriptions: Vec<SubscribeFilter>,
    /// The SUBSCRIBE properties (5.0).
    pub properties: SubscribeProperties,
}

impl DeclaredSubscription {
    /// One SUBSCRIBE with these filters and properties.
    pub fn new(subscriptions: Vec<SubscribeFilter>, properties: SubscribeProperties) -> Self {
        Self {
            subscriptions,
            properties,
        }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("endpoint", &self.endpoint)
            .field("mqtt", &self.mqtt)
            .field("fallback_to_v311", &self.fallback_to_v311)
            .field("tcp_nodelay", &self.tcp_nodelay)
            .field("proxy", &self.proxy)
            .field("connector", &self.connector.is_some())
            .field("reconnect", &self.reconnect)
            .field("credentials_hook", &self.credentials.is_some())
            .field("request_queue", &self.request_queue)
            .field("message_queue", &self.message_queue)
            .field("packet_trace", &self.packet_trace.is_some())
            .field("subscriptions", &self.subscriptions)
            .finish_non_exhaustive()
    }
}

impl Options {
    /// Options for this endpoint with the defaults.
    pub fn new(endpoint: Endpoint) -> Self {
        let mut mqtt = ClientOptions::new(ProtocolVersion::V5, generated_client_id());
        mqtt.max_packet_size = NonZeroU32::new(DEFAULT_MAX_PACKET_SIZE).unwrap_or(NonZeroU32::MAX);
        mqtt.max_inflight = NonZeroU16::new(DEFAULT_MAX_INFLIGHT).unwrap_or(NonZeroU16::MAX);
        Self {
            endpoint,
            mqtt,
            fallback_to_v311: false,
            bind_address: None,
            tcp_nodelay: true,
            transport_timeout: Duration::from_secs(30),
            #[cfg(feature = "tls")]
            tls: TlsOptions::default(),
            ws_headers: Vec::new(),
            proxy: None,
            connector: None,
            reconnect: Reconnect::default(),
            credentials: None,
            request_queue: 1024,
            message_queue: 1024,
            packet_trace: None,
            auto_subscription_ids: true,
            subscriptions: Vec::new(),
            max_inflight_chosen: false,
        }
    }

    /// Options from a URL: `mqtt://`, `mqtts://`, `ws://`, `wss://` or `unix://`, with an
    /// optional `user:password@` (percent-encoded) and, for WebSocket, a path (default
    /// `/mqtt`). Query parameters understood: `client_id`, `keep_alive` (seconds),
    /// `clean_start` (`true`/`false`), `version` (`5`, `3.1.1` or `311`, `3.1` or `31`).
    ///
    /// These apply to `mqtt://` and `mqtts://` URLs only. For `ws://` and `wss://` the query
    /// belongs to the HTTP request: it is kept, whole and unchanged, in the request path
    /// (a broker or proxy may need it, e.g. for a token) and no MQTT option is read from
    /// it, not even `client_id`; set those with the `with_*` methods.
    ///
    /// ```
    /// let opts = mqtt_client::Options::from_url("mqtt://user:secret@localhost:1884?client_id=c1").unwrap();
    /// assert_eq!(opts.mqtt.client_id, "c1");
    /// assert_eq!(opts.mqtt.username.as_deref(), Some("user"));
    /// ```
    pub fn from_url(url: &str) -> Result<Self, ConnectError> {
        let parsed = parse_url(url)?;
        let mut opts = Self::new(parsed.endpoint);
        if let Some(u) = parsed.username {
            opts.mqtt.username = Some(ByteString::from(u));
        }
        if let Some(p) = parsed.password {
            opts.mqtt.password = Some(Bytes::from(p));
        }
        for (k, v) in parsed.query {
            let bad = || ConnectError::InvalidUrl(format!("bad value for {k}: {v:?}"));
            match k.as_str() {
                "client_id" | "clientId" => opts.mqtt.client_id = ByteString::from(v.clone()),
                "keep_alive" | "keepalive" => {
                    opts.mqtt.keep_alive = Duration::from_secs(v.parse().map_err(|_| bad())?);
                }
                "clean_start" | "clean" => {
                    opts.mqtt.clean_start = v.parse().map_err(|_| bad())?;
                }
                "version" | "protocol" => {
                    opts.mqtt.protocol = match v.as_str() {
                        "5" | "5.0" => ProtocolVersion::V5,
                        "3.1.1" | "311" | "4" => ProtocolVersion::V3_1_1,
                        "3.1" | "31" | "3" => ProtocolVersion::V3_1,
                        _ => return Err(bad()),
                    };
                }
                _ => {
                    return Err(ConnectError::InvalidUrl(format!(
                        "unknown query parameter {k:?}"
                    )));
                }
            }
        }
        Ok(opts)
    }

    /// Set the protocol version.
    pub fn with_protocol(mut self, protocol: ProtocolVersion) -> Self {
        self.mqtt.protocol = protocol;
        self
    }

    /// Set the client identifier (empty: the server assigns one; 3.1.1 needs clean start).
    pub fn with_client_id(mut self, id: impl Into<String>) -> Self {
        self.mqtt.client_id = ByteString::from(id.into());
        self
    }

    /// Set clean start (5.0) / clean session (3.1.1).
    pub fn with_clean_start(mut self, clean: bool) -> Self {
        self.mqtt.clean_start = clean;
        self
    }

    /// Set the Session Expiry Interval (5.0), seconds.
    pub fn with_session_expiry(mut self, secs: u32) -> Self {
        self.mqtt.session_expiry_interval = secs;
        self
    }

    /// Set the keepalive (zero turns it off).
    pub fn with_keep_alive(mut self, keep_alive: Duration) -> Self {
        self.mqtt.keep_alive = keep_alive;
        self
    }

    /// Set the user name and password.
    pub fn with_credentials(
        mut self,
        username: impl Into<String>,
        password: impl Into<Bytes>,
    ) -> Self {
        self.mqtt.username = Some(ByteString::from(username.into()));
        self.mqtt.password = Some(password.into());
        self
    }

    /// Call `hook` before every connection attempt for the user name and password.
    pub fn with_credentials_hook<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Credentials, String>> + Send + 'static,
    {
        self.credentials = Some(Arc::new(move || Box::pin(hook())));
        self
    }

    /// Set the will message.
    pub fn with_will(mut self, will: Will) -> Self {
        self.mqtt.will = Some(will);
        self
    }

    /// Acknowledge inbound QoS 1 and 2 messages only when the application calls
    /// [`Message::ack`](crate::Message::ack).
    pub fn with_manual_acks(mut self, manual: bool) -> Self {
        self.mqtt.manual_acks = manual;
        self
    }

    /// Set our limit on outbound QoS 1 and 2 messages awaiting acknowledgement. By default
    /// it is [`DEFAULT_MAX_INFLIGHT`] (100) on 5.0, where the broker's Receive Maximum, if
    /// lower, wins, and [`DEFAULT_MAX_INFLIGHT_V3`] (20) on 3.1 and 3.1.1, where the broker
    /// cannot announce a limit. The default follows the version the client connects with
    /// (the 3.1.1 fallback included) unless set here or `mqtt.max_inflight` was changed.
    pub fn with_max_inflight(mut self, max: NonZeroU16) -> Self {
        self.mqtt.max_inflight = max;
        self.max_inflight_chosen = true;
        self
    }

    /// Apply the defaults that depend on the protocol version (once it is known: at connect
    /// and after a fallback to 3.1.1): the in-flight window of 3.1 and 3.1.1.
    pub(crate) fn apply_version_defaults(&mut self) {
        let untouched = self.mqtt.max_inflight.get() == DEFAULT_MAX_INFLIGHT;
        if !self.mqtt.protocol.is_v5() && untouched && !self.max_inflight_chosen {
            self.mqtt.max_inflight =
                NonZeroU16::new(DEFAULT_MAX_INFLIGHT_V3).unwrap_or(NonZeroU16::MIN);
        }
    }

    /// Set the reconnection policy.
    pub fn with_reconnect(mut self, reconnect: Reconnect) -> Self {
        self.reconnect = reconnect;
        self
    }

    /// Set the session-loss policy.
    pub fn with_session_loss(mut self, policy: SessionLossPolicy) -> Self {
        self.mqtt.session_loss = policy;
        self
    }

    /// Add a CONNECT user property (5.0).
    pub fn with_user_property(mut self, name: &str, value: &str) -> Self {
        self.mqtt
            .user_properties
            .push(UserProperty::new(name.to_string(), value.to_string()));
        self
    }

    /// Subscribe to `filter` as part of connecting: the SUBSCRIBE is queued before CONNECT
    /// and goes out with the first packets after CONNACK, and its route exists before
    /// anything is read, so its messages (a resumed session's queued ones included) all
    /// arrive on the catch-all [`Messages`](crate::Messages) stream, in the order the broker
    /// sent them. [`Client::declared_subscriptions`](crate::Client::declared_subscriptions)
    /// has the SUBACKs. Each call is one SUBSCRIBE.
    ///
    /// ```
    /// use mqtt_client::{Options, QoS, TopicFilter};
    ///
    /// let options = Options::from_url("mqtt://localhost")?
    ///     .with_client_id("worker-1")
    ///     .with_clean_start(false)
    ///     .with_session_expiry(3600)
    ///     .with_subscription(TopicFilter::new("jobs/#")?, QoS::AtLeastOnce);
    /// assert_eq!(options.subscriptions.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_subscription(self, filter: TopicFilter, qos: QoS) -> Self {
        self.with_subscriptions(
            vec![SubscribeFilter::new(filter, qos)],
            SubscribeProperties::default(),
        )
    }

    /// Subscribe to several filters (with their options and the SUBSCRIBE's properties) in
    /// one SUBSCRIBE as part of connecting; see [`with_subscription`](Self::with_subscription).
    pub fn with_subscriptions(
        mut self,
        subscriptions: Vec<SubscribeFilter>,
        properties: SubscribeProperties,
    ) -> Self {
        self.subscriptions
            .push(DeclaredSubscription::new(subscriptions, properties));
        self
    }

    /// Reach the broker through this proxy.
    ///
    /// ```
    /// use mqtt_client::{Options, Proxy};
    ///
    /// let opts = Options::from_url("mqtts://broker.example")
    ///     .unwrap()
    ///     .with_proxy(Proxy::from_url("socks5h://proxy.corp:1080").unwrap());
    /// assert_eq!(opts.proxy.unwrap().port, 1080);
    /// ```
    pub fn with_proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// Use the proxy the environment names for this endpoint, if any (see
    /// [`Proxy::from_env`]: `mqtt_proxy`, `mqtts_proxy`, `http_proxy`, `https_proxy` by
    /// scheme, then `ALL_PROXY`; `NO_PROXY` excludes hosts). The variables are read now.
    /// A variable that is not a proxy URL is an error.
    pub fn with_proxy_from_env(mut self) -> Result<Self, ConnectError> {
        if let Some(p) = Proxy::from_env(&self.endpoint)? {
            self.proxy = Some(p);
        }
        Ok(self)
    }

    /// Open the byte stream to the broker with `connect` (see
    /// [`Connector`](crate::Connector)).
    ///
    /// ```
    /// use mqtt_client::{BoxStream, Endpoint, Options};
    ///
    /// let opts = Options::from_url("mqtt://broker.example:1883")
    ///     .unwrap()
    ///     .with_connector(|endpoint: &Endpoint| {
    ///         // Any AsyncRead + AsyncWrite: here a TCP connection to another address.
    ///         let _ = endpoint;
    ///         async {
    ///             let s = tokio::net::TcpStream::connect("127.0.0.1:1883").await?;
    ///             Ok(Box::new(s) as BoxStream)
    ///         }
    ///     });
    /// assert!(opts.connector.is_some());
    /// ```
    pub fn with_connector<F, Fut>(mut self, connect: F) -> Self
    where
        F: Fn(&Endpoint) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::io::Result<BoxStream>> + Send + 'static,
    {
        self.connector = Some(Arc::new(move |e: &Endpoint| Box::pin(connect(e))));
        self
    }

    /// Set the TLS options.
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, tls: TlsOptions) -> Self {
        self.tls = tls;
        self
    }
}

/// A client identifier unique enough for a session of its own: `mqttc-` and 16 random
/// hexadecimal digits (22 characters: within the 23 that 3.1 allows).
pub fn generated_client_id() -> String {
    format!("mqttc-{:016x}", crate::backoff::random_u64())
}

#[derive(Debug)]
struct ParsedUrl {
    endpoint: Endpoint,
    username: Option<String>,
    password: Option<Vec<u8>>,
    query: Vec<(String, String)>,
}

fn parse_url(url: &str) -> Result<ParsedUrl, ConnectError> {
    let bad = |why: &str| ConnectError::InvalidUrl(format!("{why}: {url:?}"));
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("missing scheme (mqtt://, mqtts://, ws://, wss://, unix://)"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme == "unix" {
        if rest.is_empty() {
            return Err(bad("missing socket path"));
        }
        return Ok(ParsedUrl {
            endpoint: Endpoint::Unix {
                path: PathBuf::from(percent_decode_str(rest)?),
            },
            username: None,
            password: None,
            query: Vec::new(),
        });
    }
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (username, password) = match userinfo {
        None => (None, None),
        Some(u) => match u.split_once(':') {
            Some((user, pass)) => (Some(percent_decode_str(user)?), Some(percent_decode(pass)?)),
            None => (Some(percent_decode_str(u)?), None),
        },
    };
    let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
        let (h, after) = h.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(|| bad("bad port"))?),
        };
        (h.to_string(), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (hostport.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(bad("missing host"));
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().map_err(|_| bad("bad port"))?),
        None => None,
    };
    let ws_path = |path: &str| {
        let p = if path.is_empty() { "/mqtt" } else { path };
        match query {
            Some(q) => format!("{p}?{q}"),
            None => p.to_string(),
        }
    };
    let mut mqtt_query = Vec::new();
    let endpoint = match scheme.as_str() {
        "mqtt" | "tcp" => Endpoint::Tcp {
            host,
            port: port.unwrap_or(1883),
        },
        "mqtts" | "ssl" | "tls" => Endpoint::Tls {
            host,
            port: port.unwrap_or(8883),
        },
        "ws" => Endpoint::WebSocket {
            host,
            port: port.unwrap_or(80),
            path: ws_path(path),
        },
        "wss" => Endpoint::SecureWebSocket {
            host,
            port: port.unwrap_or(443),
            path: ws_path(path),
        },
        other => return Err(bad(&format!("unsupported scheme {other:?}"))),
    };
    if matches!(endpoint, Endpoint::Tcp { .. } | Endpoint::Tls { .. }) {
        if !path.is_empty() && path != "/" {
            return Err(bad("an mqtt:// or mqtts:// URL has no path"));
        }
        if let Some(q) = query {
            for pair in q.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                mqtt_query.push((percent_decode_str(k)?, percent_decode_str(v)?));
            }
        }
    }
    Ok(ParsedUrl {
        endpoint,
        username,
        password,
        query: mqtt_query,
    })
}

fn percent_decode(s: &str) -> Result<Vec<u8>, ConnectError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    ConnectError::InvalidUrl(format!("bad percent-encoding in {s:?}"))
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn percent_decode_str(s: &str) -> Result<String, ConnectError> {
    String::from_utf8(percent_decode(s)?)
        .map_err(|_| ConnectError::InvalidUrl(format!("{s:?} is not UTF-8 once decoded")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn schemes_and_default_ports() {
        let cases = [
            (
                "mqtt://h",
                Endpoint::Tcp {
                    host: "h".into(),
                    port: 1883,
                },
            ),
            (
                "mqtts://h",
                Endpoint::Tls {
                    host: "h".into(),
                    port: 8883,
                },
            ),
            (
                "ws://h",
                Endpoint::WebSocket {
                    host: "h".into(),
                    port: 80,
                    path: "/mqtt".into(),
                },
            ),
            (
                "wss://h:8443/x/y?z=1",
                Endpoint::SecureWebSocket {
                    host: "h".into(),
                    port: 8443,
                    path: "/x/y?z=1".into(),
                },
            ),
            (
                "mqtt://[::1]:1884",
                Endpoint::Tcp {
                    host: "::1".into(),
                    port: 1884,
                },
            ),
            (
                "unix:///tmp/mq.sock",
                Endpoint::Unix {
                    path: "/tmp/mq.sock".into(),
                },
            ),
        ];
        for (url, endpoint) in cases {
            assert_eq!(Options::from_url(url).unwrap().endpoint, endpoint, "{url}");
        }
    }

    #[test]
    fn credentials_are_percent_decoded() {
        let o = Options::from_url("mqtt://us%40er:p%3Ass@localhost").unwrap();
        assert_eq!(o.mqtt.username.as_deref(), Some("us@er"));
        assert_eq!(o.mqtt.password.as_deref(), Some(&b"p:ss"[..]));
    }

    #[test]
    fn query_parameters() {
        let o = Options::from_url(
            "mqtt://h?client_id=abc&keep_alive=5&clean_start=false&version=3.1.1",
        )
        .unwrap();
        assert_eq!(o.mqtt.client_id, "abc");
        assert_eq!(o.mqtt.keep_alive, Duration::from_secs(5));
        assert!(!o.mqtt.clean_start);
        assert_eq!(o.mqtt.protocol, ProtocolVersion::V3_1_1);
    }

    #[test]
    fn a_websocket_query_belongs_to_the_http_request() {
        let o = Options::from_url("ws://h/mqtt?client_id=abc&token=x%20y").unwrap();
        assert_eq!(
            o.endpoint,
            Endpoint::WebSocket {
                host: "h".into(),
                port: 80,
                path: "/mqtt?client_id=abc&token=x%20y".into(),
            }
        );
        // Not read as MQTT options: the client id is the generated one.
        assert_ne!(o.mqtt.client_id, "abc");
        let o = Options::from_url("wss://h?keep_alive=x&unknown=1").unwrap();
        assert_eq!(
            o.endpoint,
            Endpoint::SecureWebSocket {
                host: "h".into(),
                port: 443,
                path: "/mqtt?keep_alive=x&unknown=1".into(),
            }
        );
    }

    #[test]
    fn bad_urls_are_typed_errors() {
        for url in [
            "localhost:1883",
            "http://h",
            "mqtt://",
            "mqtt://h:99999",
            "mqtt://h:x",
            "mqtt://h/path",
            "mqtt://[::1",
            "mqtt://h?nope=1",
            "mqtt://h?keep_alive=x",
            "mqtt://u%zz@h",
        ] {
            assert!(
                matches!(Options::from_url(url), Err(ConnectError::InvalidUrl(_))),
                "{url}"
            );
        }
    }

    #[test]
    fn the_inflight_window_defaults_by_version() {
        let window = |o: Options| {
            let mut o = o;
            o.apply_version_defaults();
            o.mqtt.max_inflight.get()
        };
        let url = |v: &str| Options::from_url(&format!("mqtt://h?version={v}")).unwrap();
        assert_eq!(window(url("5")), 100);
        assert_eq!(window(url("3.1.1")), 20);
        assert_eq!(window(url("3.1")), 20);
        assert_eq!(window(url("5").with_protocol(ProtocolVersion::V3_1_1)), 20);
        // A window the user chose stays, 100 included.
        let chosen = url("3.1.1").with_max_inflight(NonZeroU16::new(100).unwrap());
        assert_eq!(window(chosen), 100);
        let mut set = url("3.1.1");
        set.mqtt.max_inflight = NonZeroU16::new(50).unwrap();
        assert_eq!(window(set), 50);
    }

    #[test]
    fn generated_ids_fit_mqtt_3_1() {
        let id = generated_client_id();
        assert!(id.len() <= 23, "{id}");
        assert_ne!(generated_client_id(), id);
    }
}
