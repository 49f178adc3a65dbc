//! The secure WebSocket (`wss://`) and unix domain socket listeners: tokio-tungstenite
//! over tokio-rustls with certificates from `mqtt_testkit::certs`, and raw MQTT over a
//! `UnixStream`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;

use bytes::Bytes;
use common::tls::tls_stream_config;
use common::ws::{ws_pipe, ws_upgrade};
use common::*;
use mqtt_proto::{ProtocolVersion, QoS, QosPid, SubAckReason};
use mqtt_testkit::certs::{TestCa, TestCert};
use mqtt_testkit::{Broker, Event};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Upgrade a TLS session to a WebSocket offering the subprotocol `mqtt`.
async fn wss_open(
    addr: SocketAddr,
    config: tokio_rustls::rustls::ClientConfig,
) -> Result<WebSocketStream<TlsStream<TcpStream>>, WsError> {
    let tls = tls_stream_config(addr, config).await?;
    let url = format!("wss://localhost:{}/mqtt", addr.port());
    ws_upgrade(tls, &url, Some("mqtt")).await
}

async fn wss_client(
    addr: SocketAddr,
    config: tokio_rustls::rustls::ClientConfig,
    version: ProtocolVersion,
    id: &str,
) -> RawClient {
    let ws = within(wss_open(addr, config)).await.expect("wss upgrade");
    mqtt_over(ws_pipe(ws), version, id).await
}

fn server(ca: &TestCa) -> TestCert {
    ca.server_cert(&["localhost", "127.0.0.1"])
}

#[tokio::test]
async fn round_trip_over_secure_websocket() {
    let ca = TestCa::new("wss");
    let broker = Broker::builder()
        .websocket_tls(server(&ca).tls_config())
        .start()
        .await
        .unwrap();
    let wss_addr = broker.wss_addr().expect("wss listener");
    assert_ne!(wss_addr, broker.local_addr());
    assert_eq!(broker.ws_addr(), None);
    assert_eq!(broker.tls_addr(), None);

    for version in ALL {
        let id = format!("wss-{version:?}");
        let mut c = wss_client(wss_addr, ca.client_config(), version, &id).await;
        let ack = c.subscribe(1, "wss/echo", QoS::AtLeastOnce).await;
        assert_eq!(ack.reasons, vec![SubAckReason::GrantedQoS1]);
        c.publish(publish("wss/echo", QosPid::AtLeastOnce(pid(2)), b"hello"))
            .await;
        let got = c.recv_publish().await;
        assert_eq!(got.payload, Bytes::from_static(b"hello"));
        c.ping().await;
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn secure_websocket_tls_and_tcp_clients_share_one_broker() {
    let ca = TestCa::new("mixed");
    let cert = server(&ca);
    let broker = Broker::builder()
        .tls(cert.tls_config())
        .websocket_tls(cert.tls_config())
        .websocket()
        .start()
        .await
        .unwrap();
    let mut wss = wss_client(broker.wss_addr().unwrap(), ca.client_config(), V5, "wss").await;
    let tls = within(tls_stream_config(
        broker.tls_addr().unwrap(),
        ca.client_config(),
    ))
    .await
    .expect("TLS handshake");
    let mut tls = mqtt_over(tls, V311, "tls").await;
    let mut tcp = RawClient::connect(broker.local_addr(), V311, "tcp").await;
    tls.subscribe(1, "to/tls", QoS::AtMostOnce).await;
    tcp.subscribe(1, "to/tcp", QoS::AtMostOnce).await;
    wss.subscribe(1, "to/wss", QoS::AtMostOnce).await;

    wss.publish(publish("to/tls", QosPid::AtMostOnce, b"a"))
        .await;
    assert_eq!(tls.recv_publish().await.payload, Bytes::from_static(b"a"));
    tls.publish(publish("to/tcp", QosPid::AtMostOnce, b"b"))
        .await;
    assert_eq!(tcp.recv_publish().await.payload, Bytes::from_static(b"b"));
    tcp.publish(publish("to/wss", QosPid::AtMostOnce, b"c"))
        .await;
    assert_eq!(wss.recv_publish().await.payload, Bytes::from_static(b"c"));
    broker.shutdown().await;
}

#[tokio::test]
async fn secure_websocket_checks_client_certificates() {
    let ca = TestCa::new("wss-mtls");
    let broker = Broker::builder()
        .websocket_tls(
            server(&ca)
                .tls_config()
                .client_auth_required([ca.cert_der()]),
        )
        .start()
        .await
        .unwrap();
    let mut events = broker.events();
    let wss_addr = broker.wss_addr().unwrap();

    // No client certificate: the TLS handshake or the upgrade over it fails.
    let refused = within(wss_open(wss_addr, ca.client_config())).await;
    assert!(
        refused.is_err(),
        "a client without certificate was upgraded"
    );

    let alice = ca.client_cert("alice");
    let mut c = wss_client(wss_addr, ca.client_config_with_cert(&alice), V5, "alice").await;
    c.ping().await;
    let connected = within(events.wait_for(|e| matches!(e, Event::Connected { .. })))
        .await
        .unwrap();
    assert!(
        matches!(&connected, Event::Connected { client_id, .. } if client_id == "alice"),
        "{connected:?}"
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn plain_websocket_on_the_secure_port_fails_and_others_are_served() {
    let ca = TestCa::new("wss-plain");
    let broker = Broker::builder()
        .websocket_tls(server(&ca).tls_config())
        .start()
        .await
        .unwrap();
    let wss_addr = broker.wss_addr().unwrap();

    // A `ws://` upgrade sent in the clear is not a TLS ClientHello.
    let tcp = TcpStream::connect(wss_addr).await.unwrap();
    let request = format!("ws://{wss_addr}/mqtt")
        .into_client_request()
        .unwrap();
    let refused = within(tokio_tungstenite::client_async(request, tcp)).await;
    assert!(refused.is_err());
    // A client that never starts its handshake holds up nobody.
    let _stalled = TcpStream::connect(wss_addr).await.unwrap();

    let mut c = wss_client(wss_addr, ca.client_config(), V311, "after").await;
    c.ping().await;
    broker.shutdown().await;
}

#[cfg(unix)]
mod unix {
    use super::*;

    use tokio::net::UnixStream;

    /// A fresh path for a socket, in a directory of its own under the system's temporary
    /// directory (removed by the guard).
    struct SocketDir(std::path::PathBuf);

    impl SocketDir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "mqtt-testkit-{name}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn socket(&self) -> std::path::PathBuf {
            self.0.join("broker.sock")
        }
    }

    impl Drop for SocketDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    async fn unix_client(broker: &Broker, version: ProtocolVersion, id: &str) -> RawClient {
        let stream = UnixStream::connect(broker.unix_path().unwrap())
            .await
            .expect("connect to the unix socket");
        mqtt_over(stream, version, id).await
    }

    #[tokio::test]
    async fn round_trip_over_a_unix_socket() {
        let dir = SocketDir::new("round-trip");
        let broker = Broker::builder().unix(dir.socket()).start().await.unwrap();
        assert_eq!(broker.unix_path(), Some(dir.socket().as_path()));
        let mut events = broker.events();

        for version in ALL {
            let id = format!("unix-{version:?}");
            let mut c = unix_client(&broker, version, &id).await;
            within(
                events.wait_for(
                    |e| matches!(e, Event::Connected { client_id, .. } if *client_id == id),
                ),
            )
            .await;
            let ack = c.subscribe(1, "unix/echo", QoS::AtLeastOnce).await;
            assert_eq!(ack.reasons, vec![SubAckReason::GrantedQoS1]);
            c.publish(publish("unix/echo", QosPid::AtLeastOnce(pid(2)), b"local"))
                .await;
            let got = c.recv_publish().await;
            assert_eq!(got.payload, Bytes::from_static(b"local"));
        }

        // TCP and unix clients exchange messages.
        let mut tcp = RawClient::connect(broker.local_addr(), V5, "tcp").await;
        tcp.subscribe(1, "from/unix", QoS::AtMostOnce).await;
        let mut local = unix_client(&broker, V311, "local").await;
        local
            .publish(publish("from/unix", QosPid::AtMostOnce, b"hi"))
            .await;
        assert_eq!(tcp.recv_publish().await.payload, Bytes::from_static(b"hi"));
        broker.shutdown().await;
        assert!(
            !dir.socket().exists(),
            "shutdown removes the socket file so the path can be bound again"
        );
        let again = Broker::builder().unix(dir.socket()).start().await.unwrap();
        again.shutdown().await;
    }

    #[tokio::test]
    async fn unix_socket_path_in_use_fails_to_start() {
        let dir = SocketDir::new("in-use");
        let broker = Broker::builder().unix(dir.socket()).start().await.unwrap();
        assert!(Broker::builder().unix(dir.socket()).start().await.is_err());
        // The first broker is unaffected.
        let mut c = unix_client(&broker, V5, "still-here").await;
        c.ping().await;
        broker.shutdown().await;
    }

    #[tokio::test]
    async fn malformed_input_on_a_unix_socket_closes_that_connection_only() {
        let dir = SocketDir::new("malformed");
        let broker = Broker::builder().unix(dir.socket()).start().await.unwrap();
        let mut good = unix_client(&broker, V5, "good").await;
        let stream = UnixStream::connect(broker.unix_path().unwrap())
            .await
            .unwrap();
        let mut bad = RawClient::over(stream, V311);
        // A PUBLISH first: the first packet must be CONNECT [MQTT-3.1.0-1].
        bad.send_raw(&[0x30, 0x03, 0x00, 0x01, b'a']).await;
        assert!(bad.closed().await.is_empty());
        good.ping().await;
        broker.shutdown().await;
    }
}

#[tokio::test]
async fn added_listeners_serve_one_broker_with_or_without_the_default_one() {
    use mqtt_testkit::Listener;
    let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let broker = Broker::builder()
        .default_listener(false)
        .listener(Listener::Tcp(any))
        .listener(Listener::Tcp(any))
        .listener(Listener::WebSocket(any))
        .start()
        .await
        .unwrap();
    let addrs = broker.listener_addrs().to_vec();
    assert_eq!(addrs.len(), 3);
    assert_eq!(broker.local_addr(), addrs[0]);
    let mut sub = RawClient::connect(addrs[1], V311, "sub").await;
    sub.subscribe(1, "t", QoS::AtMostOnce).await;
    let mut publisher = RawClient::connect(addrs[0], V311, "pub").await;
    publisher.send(publish("t", QosPid::AtMostOnce, b"x")).await;
    assert_eq!(&sub.recv_publish().await.payload[..], b"x");
    broker.shutdown().await;
    // Every listener is closed after shutdown.
    for addr in addrs {
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "{addr}"
        );
    }
    // No listener at all: starting fails.
    let err = Broker::builder()
        .default_listener(false)
        .start()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}
