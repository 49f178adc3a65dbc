//! Errors: why a connection could not be made, and why a request failed.

use mqtt_proto::client::{ConnectionError, RequestError};
use mqtt_proto::{ConnectReason, TopicError};

/// Why [`Client::connect`](crate::Client::connect) failed (and, in
/// [`ConnectionStatus`](crate::ConnectionStatus), why a reconnection attempt did).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL is not one the client understands.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// The options cannot work (a TLS file that cannot be read, a feature not compiled in...).
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    /// The broker could not be reached (DNS, TCP connect, unix socket).
    #[error("cannot reach {endpoint}: {message}")]
    Unreachable {
        /// The endpoint, as text.
        endpoint: String,
        /// The I/O error.
        message: String,
        /// Its kind.
        kind: std::io::ErrorKind,
    },
    /// The transport did not come up within the transport timeout.
    #[error("timed out connecting to {0}")]
    Timeout(String),
    /// The TLS handshake failed (certificate not trusted, name mismatch...).
    #[error("TLS handshake with {endpoint} failed: {message}")]
    Tls {
        /// The endpoint, as text.
        endpoint: String,
        /// What rustls said.
        message: String,
    },
    /// The WebSocket upgrade failed.
    #[error("WebSocket upgrade with {endpoint} failed: {message}")]
    WebSocket {
        /// The endpoint, as text.
        endpoint: String,
        /// What went wrong.
        message: String,
    },
    /// The credentials hook failed.
    #[error("credentials hook failed: {0}")]
    Credentials(String),
    /// The broker refused the connection (CONNACK with a failure code).
    #[error("connection refused: {reason}")]
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
    #[error(transparent)]
    Connection(ConnectionError),
    /// The client was shut down before the connection completed.
    #[error("the client was shut down")]
    Shutdown,
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
