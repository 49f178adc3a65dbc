//! Where the broker is ([`Endpoint`]) and how its byte stream may be opened by the
//! application ([`Connector`]): a leaf that the options, the proxy and the transports all
//! import, so that none of them imports another for these types.

use std::fmt;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};

/// Where the broker is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// `mqtt://host:port` (default port 1883).
    Tcp {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
    },
    /// `mqtts://host:port` (default port 8883).
    Tls {
        /// Host name or address (also the TLS server name unless overridden).
        host: String,
        /// Port.
        port: u16,
    },
    /// `ws://host:port/path` (default port 80, path `/mqtt`... or as given).
    WebSocket {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
        /// Request path (with query), starting with `/`.
        path: String,
    },
    /// `wss://host:port/path` (default port 443).
    SecureWebSocket {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
        /// Request path (with query), starting with `/`.
        path: String,
    },
    /// `unix:///path/to/socket`.
    Unix {
        /// Socket path.
        path: PathBuf,
    },
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = |h: &str| {
            if h.contains(':') {
                format!("[{h}]")
            } else {
                h.to_string()
            }
        };
        match self {
            Self::Tcp { host: h, port } => write!(f, "mqtt://{}:{port}", host(h)),
            Self::Tls { host: h, port } => write!(f, "mqtts://{}:{port}", host(h)),
            Self::WebSocket {
                host: h,
                port,
                path,
            } => write!(f, "ws://{}:{port}{path}", host(h)),
            Self::SecureWebSocket {
                host: h,
                port,
                path,
            } => write!(f, "wss://{}:{port}{path}", host(h)),
            Self::Unix { path } => write!(f, "unix://{}", path.display()),
        }
    }
}

/// A connected byte stream the client can speak MQTT over: anything `AsyncRead +
/// AsyncWrite + Send + Unpin` (a blanket implementation covers every such type).
pub trait AsyncStream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> AsyncStream for T {}

/// A boxed [`AsyncStream`], what a [`Connector`] returns.
pub type BoxStream = Box<dyn AsyncStream>;

/// The future a [`Connector`] returns.
pub type ConnectorFuture = Pin<Box<dyn Future<Output = io::Result<BoxStream>> + Send>>;

/// Brings your own transport: called for every connection attempt (the first and each
/// reconnection) instead of the TCP connect, with the endpoint the options name. It
/// returns the byte stream to the broker's `host:port`; the client then runs what the
/// endpoint asks for over it: nothing more for `mqtt://`, the TLS handshake for
/// `mqtts://`, the WebSocket upgrade for `ws://`, both for `wss://`. For `unix://` the
/// stream is used as it is. An error fails the attempt as
/// [`ConnectError::Unreachable`](crate::ConnectError::Unreachable) with that error as its
/// source; the attempt is bounded by
/// [`Options::transport_timeout`](crate::Options::transport_timeout) like any other.
///
/// Set it with [`Options::with_connector`](crate::Options::with_connector); it replaces
/// the proxy (options with both are refused).
pub type Connector = Arc<dyn Fn(&Endpoint) -> ConnectorFuture + Send + Sync>;
