//! Opening the byte stream under MQTT: TCP (direct, through a proxy, or from the
//! application's [`Connector`]), TLS, WebSocket (plain and secure), unix socket. Every
//! transport ends up as one boxed `AsyncRead + AsyncWrite`, so the connection task has a
//! single code path.

use std::io;
use std::sync::Arc;

#[cfg(any(feature = "tls", feature = "websocket"))]
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::endpoint::{BoxStream, Endpoint};
#[cfg(feature = "tls")]
use crate::error::TlsError;
use crate::error::{ConnectError, ProxyError};
use crate::options::Options;
use crate::proxy::{self, ProxyKind};

/// A boxed byte stream.
pub(crate) type BoxIo = BoxStream;

/// Open the transport of `opts.endpoint`, within `opts.transport_timeout`.
pub(crate) async fn open(opts: &Options) -> Result<BoxIo, ConnectError> {
    let endpoint = opts.endpoint.to_string();
    match tokio::time::timeout(opts.transport_timeout, open_inner(opts)).await {
        Ok(r) => r,
        Err(_) => Err(ConnectError::Timeout(endpoint)),
    }
}

async fn open_inner(opts: &Options) -> Result<BoxIo, ConnectError> {
    if opts.connector.is_some() && opts.proxy.is_some() {
        return Err(ConnectError::InvalidOptions(
            "both a proxy and a connector: the connector replaces the proxy, set one".into(),
        ));
    }
    match &opts.endpoint {
        Endpoint::Tcp { host, port } => stream(opts, host, *port).await,
        #[cfg(feature = "tls")]
        Endpoint::Tls { host, port } => {
            let s = stream(opts, host, *port).await?;
            Ok(Box::new(tls(opts, host, s).await?))
        }
        #[cfg(feature = "websocket")]
        Endpoint::WebSocket { host, port, path } => {
            let s = stream(opts, host, *port).await?;
            Ok(Box::new(
                ws::upgrade(opts, "ws", host, *port, path, s).await?,
            ))
        }
        #[cfg(all(feature = "websocket", feature = "tls"))]
        Endpoint::SecureWebSocket { host, port, path } => {
            let s = stream(opts, host, *port).await?;
            let tls = tls(opts, host, s).await?;
            Ok(Box::new(
                ws::upgrade(opts, "wss", host, *port, path, tls).await?,
            ))
        }
        Endpoint::Unix { .. } if opts.connector.is_some() => connector(opts).await,
        Endpoint::Unix { .. } if opts.proxy.is_some() => Err(ConnectError::InvalidOptions(
            "a proxy cannot reach a unix socket".into(),
        )),
        #[cfg(unix)]
        Endpoint::Unix { path } => {
            let s = tokio::net::UnixStream::connect(path)
                .await
                .map_err(|e| unreachable(&opts.endpoint, e))?;
            Ok(Box::new(s))
        }
        #[allow(unreachable_patterns)]
        other => Err(ConnectError::InvalidOptions(format!(
            "{other}: this transport is not compiled in (features tls / websocket, unix only on unix)"
        ))),
    }
}

fn unreachable(endpoint: &Endpoint, e: io::Error) -> ConnectError {
    ConnectError::Unreachable {
        endpoint: endpoint.to_string(),
        message: e.to_string(),
        kind: e.kind(),
        source: Arc::new(e),
    }
}

/// The byte stream to `host:port`: from the connector, through the proxy, or TCP.
async fn stream(opts: &Options, host: &str, port: u16) -> Result<BoxIo, ConnectError> {
    if opts.connector.is_some() {
        return connector(opts).await;
    }
    let Some(p) = &opts.proxy else {
        let s = tcp(opts, host, port)
            .await
            .map_err(|e| unreachable(&opts.endpoint, e))?;
        return Ok(Box::new(s));
    };
    let fail = |source: ProxyError| ConnectError::Proxy {
        proxy: p.to_string(),
        endpoint: opts.endpoint.to_string(),
        source,
    };
    // socks5:// (not socks5h://): the name is resolved here, the proxy gets an address.
    let target = match p.kind {
        ProxyKind::Socks5 if host.parse::<std::net::IpAddr>().is_err() => {
            tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| unreachable(&opts.endpoint, e))?
                .next()
                .ok_or_else(|| {
                    unreachable(
                        &opts.endpoint,
                        io::Error::new(io::ErrorKind::NotFound, "the name has no address"),
                    )
                })?
                .ip()
                .to_string()
        }
        _ => host.to_string(),
    };
    let mut s = tcp(opts, &p.host, p.port)
        .await
        .map_err(|e| fail(ProxyError::io(e)))?;
    proxy::handshake(p, &mut s, &target, port)
        .await
        .map_err(fail)?;
    Ok(Box::new(s))
}

async fn connector(opts: &Options) -> Result<BoxIo, ConnectError> {
    match &opts.connector {
        Some(c) => c(&opts.endpoint)
            .await
            .map_err(|e| unreachable(&opts.endpoint, e)),
        None => Err(ConnectError::InvalidOptions("no connector".into())),
    }
}

async fn tcp(opts: &Options, host: &str, port: u16) -> io::Result<TcpStream> {
    let stream = match opts.bind_address {
        None => TcpStream::connect((host, port)).await,
        Some(local) => connect_from(local, host, port).await,
    }?;
    stream.set_nodelay(opts.tcp_nodelay)?;
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

/// The connection failed with this I/O error before CONNACK: a TLS error (an alert from
/// the broker) when it is one. Under TLS 1.3 the client's side of the handshake ends
/// before the broker has checked the client certificate, so a broker refusing it says
/// so (with an alert) only when the client reads, after sending CONNECT.
#[cfg(feature = "tls")]
pub(crate) fn tls_failure(endpoint: &Endpoint, e: &io::Error) -> Option<ConnectError> {
    let r = e.get_ref()?.downcast_ref::<tokio_rustls::rustls::Error>()?;
    Some(ConnectError::Tls {
        endpoint: endpoint.to_string(),
        message: r.to_string(),
        source: TlsError::Rustls(r.clone()),
    })
}

/// Without TLS no error is a TLS error.
#[cfg(not(feature = "tls"))]
pub(crate) fn tls_failure(_endpoint: &Endpoint, _e: &io::Error) -> Option<ConnectError> {
    None
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
            source: TlsError::from_io(e),
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
        type Source = Option<Arc<dyn std::error::Error + Send + Sync>>;
        let fail_with = |message: String, source: Source| ConnectError::WebSocket {
            endpoint: opts.endpoint.to_string(),
            message,
            source,
        };
        let fail = |e: tokio_tungstenite::tungstenite::Error| {
            let message = e.to_string();
            let source: Arc<dyn std::error::Error + Send + Sync> = match e {
                tokio_tungstenite::tungstenite::Error::Io(io) => Arc::new(io),
                other => Arc::new(other),
            };
            fail_with(message, Some(source))
        };
        let fail_http = |e: tokio_tungstenite::tungstenite::http::Error| {
            fail_with(e.to_string(), Some(Arc::new(e)))
        };
        let host_part = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let url = format!("{scheme}://{host_part}:{port}{path}");
        let mut request = url.as_str().into_client_request().map_err(fail)?;
        let headers = request.headers_mut();
        headers.insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
        for (k, v) in &opts.ws_headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| fail_http(tokio_tungstenite::tungstenite::http::Error::from(e)))?;
            let value = HeaderValue::from_str(v)
                .map_err(|e| fail_http(tokio_tungstenite::tungstenite::http::Error::from(e)))?;
            headers.append(name, value);
        }
        let (ws, response) = tokio_tungstenite::client_async(request, stream)
            .await
            .map_err(fail)?;
        let proto = response.headers().get("Sec-WebSocket-Protocol");
        if proto.is_none_or(|p| p.as_bytes() != b"mqtt") {
            return Err(fail_with(
                "the server did not accept the WebSocket subprotocol \"mqtt\"".into(),
                None,
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
