//! The accept loop: TCP and, when configured, TLS, WebSocket, secure WebSocket and a unix
//! domain socket; one task per connection.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::peer::Peer;
use crate::shared::Shared;
use crate::{conn, ws};

/// Every listener the broker accepts on.
pub(crate) struct Listeners {
    pub(crate) tcp: Option<TcpListener>,
    pub(crate) tls: Option<Tls>,
    pub(crate) ws: Option<Ws>,
    pub(crate) wss: Option<Tls>,
    pub(crate) unix: Option<Unix>,
}

/// A TLS listener (MQTT over TLS, or secure WebSocket) and what its handshakes need.
pub(crate) struct Tls {
    pub(crate) listener: TcpListener,
    pub(crate) acceptor: TlsAcceptor,
    /// How long a handshake may take (the connect timeout).
    pub(crate) handshake_timeout: Duration,
}

/// The WebSocket listener.
pub(crate) struct Ws {
    pub(crate) listener: TcpListener,
    /// How long the HTTP upgrade may take (the connect timeout).
    pub(crate) handshake_timeout: Duration,
}

/// The unix domain socket listener and its path (removed when the broker stops).
pub(crate) struct Unix {
    #[cfg(unix)]
    pub(crate) listener: tokio::net::UnixListener,
    pub(crate) path: PathBuf,
}

/// A connection accepted on the unix domain socket.
#[cfg(unix)]
type UnixStream = tokio::net::UnixStream;
/// No unix domain sockets here: never accepted.
#[cfg(not(unix))]
type UnixStream = std::convert::Infallible;

/// Accept on every listener until shutdown, then wait for every connection to end.
pub(crate) async fn run(listeners: Listeners, shared: Shared, mut shutdown: watch::Receiver<bool>) {
    let Listeners {
        tcp,
        tls,
        ws,
        wss,
        unix,
    } = listeners;
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = accept_tcp(tcp.as_ref()) => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(conn::serve(
                        stream,
                        Peer::Tcp(peer),
                        Arc::clone(&shared),
                        shutdown.clone(),
                    ));
                }
                Err(e) => tracing::warn!(error = %e, "accept failed"),
            },
            accepted = accept_tcp(tls.as_ref().map(|t| &t.listener)) => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    if let Some(tls) = &tls {
                        // The handshake runs in the connection's task: a slow or failing
                        // client holds up nobody else.
                        connections.spawn(handshake(
                            tls.acceptor.clone(),
                            tls.handshake_timeout,
                            false,
                            stream,
                            peer,
                            Arc::clone(&shared),
                            shutdown.clone(),
                        ));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "TLS accept failed"),
            },
            accepted = accept_tcp(ws.as_ref().map(|w| &w.listener)) => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    if let Some(ws) = &ws {
                        connections.spawn(ws::handshake(
                            ws.handshake_timeout,
                            stream,
                            Peer::Tcp(peer),
                            Arc::clone(&shared),
                            shutdown.clone(),
                        ));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "WebSocket accept failed"),
            },
            accepted = accept_tcp(wss.as_ref().map(|t| &t.listener)) => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    if let Some(wss) = &wss {
                        connections.spawn(handshake(
                            wss.acceptor.clone(),
                            wss.handshake_timeout,
                            true,
                            stream,
                            peer,
                            Arc::clone(&shared),
                            shutdown.clone(),
                        ));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "secure WebSocket accept failed"),
            },
            accepted = accept_unix(unix.as_ref()) => match accepted {
                Ok(stream) => {
                    connections.spawn(serve_unix(stream, Arc::clone(&shared), shutdown.clone()));
                }
                Err(e) => tracing::warn!(error = %e, "unix socket accept failed"),
            },
            // A send or a dropped sender both mean stop.
            _ = shutdown.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(tcp);
    drop(tls);
    drop(ws);
    drop(wss);
    if let Some(unix) = unix {
        let path = unix.path.clone();
        drop(unix);
        // The listener is closed; the socket file would refuse a later bind to the path.
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove the unix socket");
        }
    }
    while connections.join_next().await.is_some() {}
    tracing::info!("broker stopped");
}

/// The next connection on an optional TCP listener (before any handshake); never, without
/// the listener.
async fn accept_tcp(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// The next connection on the unix domain socket; never, without one.
async fn accept_unix(unix: Option<&Unix>) -> std::io::Result<UnixStream> {
    match unix {
        #[cfg(unix)]
        Some(unix) => unix.listener.accept().await.map(|(stream, _)| stream),
        _ => std::future::pending().await,
    }
}

/// Serve MQTT over a unix domain socket connection.
async fn serve_unix(stream: UnixStream, shared: Shared, shutdown: watch::Receiver<bool>) {
    #[cfg(unix)]
    conn::serve(stream, Peer::Unix, shared, shutdown).await;
    #[cfg(not(unix))]
    match stream {}
}

/// Complete the TLS handshake, then serve MQTT over it, or (`websocket`) complete the
/// WebSocket upgrade over it first, all within `timeout`. A failed or timed out handshake
/// closes this connection only.
async fn handshake(
    acceptor: TlsAcceptor,
    timeout: Duration,
    websocket: bool,
    stream: TcpStream,
    peer: SocketAddr,
    shared: Shared,
    mut shutdown: watch::Receiver<bool>,
) {
    let start = Instant::now();
    let done = tokio::select! {
        done = tokio::time::timeout(timeout, acceptor.accept(stream)) => done,
        _ = shutdown.changed() => return,
    };
    match done {
        Ok(Ok(stream)) => {
            tracing::debug!(%peer, "TLS handshake done");
            if websocket {
                let left = timeout.saturating_sub(start.elapsed());
                ws::handshake(left, stream, Peer::Tcp(peer), shared, shutdown).await;
            } else {
                conn::serve(stream, Peer::Tcp(peer), shared, shutdown).await;
            }
        }
        Ok(Err(e)) => tracing::warn!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => tracing::warn!(%peer, "TLS handshake timed out"),
    }
}
