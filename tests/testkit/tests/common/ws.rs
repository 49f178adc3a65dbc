//! A byte stream over a WebSocket client, for [`RawClient`](super::RawClient) over the
//! `ws://` and `wss://` listeners.

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// Upgrade `stream` to a WebSocket at `url`, offering `subprotocol` if any; the broker
/// must answer with the subprotocol `mqtt`.
pub async fn ws_upgrade<S>(
    stream: S,
    url: &str,
    subprotocol: Option<&str>,
) -> Result<WebSocketStream<S>, WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut request = url.into_client_request().unwrap();
    if let Some(p) = subprotocol {
        request
            .headers_mut()
            .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_str(p).unwrap());
    }
    let (ws, response) = tokio_tungstenite::client_async(request, stream).await?;
    assert_eq!(
        response.headers().get(SEC_WEBSOCKET_PROTOCOL).unwrap(),
        "mqtt"
    );
    Ok(ws)
}

/// A byte stream over a WebSocket client (each write a binary message), for [`RawClient`](super::RawClient).
pub fn ws_pipe<S>(ws: WebSocketStream<S>) -> DuplexStream
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let (mut sink, mut source) = ws.split();
        let (mut rd, mut wr) = tokio::io::split(ours);
        let inbound = async {
            while let Some(Ok(m)) = source.next().await {
                if let Message::Binary(data) = m
                    && wr.write_all(&data).await.is_err()
                {
                    return;
                }
            }
        };
        let outbound = async {
            let mut buf = BytesMut::new();
            loop {
                buf.reserve(8 * 1024);
                match rd.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        if sink
                            .send(Message::Binary(buf.split().freeze()))
                            .await
                            .is_err()
                        {
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
    });
    theirs
}
