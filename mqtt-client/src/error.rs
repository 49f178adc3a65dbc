//! Errors: why a connection could not be made, and why a request failed.

use std::fmt;
use std::io;
use std::sync::Arc;

use mqtt_proto::client::{ConnectionError, RequestError};
use mqtt_proto::{ConnectReason, TopicError};

/// Why [`Client::connect`](crate::Client::connect) failed (and, in
/// [`ConnectionStatus`](crate::ConnectionStatus), why a reconnection attempt did).
///
/// Transport failures keep the error that caused them, reachable through
/// [`std::error::Error::source`] and the `source` fields: an [`io::Error`] (match its
/// [`kind`](io::Error::kind), or use [`io_kind`](Self::io_kind)), a rustls error
/// ([`TlsError::Rustls`]), a WebSocket error, or what a proxy answered ([`ProxyError`]).
/// The error is `Clone` (it is also in the status watch), so the sources are shared
/// (`Arc`) where their own type is not `Clone`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL is not one the client understands.
    InvalidUrl(String),
    /// The options cannot work (a TLS file that cannot be read, an OS trust store that
    /// cannot be loaded, a feature not compiled in...).
    InvalidOptions(String),
    /// The broker could not be reached (DNS, TCP connect, unix socket, a
    /// [`Connector`](crate::Connector) that failed).
    Unreachable {
        /// The endpoint, as text.
        endpoint: String,
        /// The I/O error, as text.
        message: String,
        /// Its kind.
        kind: io::ErrorKind,
        /// The I/O error itself.
        source: Arc<io::Error>,
    },
    /// The transport did not come up within the transport timeout.
    Timeout(String),
    /// The TLS handshake failed (certificate not trusted, name mismatch, a client
    /// certificate the broker refused...).
    Tls {
        /// The endpoint, as text.
        endpoint: String,
        /// What rustls (or the socket) said.
        message: String,
        /// The rustls error, or the I/O error that broke the handshake.
        source: TlsError,
    },
    /// The WebSocket upgrade failed.
    WebSocket {
        /// The endpoint, as text.
        endpoint: String,
        /// What went wrong.
        message: String,
        /// The WebSocket library's error (`tokio_tungstenite::tungstenite::Error`), or
        /// `None` when the upgrade succeeded but the server did not agree to MQTT.
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },
    /// The proxy could not be reached, refused the credentials, or could not (or would
    /// not) connect to the broker.
    Proxy {
        /// The proxy, as a URL without its credentials.
        proxy: String,
        /// The endpoint, as text.
        endpoint: String,
        /// What went wrong.
        source: ProxyError,
    },
    /// The credentials hook failed.
    Credentials(String),
    /// The broker refused the connection (CONNACK with a failure code).
    Refused {
        /// The reason code (3.1.1 return codes are mapped to their 5.0 equivalents).
        reason: ConnectReason,
        /// The Reason String (5.0).
        reason_string: Option<String>,
        /// The Server Reference (5.0).
        server_reference: Option<String>,
    },
    /// The MQTT connection failed before or after CONNACK (timeout, malformed packet,
    /// protocol error, the transport closed...).
    Connection(ConnectionError),
    /// The client was shut down before the connection completed.
    Shutdown,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidUrl(m) => write!(f, "invalid URL: {m}"),
            Self::InvalidOptions(m) => write!(f, "invalid options: {m}"),
            Self::Unreachable {
                endpoint, message, ..
            } => write!(f, "cannot reach {endpoint}: {message}"),
            Self::Timeout(e) => write!(f, "timed out connecting to {e}"),
            Self::Tls {
                endpoint, message, ..
            } => write!(f, "TLS handshake with {endpoint} failed: {message}"),
            Self::WebSocket {
                endpoint, message, ..
            } => write!(f, "WebSocket upgrade with {endpoint} failed: {message}"),
            Self::Proxy {
                proxy,
                endpoint,
                source,
            } => write!(f, "proxy {proxy} (to {endpoint}): {source}"),
            Self::Credentials(m) => write!(f, "credentials hook failed: {m}"),
            Self::Refused { reason, .. } => write!(f, "connection refused: {reason}"),
            Self::Connection(e) => fmt::Display::fmt(e, f),
            Self::Shutdown => f.write_str("the client was shut down"),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Unreachable { source, .. } => Some(&**source),
            Self::Tls { source, .. } => Some(source.as_dyn()),
            Self::WebSocket {
                source: Some(source),
                ..
            } => Some(&**source),
            Self::Proxy { source, .. } => Some(source),
            // Transparent, as before: the same source as the error it wraps.
            Self::Connection(e) => e.source(),
            _ => None,
        }
    }
}

impl ConnectError {
    /// The refusal can only repeat if the client retries as it is: bad user name or password,
    /// not authorised, banned, client identifier not valid, protocol not supported.
    pub fn is_fatal_refusal(&self) -> bool {
        matches!(
            self,
            Self::Refused {
                reason: ConnectReason::BadUserNameOrPassword
                    | ConnectReason::NotAuthorized
                    | ConnectReason::Banned
                    | ConnectReason::ClientIdentifierNotValid
                    | ConnectReason::UnsupportedProtocolVersion
                    | ConnectReason::BadAuthenticationMethod,
                ..
            }
        )
    }

    /// The kind of the I/O error behind this failure, if an I/O error caused it: the broker
    /// (or the proxy) unreachable, a TLS handshake or a proxy exchange broken by the socket.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            Self::Unreachable { kind, .. } => Some(*kind),
            Self::Tls {
                source: TlsError::Io(e),
                ..
            } => Some(e.kind()),
            Self::Proxy {
                source: ProxyError::Io(e),
                ..
            } => Some(e.kind()),
            _ => None,
        }
    }

    /// The rustls error behind a failed TLS handshake (a certificate not trusted, an alert
    /// the broker sent...).
    #[cfg(feature = "tls")]
    pub fn tls_error(&self) -> Option<&tokio_rustls::rustls::Error> {
        match self {
            Self::Tls {
                source: TlsError::Rustls(e),
                ..
            } => Some(e),
            _ => None,
        }
    }
}

/// Why a TLS handshake failed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TlsError {
    /// rustls refused or was refused: a certificate not trusted or issued for another
    /// name, an alert from the broker (`AlertReceived(CertificateRequired)` when a broker
    /// wants a client certificate...). The type is re-exported as
    /// [`mqtt_client::rustls::Error`](crate::rustls::Error).
    #[cfg(feature = "tls")]
    Rustls(tokio_rustls::rustls::Error),
    /// The socket failed during the handshake (the broker closed it, a reset...).
    Io(Arc<io::Error>),
}

impl TlsError {
    fn as_dyn(&self) -> &(dyn std::error::Error + 'static) {
        match self {
            #[cfg(feature = "tls")]
            Self::Rustls(e) => e,
            Self::Io(e) => &**e,
        }
    }

    /// From the I/O error a TLS stream returned: rustls's own error when it is one.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn from_io(e: io::Error) -> Self {
        #[cfg(feature = "tls")]
        if let Some(r) = e
            .get_ref()
            .and_then(|i| i.downcast_ref::<tokio_rustls::rustls::Error>())
        {
            return Self::Rustls(r.clone());
        }
        Self::Io(Arc::new(e))
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_dyn(), f)
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.as_dyn())
    }
}

/// What went wrong with a proxy (see [`Proxy`](crate::Proxy)).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ProxyError {
    /// The proxy could not be reached, or the connection to it broke during the exchange.
    Io(Arc<io::Error>),
    /// The proxy wants credentials and none were given (SOCKS5: no acceptable
    /// authentication method; HTTP: 407 without credentials).
    AuthenticationRequired,
    /// The proxy refused the user name and password (SOCKS5 username/password
    /// authentication failed; HTTP: 407 with credentials).
    AuthenticationFailed,
    /// The SOCKS5 proxy could not connect to the broker: its reply code (RFC 1928 section
    /// 6: 1 general failure, 2 not allowed by ruleset, 3 network unreachable, 4 host
    /// unreachable, 5 connection refused, 6 TTL expired, 7 command not supported, 8
    /// address type not supported).
    Socks5 {
        /// The reply code.
        reply: u8,
    },
    /// The HTTP proxy answered CONNECT with a status other than 2xx.
    Http {
        /// The status code.
        status: u16,
        /// The reason phrase.
        reason: String,
    },
    /// The proxy's answer was not one of its protocol, or a value cannot be sent to it
    /// (a user name longer than 255 bytes...).
    Protocol(String),
}

impl ProxyError {
    /// From an I/O error.
    pub(crate) fn io(e: io::Error) -> Self {
        Self::Io(Arc::new(e))
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => fmt::Display::fmt(e, f),
            Self::AuthenticationRequired => f.write_str("the proxy requires authentication"),
            Self::AuthenticationFailed => f.write_str("the proxy refused the credentials"),
            Self::Socks5 { reply } => {
                let text = match reply {
                    1 => "general SOCKS server failure",
                    2 => "connection not allowed by ruleset",
                    3 => "network unreachable",
                    4 => "host unreachable",
                    5 => "connection refused",
                    6 => "TTL expired",
                    7 => "command not supported",
                    8 => "address type not supported",
                    _ => "unknown reply",
                };
                write!(f, "SOCKS5 reply {reply}: {text}")
            }
            Self::Http { status, reason } => write!(f, "HTTP CONNECT answered {status} {reason}"),
            Self::Protocol(m) => write!(f, "proxy protocol error: {m}"),
        }
    }
}

impl std::error::Error for ProxyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(&**e),
            _ => None,
        }
    }
}

impl From<ConnectionError> for ConnectError {
    fn from(e: ConnectionError) -> Self {
        match e {
            ConnectionError::Refused {
                reason,
                server_reference,
                reason_string,
            } => Self::Refused {
                reason,
                reason_string: reason_string.map(|s| s.to_string()),
                server_reference: server_reference.map(|s| s.to_string()),
            },
            other => Self::Connection(other),
        }
    }
}

/// Why a request (publish, subscribe, unsubscribe) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The topic name or filter is not valid.
    #[error("invalid topic: {0}")]
    Topic(#[from] TopicError),
    /// The request queue is full ([`Client::try_publish`](crate::Client::try_publish) and
    /// friends).
    #[error("the request queue is full")]
    QueueFull,
    /// The client has shut down (after [`Client::disconnect`](crate::Client::disconnect),
    /// a refusal that stopped reconnection, or the last handle dropped).
    #[error("the client is closed")]
    Closed,
    /// The broker or the session ended the request: refused with a reason code, session
    /// lost, a server limit, a packet too large...
    #[error(transparent)]
    Request(#[from] RequestError),
}
