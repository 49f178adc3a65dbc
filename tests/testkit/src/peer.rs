//! Who is at the other end of a connection, for logs.

use std::fmt;
use std::net::SocketAddr;

/// Who is at the other end of a connection, for logs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Peer {
    /// A TCP peer (plain, TLS, WebSocket or secure WebSocket).
    Tcp(SocketAddr),
    /// A client of the unix domain socket (such peers are normally unnamed).
    Unix,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(addr) => addr.fmt(f),
            Self::Unix => f.write_str("unix socket"),
        }
    }
}
