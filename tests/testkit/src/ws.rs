//! The WebSocket listener's connections: the HTTP upgrade (subprotocol `mqtt` only), then a
//! bridge between binary WebSocket messages and the connection task's byte stream.
//!
//! MQTT packets may span several messages or share one, so the bridge forwards bytes, not
//! packets: two copy loops over an in-memory pipe, one per direction, so that neither
//! direction can hold the other up.

use std::time::Duration;

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::sync::watch;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};

use crate::conn;
use crate::peer::Peer;
use crate::shared::{Shared, lock};

/// The only subprotocol accepted (MQTT 3.1.1 §6, 5.0 §6).
const SUBPROTOCOL: &str = "mqtt";

/// Capacity of each direction of the pipe between the bridge and the connection task.
const PIPE_CAPACITY: usize = 64 * 1024;

/// How long the closing handshake may take once the connection has ended.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Complete the WebSocket upgrade over `stream` (TCP, or a TLS session for `wss://`), then
/// serve MQTT over it. A failed, refused or timed out upgrade closes this connection only.
pub(crate) async fn handshake<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    timeout: Duration,
    stream: S,
    peer: Peer,
    shared: Shared,
    mut shutdown: watch::Receiver<bool>,
) {
    // A WebSocket message may hold several MQTT packets, so it may be somewhat larger than
    // one; twice the maximum packet size bounds what one client can make the bridge buffer
    // (tungstenite's own defaults are 64 MiB messages and 16 MiB frames, whatever the
    // broker's limit).
    let limit = {
        let max = lock(&shared).config.max_packet_size.get();
        usize::try_from(max).unwrap_or(usize::MAX).saturating_mul(2)
    };
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    let done = tokio::select! {
        done = tokio::time::timeout(
            timeout,
            tokio_tungstenite::accept_hdr_async_with_config(stream, negotiate, Some(config)),
        ) => done,
        _ = shutdown.changed() => return,
    };
    match done {
        Ok(Ok(ws)) => {
            tracing::debug!(%peer, "WebSocket handshake done");
            let (ours, theirs) = tokio::io::duplex(PIPE_CAPACITY);
            tokio::join!(
                conn::serve(theirs, peer, shared, shutdown),
                bridge(ws, ours)
            );
        }
        Ok(Err(e)) => tracing::warn!(%peer, error = %e, "WebSocket handshake failed"),
        Err(_) => tracing::warn!(%peer, "WebSocket handshake timed out"),
    }
}

/// Accept the upgrade only if the client offers the `mqtt` subprotocol, and answer with it;
/// otherwise 400 Bad Request. Any path is accepted.
// The signature is tungstenite's handshake callback's.
#[allow(clippy::result_large_err)]
fn negotiate(request: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
    let offered = request
        .headers()
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == SUBPROTOCOL);
    if offered {
        response.headers_mut().insert(
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(SUBPROTOCOL),
        );
        Ok(response)
    } else {
        tracing::warn!("WebSocket upgrade refused: no `mqtt` subprotocol offered");
        let mut refusal = ErrorResponse::new(Some(format!(
            "the WebSocket subprotocol `{SUBPROTOCOL}` is required"
        )));
        *refusal.status_mut() = StatusCode::BAD_REQUEST;
        Err(refusal)
    }
}

/// Copy binary messages into the pipe and the pipe's bytes out as binary messages until
/// either side ends; then close the WebSocket (within [`CLOSE_TIMEOUT`]). Dropping the pipe
/// ends the connection task's stream.
async fn bridge<S: AsyncRead + AsyncWrite + Unpin>(ws: WebSocketStream<S>, pipe: DuplexStream) {
    let (mut sink, mut source) = ws.split();
    let (mut from_conn, mut to_conn) = tokio::io::split(pipe);
    let inbound = async {
        while let Some(message) = source.next().await {
            match message {
                Ok(Message::Binary(data)) => {
                    if to_conn.write_all(&data).await.is_err() {
                        return;
                    }
                }
                // Pings are answered by tungstenite itself.
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
                Ok(Message::Text(_)) => {
                    tracing::warn!(
                        "WebSocket text message: MQTT data must be sent in binary frames \
                         [MQTT-6.0.0-1]; closing"
                    );
                    return;
                }
                Ok(Message::Close(_)) => return,
                Err(e) => {
                    tracing::debug!(error = %e, "WebSocket read failed");
                    return;
                }
            }
        }
    };
    let outbound = async {
        let mut buf = BytesMut::with_capacity(PIPE_CAPACITY);
        loop {
            buf.reserve(PIPE_CAPACITY);
            match from_conn.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let data = buf.split().freeze();
                    if let Err(e) = sink.send(Message::Binary(data)).await {
                        tracing::debug!(error = %e, "WebSocket write failed");
                        return;
                    }
                }
            }
        }
    };
    tokio::select! {
        () = inbound => {}
        () = outbound => {}
    }
    drop(to_conn);
    drop(from_conn);
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.close()).await;
}
