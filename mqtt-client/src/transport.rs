//! Opening the byte stream under MQTT: TCP, TLS, WebSocket (plain and secure), unix socket.
//! Every transport ends up as one boxed `AsyncRead + AsyncWrite`, so the connection task has
//! a single code path.

use std::io;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::error::ConnectError;
use crate::options::{Endpoint, Options};

/// A connected byte stream.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// A boxed byte stream.
pub(crate) type BoxIo = Box<dyn Io>;

/// Open the transport of `opts.endpoint`, within `opts.transport_timeout`.
pub(crate) async fn open(opts: &Options) -> Result<BoxIo, ConnectError> {
    let endpoint = opts.endpoint.to_string();
    match tokio::time::timeout(opts.transport_timeout, open_inner(opts)).await {
        Ok(r) => r,
        Err(_) => Err(ConnectError::Timeout(endpoint)),
    }
}

async fn open_inner(opts: &Options) -> Result<BoxIo, ConnectError> {
    match &opts.endpoint {
        Endpoint::Tcp { host, port } => Ok(Box::new(tcp(opts, host, *port).await?)),
        #[cfg(feature = "tls")]
        Endpoint::Tls { host, port } => {
            let tcp = tcp(opts, host, *port).await?;
            Ok(Box::new(tls(opts, host, tcp).await?))
        }
        #[cfg(feature = "websocket")]
        Endpoint::WebSocket { host, port, path } => {
            let tcp = tcp(opts, host, *port).await?;
            Ok(Box::new(
                ws::upgrade(opts, "ws", host, *port, path, tcp).await?,
            ))
        }
        #[cfg(all(feature = "websocket", feature = "tls"))]
        Endpoint::SecureWebSocket { host, port, path } => {
            let tcp = tcp(opts, host, *port).await?;
            let tls = tls(opts, host, tcp).await?;
            Ok(Box::new(
                ws::upgrade(opts, "wss", host, *port, path, tls).await?,
            ))
        }
        #[cfg(unix)]
        Endpoint::Unix { path } => {
            let s = tokio::net::UnixStream::connect(path)
                .await
                .map_err(|e| unreachable(&opts.endpoint, &e))?;
            Ok(Box::new(s))
        }
        #[allow(unreachable_patterns)]
        other => Err(ConnectError::InvalidOptions(format!(
            "{other}: this transport is not compiled in (features tls / websocket, unix only on unix)"
        ))),
    }
}

fn unreachable(endpoint: &Endpoint, e: &io::Error) -> ConnectError {
    ConnectError::Unreachable {
        endpoint: endpoint.to_string(),
        message: e.to_string(),
        kind: e.kind(),
    }
}

async fn tcp(opts: &Options, host: &str, port: u16) -> Result<TcpStream, ConnectError> {
    let stream = match opts.bind_address {
        None => TcpStream::connect((host, port)).await,
        Some(local) => connect_from(local, host, port).await,
    }
    .map_err(|e| unreachable(&opts.endpoint, &e))?;
    stream
        .set_nodelay(opts.tcp_nodelay)
        .map_err(|e| unreachable(&opts.endpoint, &e))?;
    Ok(stream)
}

/// Connect from a chosen local address: the first resolved address of the same family.
async fn connect_from(local: std::net::IpAddr, host: &str, port: u16) -> io::Result<TcpStream> {
    let mut last = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        if addr.is_ipv4() != local.is_ipv4() {
            continue;
        }
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.bind(std::net::SocketAddr::new(local, 0))?;
        match socket.connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            "no address of the bind address's family",
        )
    }))
}

#[cfg(feature = "tls")]
async fn tls<S>(
    opts: &Options,
    host: &str,
    stream: S,
) -> Result<tokio_rustls::client::TlsStream<S>, ConnectError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = opts.tls.client_config()?;
    let name = opts.tls.server_name(host)?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(|e| ConnectError::Tls {
            endpoint: opts.endpoint.to_string(),
            message: e.to_string(),
        })
}

/// Sends the buffers of one `write` call as one binary WebSocket message.
#[cfg(feature = "websocket")]
mod ws {
    use super::*;

    use std::pin::Pin;
    use std::task::{Context, Poll};

    use bytes::Bytes;
    use futures_util::{Sink, Stream};
    use tokio::io::ReadBuf;
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};

    pub(super) async fn upgrade<S>(
        opts: &Options,
        scheme: &str,
        host: &str,
        port: u16,
        path: &str,
        stream: S,
    ) -> Result<WsIo<S>, ConnectError>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin,
    {
        let fail = |message: String| ConnectError::WebSocket {
            endpoint: opts.endpoint.to_string(),
            message,
        };
        let host_part = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let url = format!("{scheme}://{host_part}:{port}{path}");
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| fail(e.to_string()))?;
        let headers = request.headers_mut();
        headers.insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
        for (k, v) in &opts.ws_headers {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|e| fail(e.to_string()))?;
            let value = HeaderValue::from_str(v).map_err(|e| fail(e.to_string()))?;
            headers.append(name, value);
        }
        let (ws, response) = tokio_tungstenite::client_async(request, stream)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let proto = response.headers().get("Sec-WebSocket-Protocol");
        if proto.is_none_or(|p| p.as_bytes() != b"mqtt") {
            return Err(fail(
                "the server did not accept the WebSocket subprotocol \"mqtt\"".into(),
            ));
        }
        Ok(WsIo {
            ws,
            read: Bytes::new(),
        })
    }

    /// A WebSocket as a byte stream: binary messages in, one binary message per write out.
    pub(crate) struct WsIo<S> {
        ws: WebSocketStream<S>,
        read: Bytes,
    }

    fn to_io(e: tokio_tungstenite::tungstenite::Error) -> io::Error {
        match e {
            tokio_tungstenite::tungstenite::Error::Io(e) => e,
            other => io::Error::other(other),
        }
    }

    impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsIo<S> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            loop {
                if !self.read.is_empty() {
                    let n = self.read.len().min(buf.remaining());
                    let chunk = self.read.split_to(n);
                    buf.put_slice(&chunk);
                    return Poll::Ready(Ok(()));
                }
                match Pin::new(&mut self.ws).poll_next(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(None) => return Poll::Ready(Ok(())),
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(to_io(e))),
                    Poll::Ready(Some(Ok(Message::Binary(b)))) => self.read = b,
                    Poll::Ready(Some(Ok(Message::Close(_)))) => return Poll::Ready(Ok(())),
                    Poll::Ready(Some(Ok(Message::Text(_)))) => {
                        // [MQTT-6.0.0-1]: MQTT goes in binary frames only.
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "text WebSocket message [MQTT-6.0.0-1]",
                        )));
                    }
                    Poll::Ready(Some(Ok(_))) => {} // ping / pong: tungstenite answers
                }
            }
        }
    }

    impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsIo<S> {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            match Pin::new(&mut self.ws).poll_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(to_io(e))),
                Poll::Ready(Ok(())) => {}
            }
            Pin::new(&mut self.ws)
                .start_send(Message::Binary(Bytes::copy_from_slice(buf)))
                .map_err(to_io)?;
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.ws).poll_flush(cx).map_err(to_io)
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.ws).poll_close(cx).map_err(to_io)
        }
    }
}
