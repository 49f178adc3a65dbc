//! The accept loop: TCP and, when configured, TLS and WebSocket; one task per connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::{conn, ws};

/// The TLS listener and what its handshakes need.
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

/// Accept on every listener until shutdown, then wait for every connection to end.
pub(crate) async fn run(
    listener: TcpListener,
    tls: Option<Tls>,
    ws: Option<Ws>,
    shared: conn::Shared,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(conn::serve(stream, peer, Arc::clone(&shared), shutdown.clone()));
                }
                Err(e) => tracing::warn!(error = %e, "accept failed"),
            },
            accepted = accept_tls(tls.as_ref()) => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    if let Some(tls) = &tls {
                        // The handshake runs in the connection's task: a slow or failing
                        // client holds up nobody else.
                        connections.spawn(handshake(
                            tls.acceptor.clone(),
                            tls.handshake_timeout,
                            stream,
                            peer,
                            Arc::clone(&shared),
                            shutdown.clone(),
                        ));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "TLS accept failed"),
            },
            accepted = accept_ws(ws.as_ref()) => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    if let Some(ws) = &ws {
                        connections.spawn(ws::handshake(
                            ws.handshake_timeout,
                            stream,
                            peer,
                            Arc::clone(&shared),
                            shutdown.clone(),
                        ));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "WebSocket accept failed"),
            },
            // A send or a dropped sender both mean stop.
            _ = shutdown.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    drop(tls);
    drop(ws);
    while connections.join_next().await.is_some() {}
    tracing::info!("broker stopped");
}

/// The next TLS connection (before its handshake); never, without a TLS listener.
async fn accept_tls(tls: Option<&Tls>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match tls {
        Some(tls) => tls.listener.accept().await,
        None => std::future::pending().await,
    }
}

/// The next WebSocket connection (before its upgrade); never, without a WebSocket listener.
async fn accept_ws(ws: Option<&Ws>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match ws {
        Some(ws) => ws.listener.accept().await,
        None => std::future::pending().await,
    }
}

/// Complete the TLS handshake, then serve MQTT over it. A failed or timed out handshake
/// closes this connection only.
async fn handshake(
    acceptor: TlsAcceptor,
    timeout: Duration,
    stream: TcpStream,
    peer: SocketAddr,
    shared: conn::Shared,
    mut shutdown: watch::Receiver<bool>,
) {
    let done = tokio::select! {
        done = tokio::time::timeout(timeout, acceptor.accept(stream)) => done,
        _ = shutdown.changed() => return,
    };
    match done {
        Ok(Ok(stream)) => {
            tracing::debug!(%peer, "TLS handshake done");
            conn::serve(stream, peer, shared, shutdown).await;
        }
        Ok(Err(e)) => tracing::warn!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => tracing::warn!(%peer, "TLS handshake timed out"),
    }
}
