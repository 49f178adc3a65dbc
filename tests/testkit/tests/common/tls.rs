//! TLS clients for the broker's TLS and secure WebSocket listeners: tokio-rustls trusting
//! a generated CA (`mqtt_testkit::certs`).

use std::net::SocketAddr;
use std::sync::Arc;

use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::{TlsConnector, rustls};

/// A client configuration (ring) trusting `trusted` only, without a client certificate.
pub fn connector(trusted: &CertificateDer<'static>) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// A TLS session to `addr` as `server_name`, through `connector`.
pub async fn tls_stream_with(
    addr: SocketAddr,
    connector: TlsConnector,
    server_name: &str,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    connector.connect(name, tcp).await
}

/// A TLS session to `addr` as "localhost", trusting `trusted`.
pub async fn tls_stream(
    addr: SocketAddr,
    trusted: &CertificateDer<'static>,
) -> std::io::Result<TlsStream<TcpStream>> {
    tls_stream_with(addr, connector(trusted), "localhost").await
}

/// A TLS session to `addr` as "localhost", with this client configuration.
pub async fn tls_stream_config(
    addr: SocketAddr,
    config: rustls::ClientConfig,
) -> std::io::Result<TlsStream<TcpStream>> {
    tls_stream_with(addr, TlsConnector::from(Arc::new(config)), "localhost").await
}
