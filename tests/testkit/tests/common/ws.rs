//! A byte stream over a WebSocket client, for [`RawClient`](super::RawClient) over the
//! `ws://` and `wss://` listeners.

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

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
                if let Message::Binary(data) = m {
                    if wr.write_all(&data).await.is_err() {
                        return;
                    }
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
