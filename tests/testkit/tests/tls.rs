//! The TLS listener, over loopback: certificates generated for the test (rcgen), clients
//! through tokio-rustls trusting the generated CA, server name "localhost".

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use common::*;
use mqtt_proto::{Connect, QoS, QosPid, SubAckReason};
use mqtt_testkit::{Broker, Event, TlsConfig};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::{TlsConnector, rustls};

/// A CA and a server certificate for "localhost" it signed, as PEM, plus the CA's DER.
struct TestPki {
    ca: CertificateDer<'static>,
    chain_pem: String,
    key_pem: String,
}

fn generate_pki(name: &str) -> TestPki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("{name} test CA"));
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

    let server_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let server = params.signed_by(&server_key, &ca).unwrap();
    TestPki {
        ca: ca.der().clone(),
        chain_pem: format!("{}{}", server.pem(), ca.pem()),
        key_pem: server_key.serialize_pem(),
    }
}

async fn tls_broker(pki: &TestPki) -> Broker {
    let config = TlsConfig::from_pem(pki.chain_pem.as_bytes(), pki.key_pem.as_bytes())
        .expect("generated PEM parses");
    Broker::builder().tls(config).start().await.unwrap()
}

fn connector(trusted: &CertificateDer<'static>) -> TlsConnector {
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

async fn tls_stream(
    addr: SocketAddr,
    trusted: &CertificateDer<'static>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from("localhost").unwrap();
    connector(trusted).connect(name, tcp).await
}

async fn tls_client(
    addr: SocketAddr,
    trusted: &CertificateDer<'static>,
    version: mqtt_proto::ProtocolVersion,
    id: &str,
) -> RawClient {
    let stream = within(tls_stream(addr, trusted))
        .await
        .expect("TLS handshake");
    let mut connect = Connect::new(version, id);
    connect.keep_alive = 0;
    let (c, ack) = within(RawClient::connect_over(stream, connect)).await;
    assert!(!ack.reason.is_error(), "CONNACK refused: {ack:?}");
    c
}

#[tokio::test]
async fn round_trip_over_tls() {
    let pki = generate_pki("round trip");
    let broker = tls_broker(&pki).await;
    let tls_addr = broker.tls_addr().expect("TLS listener");
    assert_ne!(tls_addr, broker.local_addr());

    for version in ALL {
        let id = format!("tls-{version:?}");
        let mut c = tls_client(tls_addr, &pki.ca, version, &id).await;
        let ack = c.subscribe(1, "tls/echo", QoS::AtLeastOnce).await;
        assert_eq!(ack.reasons, vec![SubAckReason::GrantedQoS1]);
        c.publish(publish("tls/echo", QosPid::AtLeastOnce(pid(2)), b"hello"))
            .await;
        let got = c.recv_publish().await;
        assert_eq!(got.topic.as_str(), "tls/echo");
        assert_eq!(got.payload, Bytes::from_static(b"hello"));
        c.ping().await;
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn tcp_and_tls_clients_exchange_messages() {
    let pki = generate_pki("mixed");
    let broker = tls_broker(&pki).await;
    let tls_addr = broker.tls_addr().unwrap();

    let mut tcp = RawClient::connect(broker.local_addr(), V311, "tcp").await;
    let mut tls = tls_client(tls_addr, &pki.ca, V5, "tls").await;
    tcp.subscribe(1, "from/tls", QoS::AtMostOnce).await;
    tls.subscribe(1, "from/tcp", QoS::AtMostOnce).await;

    tls.publish(publish("from/tls", QosPid::AtMostOnce, b"over tls"))
        .await;
    let got = tcp.recv_publish().await;
    assert_eq!(got.payload, Bytes::from_static(b"over tls"));

    tcp.publish(publish("from/tcp", QosPid::AtMostOnce, b"over tcp"))
        .await;
    let got = tls.recv_publish().await;
    assert_eq!(got.payload, Bytes::from_static(b"over tcp"));
    broker.shutdown().await;
}

#[tokio::test]
async fn untrusted_client_fails_and_others_are_served() {
    let pki = generate_pki("server");
    let other = generate_pki("other");
    let broker = tls_broker(&pki).await;
    let mut events = broker.events();
    let tls_addr = broker.tls_addr().unwrap();

    // A client trusting another CA refuses the server's certificate.
    let refused = within(tls_stream(tls_addr, &other.ca)).await;
    let err = refused.expect_err("handshake must fail");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");

    // A client that never completes the handshake holds up nobody.
    let _stalled = TcpStream::connect(tls_addr).await.unwrap();

    let mut ok = tls_client(tls_addr, &pki.ca, V5, "trusted").await;
    within(
        events.wait_for(
            |e| matches!(e, Event::Connected { client_id, .. } if client_id == "trusted"),
        ),
    )
    .await;
    ok.ping().await;
    let mut tcp = RawClient::connect(broker.local_addr(), V5, "tcp").await;
    tcp.ping().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn bad_pem_is_refused() {
    assert!(TlsConfig::from_pem(b"", b"").is_err());
    let pki = generate_pki("bad");
    assert!(TlsConfig::from_pem(pki.chain_pem.as_bytes(), b"not a key").is_err());
    // A key that does not match the certificate is refused when the broker starts.
    let stranger = KeyPair::generate().unwrap().serialize_pem();
    let config = TlsConfig::from_pem(pki.chain_pem.as_bytes(), stranger.as_bytes()).unwrap();
    assert!(Broker::builder().tls(config).start().await.is_err());
}
