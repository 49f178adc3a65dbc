//! [`ConnectionStatus`]: what the connection task publishes on its status watch. A leaf
//! beside the client handle that reads it and the task that writes it.

use crate::error::ConnectError;

/// Where the connection stands; watch it with [`Client::status`](crate::Client::status).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ConnectionStatus {
    /// The first connection is being made.
    Connecting,
    /// Connected: CONNACK accepted the connection.
    #[non_exhaustive]
    Connected {
        /// The broker had a session for us.
        session_present: bool,
    },
    /// The connection was lost; the client is trying again.
    #[non_exhaustive]
    Reconnecting {
        /// Attempts made since the connection was lost (1 for the first retry).
        attempt: u32,
        /// Why the last connection or attempt failed.
        last_error: ConnectError,
    },
    /// The client has stopped for good: after [`Client::disconnect`](crate::Client::disconnect),
    /// a refusal that cannot succeed by retrying, or reconnection given up. Every request
    /// has ended.
    #[non_exhaustive]
    Disconnected {
        /// Why (`None` after a clean [`Client::disconnect`](crate::Client::disconnect) or
        /// when every handle was dropped; the error if the connection was lost while
        /// disconnecting).
        reason: Option<ConnectError>,
    },
}

impl ConnectionStatus {
    /// Whether this is [`ConnectionStatus::Connected`].
    pub fn is_connected(&self) -> bool {
        matches!(self, Self::Connected { .. })
    }
}
