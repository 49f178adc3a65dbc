//! The TLS listener, over loopback: certificates generated for the test (rcgen), clients
//! through tokio-rustls trusting the generated CA, server name "localhost".

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use common::tls::{tls_stream, tls_stream_with};
use common::*;
use mqtt_proto::{QoS, QosPid, SubAckReason};
use mqtt_testkit::certs::{TestCa, TestCert};
use mqtt_testkit::{Broker, Event, TlsConfig};
use rustls_pki_types::CertificateDer;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A CA and a server certificate it issued for "localhost" and 127.0.0.1.
struct TestPki {
    ca: TestCa,
    server: TestCert,
}

fn generate_pki(name: &str) -> TestPki {
    let ca = TestCa::new(name);
    let server = ca.server_cert(&["localhost", "127.0.0.1"]);
    TestPki { ca, server }
}

async fn tls_broker(pki: &TestPki) -> Broker {
    let config = TlsConfig::from_pem(
        pki.server.chain_pem().as_bytes(),
        pki.server.key_pem().as_bytes(),
    )
    .expect("generated PEM parses");
    Broker::builder().tls(config).start().await.unwrap()
}

/// A broker that requires client certificates issued by `pki`'s CA.
async fn mtls_broker(pki: &TestPki) -> Broker {
    let config = pki
        .server
        .tls_config()
        .client_auth_required([pki.ca.cert_der()]);
    Broker::builder().tls(config).start().await.unwrap()
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
    mqtt_over(stream, version, id).await
}

/// Expect the broker to refuse this client's certificate (or its lack of one): either the
/// handshake fails, or (TLS 1.3, where the client finishes first) the broker's alert ends
/// the session at the client's first read, before it has sent anything.
async fn assert_refused(addr: SocketAddr, connector: TlsConnector) {
    let Ok(mut stream) = within(tls_stream_with(addr, connector, "localhost")).await else {
        return;
    };
    let mut buf = [0_u8; 16];
    match within(stream.read(&mut buf)).await {
        Ok(0) | Err(_) => {}
        Ok(n) => panic!("the broker sent {n} bytes to a refused client"),
    }
}

#[tokio::test]
async fn round_trip_over_tls() {
    let pki = generate_pki("round trip");
    let broker = tls_broker(&pki).await;
    let tls_addr = broker.tls_addr().expect("TLS listener");
    assert_ne!(tls_addr, broker.local_addr());

    for version in ALL {
        let id = format!("tls-{version:?}");
        let mut c = tls_client(tls_addr, &pki.ca.cert_der(), version, &id).await;
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
    let mut tls = tls_client(tls_addr, &pki.ca.cert_der(), V5, "tls").await;
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
    let refused = within(tls_stream(tls_addr, &other.ca.cert_der())).await;
    let err = refused.expect_err("handshake must fail");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");

    // A client that never completes the handshake holds up nobody.
    let _stalled = TcpStream::connect(tls_addr).await.unwrap();

    let mut ok = tls_client(tls_addr, &pki.ca.cert_der(), V5, "trusted").await;
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
    let chain = pki.server.chain_pem();
    assert!(TlsConfig::from_pem(chain.as_bytes(), b"not a key").is_err());
    // A key that does not match the certificate is refused when the broker starts.
    let stranger = pki.ca.client_cert("stranger");
    let config = TlsConfig::from_pem(chain.as_bytes(), stranger.key_pem().as_bytes()).unwrap();
    assert!(Broker::builder().tls(config).start().await.is_err());
}

#[tokio::test]
async fn server_certificate_is_valid_for_an_ip_address() {
    let pki = generate_pki("ip");
    // The test CA's own client configuration, and the server certificate's own TlsConfig.
    let broker = Broker::builder()
        .tls(pki.server.tls_config())
        .start()
        .await
        .unwrap();
    let connector = TlsConnector::from(Arc::new(pki.ca.client_config()));
    let stream = within(tls_stream_with(
        broker.tls_addr().unwrap(),
        connector,
        "127.0.0.1",
    ))
    .await
    .expect("127.0.0.1 is an IP subject alternative name");
    let mut c = mqtt_over(stream, V311, "by-ip").await;
    c.ping().await;

    // A name the certificate does not carry is refused by the client.
    let connector = TlsConnector::from(Arc::new(pki.ca.client_config()));
    let err = within(tls_stream_with(
        broker.tls_addr().unwrap(),
        connector,
        "example.com",
    ))
    .await
    .expect_err("example.com is not in the certificate");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
    broker.shutdown().await;
}

#[tokio::test]
async fn client_with_certificate_from_the_right_ca_connects() {
    let pki = generate_pki("mtls");
    let broker = mtls_broker(&pki).await;
    let mut events = broker.events();
    let client = pki.ca.client_cert("alice");
    let connector = TlsConnector::from(Arc::new(pki.ca.client_config_with_cert(&client)));

    for version in ALL {
        let id = format!("mtls-{version:?}");
        let stream = within(tls_stream_with(
            broker.tls_addr().unwrap(),
            connector.clone(),
            "localhost",
        ))
        .await
        .expect("TLS handshake with a client certificate");
        let mut c = mqtt_over(stream, version, &id).await;
        within(
            events
                .wait_for(|e| matches!(e, Event::Connected { client_id, .. } if *client_id == id)),
        )
        .await;
        let ack = c.subscribe(1, "mtls/echo", QoS::AtLeastOnce).await;
        assert_eq!(ack.reasons, vec![SubAckReason::GrantedQoS1]);
        c.publish(publish("mtls/echo", QosPid::AtLeastOnce(pid(2)), b"hi"))
            .await;
        assert_eq!(c.recv_publish().await.payload, Bytes::from_static(b"hi"));
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn client_without_certificate_or_from_another_ca_is_refused() {
    let pki = generate_pki("mtls-refusals");
    let stranger_ca = TestCa::new("stranger");
    let broker = mtls_broker(&pki).await;
    let mut events = broker.events();
    let tls_addr = broker.tls_addr().unwrap();

    // An established client keeps being served through the refusals.
    let good = pki.ca.client_cert("good");
    let good_connector = TlsConnector::from(Arc::new(pki.ca.client_config_with_cert(&good)));
    let stream = within(tls_stream_with(
        tls_addr,
        good_connector.clone(),
        "localhost",
    ))
    .await
    .expect("TLS handshake");
    let mut before = mqtt_over(stream, V5, "before").await;

    // No certificate at all.
    assert_refused(
        tls_addr,
        TlsConnector::from(Arc::new(pki.ca.client_config())),
    )
    .await;
    // A certificate from another CA (the client still trusts the server).
    let wrong = stranger_ca.client_cert("mallory");
    assert_refused(
        tls_addr,
        TlsConnector::from(Arc::new(pki.ca.client_config_with_cert(&wrong))),
    )
    .await;
    // A server certificate of the right CA is not for client authentication.
    let server_as_client = pki.ca.server_cert(&["localhost"]);
    assert_refused(
        tls_addr,
        TlsConnector::from(Arc::new(pki.ca.client_config_with_cert(&server_as_client))),
    )
    .await;

    before.ping().await;
    let stream = within(tls_stream_with(tls_addr, good_connector, "localhost"))
        .await
        .expect("TLS handshake");
    let mut after = mqtt_over(stream, V311, "after").await;
    after.ping().await;
    // Only the two good clients ever got as far as CONNECT.
    let mut plain = RawClient::connect(broker.local_addr(), V5, "plain-tcp").await;
    plain.ping().await;
    let mut connected = Vec::new();
    while connected.len() < 3 {
        if let Event::Connected { client_id, .. } = within(events.next()).await.unwrap() {
            connected.push(client_id);
        }
    }
    assert_eq!(connected, ["before", "after", "plain-tcp"]);
    broker.shutdown().await;
}

#[tokio::test]
async fn optional_client_auth_accepts_no_certificate_but_not_a_wrong_one() {
    let pki = generate_pki("optional");
    let config = pki
        .server
        .tls_config()
        .client_auth_optional([pki.ca.cert_der()]);
    let broker = Broker::builder().tls(config).start().await.unwrap();
    let tls_addr = broker.tls_addr().unwrap();

    let anonymous = TlsConnector::from(Arc::new(pki.ca.client_config()));
    let stream = within(tls_stream_with(tls_addr, anonymous, "localhost"))
        .await
        .expect("TLS handshake without a certificate");
    let mut c = mqtt_over(stream, V5, "anonymous").await;
    c.ping().await;

    let wrong = TestCa::new("other").client_cert("mallory");
    assert_refused(
        tls_addr,
        TlsConnector::from(Arc::new(pki.ca.client_config_with_cert(&wrong))),
    )
    .await;
    c.ping().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn client_auth_needs_a_usable_ca() {
    let pki = generate_pki("no-roots");
    let config = pki.server.tls_config().client_auth_required([]);
    assert!(Broker::builder().tls(config).start().await.is_err());
    let config = pki.server.tls_config().client_auth_required_pem(b"");
    assert!(config.is_err());
    let config = pki
        .server
        .tls_config()
        .client_auth_required_pem(pki.ca.cert_pem().as_bytes())
        .unwrap();
    let broker = Broker::builder().tls(config).start().await.unwrap();
    broker.shutdown().await;
}

#[test]
fn test_certificates_can_be_shared_across_tasks() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<TestCa>();
    shareable::<TestCert>();
    shareable::<TlsConfig>();
}
