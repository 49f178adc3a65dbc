//! Every transport against the reference broker over loopback: TCP (with and without
//! TCP_NODELAY), TLS (trust anchors from PEM, a PEM file and DER; a wrong CA; a name
//! mismatch and the server-name override; skipping verification; client certificates;
//! ALPN), WebSocket (with extra upgrade headers), secure WebSocket and unix sockets; and
//! the URL of each scheme with `user:password@`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use mqtt_client::{
    CaSource, Client, ConnectError, ConnectReason, Endpoint, Options, ProtocolVersion, QoS,
    TlsOptions, TlsVersion, rustls,
};
use mqtt_testkit::Broker;
use mqtt_testkit::certs::TestCa;
use mqtt_testkit::external::TempDir;
use mqtt_testkit::script::Peer;

mod common;

// Every test ends well within `common::LIMIT`, or fails instead of hanging.
use common::within_limit as within;

/// Connect with `opts`, subscribe, publish a QoS 1 message to ourselves, receive it,
/// disconnect: proof that the transport carries MQTT both ways.
async fn round_trip(opts: Options) {
    let (client, _all) = Client::connect(opts).await.unwrap();
    let mut sub = client
        .subscribe("transport/test", QoS::AtLeastOnce)
        .await
        .unwrap();
    let ack = client
        .publish("transport/test", QoS::AtLeastOnce, false, "over the wire")
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(ack.packet_id.is_some(), "a QoS 1 publish gets a PUBACK");
    let m = sub.recv().await.unwrap();
    assert_eq!(m.payload().as_ref(), b"over the wire");
    assert_eq!(m.qos(), QoS::AtLeastOnce);
    client.disconnect(Duration::from_secs(1)).await.unwrap();
}

fn tls_url(addr: std::net::SocketAddr) -> Options {
    Options::from_url(&format!("mqtts://127.0.0.1:{}", addr.port())).unwrap()
}

fn tls_err(r: Result<impl std::fmt::Debug, ConnectError>) -> String {
    match r {
        Err(ConnectError::Tls { message, .. }) => message,
        other => panic!("expected ConnectError::Tls, got {other:?}"),
    }
}

// ---- TCP ----

#[tokio::test]
async fn tcp_round_trip() {
    let broker = Broker::start().await.unwrap();
    within(round_trip(
        Options::from_url(&format!("mqtt://{}", broker.local_addr())).unwrap(),
    ))
    .await;
    broker.shutdown().await;
}

#[tokio::test]
async fn tcp_round_trip_without_nodelay() {
    let broker = Broker::start().await.unwrap();
    let mut opts = Options::from_url(&format!("mqtt://{}", broker.local_addr())).unwrap();
    opts.tcp_nodelay = false;
    within(round_trip(opts)).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn credentials_in_the_url_reach_the_broker() {
    let broker = Broker::builder()
        .user("alice", "s3cret:@/")
        .start()
        .await
        .unwrap();
    let port = broker.local_addr().port();
    within(async {
        // Reserved characters in the password are percent-encoded.
        round_trip(
            Options::from_url(&format!("mqtt://alice:s3cret%3A%40%2F@127.0.0.1:{port}")).unwrap(),
        )
        .await;
        let err = Client::connect(
            Options::from_url(&format!("mqtt://alice:wrong@127.0.0.1:{port}")).unwrap(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(
                err,
                ConnectError::Refused {
                    reason: ConnectReason::BadUserNameOrPassword,
                    ..
                }
            ),
            "{err:?}"
        );
    })
    .await;
    broker.shutdown().await;
}

// ---- TLS ----

#[tokio::test]
async fn tls_with_the_right_ca_round_trips() {
    let ca = TestCa::new("right");
    let server = ca.server_cert(&["localhost", "127.0.0.1"]);
    let broker = Broker::builder()
        .tls(server.tls_config())
        .start()
        .await
        .unwrap();
    let addr = broker.tls_addr().unwrap();
    within(async {
        // The CA as PEM text, verified against an IP address subject alternative name.
        round_trip(tls_url(addr).with_tls(TlsOptions::default().with_ca_pem(ca.cert_pem()))).await;
        // As DER, against a DNS name ("localhost" may resolve to ::1 first: refused, then
        // 127.0.0.1 is tried).
        let mut tls = TlsOptions::default();
        tls.ca = CaSource::Der(vec![ca.cert_der()]);
        let opts = Options::from_url(&format!("mqtts://localhost:{}", addr.port()))
            .unwrap()
            .with_tls(tls);
        round_trip(opts).await;
    })
    .await;
    broker.shutdown().await;
}

#[tokio::test]
async fn tls_ca_from_a_pem_file() {
    let ca = TestCa::new("file");
    let broker = Broker::builder()
        .tls(ca.server_cert(&["127.0.0.1"]).tls_config())
        .start()
        .await
        .unwrap();
    let dir = TempDir::new("ca-file");
    let path = dir.join("ca.pem");
    std::fs::write(&path, ca.cert_pem()).unwrap();
    let addr = broker.tls_addr().unwrap();
    within(round_trip(
        tls_url(addr).with_tls(TlsOptions::default().with_ca_file(&path)),
    ))
    .await;
    // A CA file that does not exist is a configuration error, not a TLS failure.
    let err = within(Client::connect(
        tls_url(addr).with_tls(TlsOptions::default().with_ca_file(dir.join("missing.pem"))),
    ))
    .await
    .unwrap_err();
    assert!(matches!(err, ConnectError::InvalidOptions(_)), "{err:?}");
    broker.shutdown().await;
}

#[tokio::test]
async fn tls_with_a_wrong_ca_fails_with_a_tls_error() {
    let ca = TestCa::new("right");
    let other = TestCa::new("wrong");
    let broker = Broker::builder()
        .tls(ca.server_cert(&["127.0.0.1"]).tls_config())
        .start()
        .await
        .unwrap();
    let opts = tls_url(broker.tls_addr().unwrap())
        .with_tls(TlsOptions::default().with_ca_pem(other.cert_pem()));
    let message = tls_err(within(Client::connect(opts)).await);
    assert!(message.contains("UnknownIssuer"), "{message}");
    // The default trust store (webpki roots) does not know a test CA either.
    let message = tls_err(within(Client::connect(tls_url(broker.tls_addr().unwrap()))).await);
    assert!(message.contains("UnknownIssuer"), "{message}");
    broker.shutdown().await;
}

#[tokio::test]
async fn tls_name_mismatch_fails_unless_the_server_name_is_overridden() {
    let ca = TestCa::new("names");
    // The certificate names neither 127.0.0.1 nor localhost.
    let broker = Broker::builder()
        .tls(ca.server_cert(&["broker.example"]).tls_config())
        .start()
        .await
        .unwrap();
    let addr = broker.tls_addr().unwrap();
    let tls = TlsOptions::default().with_ca_pem(ca.cert_pem());
    let message = tls_err(within(Client::connect(tls_url(addr).with_tls(tls.clone()))).await);
    assert!(message.contains("not valid for name"), "{message}");
    within(round_trip(
        tls_url(addr).with_tls(tls.with_server_name("broker.example")),
    ))
    .await;
    broker.shutdown().await;
}

#[tokio::test]
async fn dangerous_skip_verification_connects_to_an_untrusted_broker() {
    let ca = TestCa::new("untrusted");
    let broker = Broker::builder()
        .tls(ca.server_cert(&["broker.example"]).tls_config())
        .start()
        .await
        .unwrap();
    // Unknown issuer and a name mismatch: both ignored.
    within(round_trip(
        tls_url(broker.tls_addr().unwrap())
            .with_tls(TlsOptions::default().dangerous_skip_verification()),
    ))
    .await;
    broker.shutdown().await;
}

#[tokio::test]
async fn tls_client_certificate_authentication() {
    let ca = TestCa::new("mutual");
    let server = ca.server_cert(&["127.0.0.1"]);
    let broker = Broker::builder()
        .tls(server.tls_config().client_auth_required([ca.cert_der()]))
        .start()
        .await
        .unwrap();
    let addr = broker.tls_addr().unwrap();
    let alice = ca.client_cert("alice");
    within(async {
        round_trip(
            tls_url(addr).with_tls(
                TlsOptions::default()
                    .with_ca_pem(ca.cert_pem())
                    .with_client_cert_pem(alice.chain_pem(), alice.key_pem()),
            ),
        )
        .await;
        // Without a certificate the broker refuses the handshake. With TLS 1.3 the client's
        // side of the handshake completes first and the refusal (an alert) is what it reads
        // instead of CONNACK: reported as the TLS error it is, naming the alert, under
        // TLS 1.3 and 1.2 alike (it was `Connection(TransportClosed)` under 1.3).
        for version in [None, Some(TlsVersion::Tls13), Some(TlsVersion::Tls12)] {
            let mut tls = TlsOptions::default().with_ca_pem(ca.cert_pem());
            tls.only_version = version;
            let err = Client::connect(tls_url(addr).with_tls(tls))
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err.tls_error(),
                    Some(rustls::Error::AlertReceived(
                        rustls::AlertDescription::CertificateRequired
                            | rustls::AlertDescription::HandshakeFailure
                    ))
                ),
                "{version:?}: {err:?}"
            );
            let ConnectError::Tls { message, .. } = &err else {
                panic!("{err:?}")
            };
            assert!(message.contains("received fatal alert"), "{message}");
            // The rustls error is the source, for code that walks the chain.
            let source = std::error::Error::source(&err).unwrap();
            assert!(
                matches!(
                    source.downcast_ref::<rustls::Error>(),
                    Some(rustls::Error::AlertReceived(_))
                ),
                "{source:?}"
            );
        }
        // A certificate from another CA is refused too: the alert says the CA is unknown.
        let mallory = TestCa::new("other").client_cert("mallory");
        for version in [Some(TlsVersion::Tls13), Some(TlsVersion::Tls12)] {
            let mut tls = TlsOptions::default()
                .with_ca_pem(ca.cert_pem())
                .with_client_cert_pem(mallory.chain_pem(), mallory.key_pem());
            tls.only_version = version;
            let err = Client::connect(tls_url(addr).with_tls(tls))
                .await
                .unwrap_err();
            assert!(
                matches!(
                    &err,
                    ConnectError::Tls {
                        source: mqtt_client::TlsError::Rustls(rustls::Error::AlertReceived(
                            rustls::AlertDescription::UnknownCA
                                | rustls::AlertDescription::BadCertificate
                        )),
                        ..
                    }
                ),
                "{version:?}: {err:?}"
            );
        }
    })
    .await;
    broker.shutdown().await;
}

/// A one-connection TLS server that insists on one ALPN protocol and answers CONNECT with
/// a 3.1.1 CONNACK (accepted); returns the protocol the handshake agreed on.
async fn alpn_server(
    ca: &TestCa,
    protocol: &[u8],
) -> (
    std::net::SocketAddr,
    tokio::task::JoinHandle<Option<Vec<u8>>>,
) {
    use tokio_rustls::rustls;
    let cert = ca.server_cert(&["127.0.0.1"]);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(cert.chain_der(), cert.key_der())
        .unwrap();
    config.alpn_protocols = vec![protocol.to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let tls = acceptor.accept(tcp).await.ok()?;
        let agreed = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        let mut peer = Peer::over(tls);
        peer.connect().await;
        peer.send_raw(&[0x20, 0x02, 0x00, 0x00]).await;
        // Until the client's DISCONNECT and close.
        peer.until_closed().await;
        agreed
    });
    (addr, task)
}

#[tokio::test]
async fn alpn_is_offered() {
    let ca = TestCa::new("alpn");
    within(async {
        let (addr, server) = alpn_server(&ca, b"x-amzn-mqtt-ca").await;
        let opts = tls_url(addr)
            .with_protocol(ProtocolVersion::V3_1_1)
            .with_tls(
                TlsOptions::default()
                    .with_ca_pem(ca.cert_pem())
                    .with_alpn(&[b"x-amzn-mqtt-ca"]),
            );
        let (client, _all) = Client::connect(opts).await.unwrap();
        client.disconnect(Duration::from_secs(1)).await.unwrap();
        assert_eq!(
            server.await.unwrap().as_deref(),
            Some(&b"x-amzn-mqtt-ca"[..])
        );

        // A server that insists on a protocol the client does not offer refuses the
        // handshake.
        let (addr, server) = alpn_server(&ca, b"x-amzn-mqtt-ca").await;
        let opts = tls_url(addr).with_tls(
            TlsOptions::default()
                .with_ca_pem(ca.cert_pem())
                .with_alpn(&[b"mqtt"]),
        );
        tls_err(Client::connect(opts).await);
        assert_eq!(server.await.unwrap(), None);
    })
    .await;
}

// ---- WebSocket ----

#[tokio::test]
async fn websocket_round_trip() {
    let broker = Broker::builder().websocket().start().await.unwrap();
    let addr = broker.ws_addr().unwrap();
    within(round_trip(
        Options::from_url(&format!("ws://127.0.0.1:{}/mqtt", addr.port())).unwrap(),
    ))
    .await;
    broker.shutdown().await;
}

#[tokio::test]
async fn websocket_sends_extra_headers_and_the_path() {
    use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
    use tokio_tungstenite::tungstenite::http::HeaderValue;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // A one-connection WebSocket server that records the upgrade request, answers with the
    // subprotocol "mqtt", then accepts the CONNECT (3.1.1).
    let server = tokio::spawn(async move {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        let (tcp, _) = listener.accept().await.unwrap();
        let mut seen = None;
        #[allow(clippy::result_large_err)] // the callback's type is tungstenite's
        let callback = |req: &Request, mut resp: Response| {
            seen = Some((req.uri().to_string(), req.headers().clone()));
            resp.headers_mut()
                .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
            Ok(resp)
        };
        let mut ws = tokio_tungstenite::accept_hdr_async(tcp, callback)
            .await
            .unwrap();
        let Some(Ok(Message::Binary(connect))) = ws.next().await else {
            panic!("expected CONNECT in a binary message");
        };
        assert_eq!(connect[0], 0x10, "CONNECT");
        ws.send(Message::Binary(vec![0x20, 0x02, 0x00, 0x00].into()))
            .await
            .unwrap();
        while let Some(Ok(_)) = ws.next().await {}
        seen.unwrap()
    });
    within(async {
        let mut opts = Options::from_url(&format!("ws://127.0.0.1:{port}/custom/path?token=t"))
            .unwrap()
            .with_protocol(ProtocolVersion::V3_1_1);
        opts.ws_headers
            .push(("Authorization".into(), "Bearer abc".into()));
        opts.ws_headers.push(("X-Extra".into(), "1".into()));
        let (client, _all) = Client::connect(opts).await.unwrap();
        client.disconnect(Duration::from_secs(1)).await.unwrap();
        let (uri, headers) = server.await.unwrap();
        assert_eq!(uri, "/custom/path?token=t");
        assert_eq!(headers["authorization"], "Bearer abc");
        assert_eq!(headers["x-extra"], "1");
        assert_eq!(headers["sec-websocket-protocol"], "mqtt");
    })
    .await;
}

#[tokio::test]
async fn websocket_without_the_mqtt_subprotocol_is_refused() {
    // A plain WebSocket server that does not answer with the subprotocol.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        // The client gives up after the upgrade; whatever happens next does not matter.
        let _ = tokio_tungstenite::accept_async(tcp).await;
    });
    let err = within(Client::connect_url(&format!("ws://127.0.0.1:{port}/mqtt")))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::WebSocket { .. }), "{err:?}");
    server.abort();
}

#[tokio::test]
async fn secure_websocket_round_trip() {
    let ca = TestCa::new("wss");
    let broker = Broker::builder()
        .websocket_tls(ca.server_cert(&["127.0.0.1"]).tls_config())
        .start()
        .await
        .unwrap();
    let port = broker.wss_addr().unwrap().port();
    within(async {
        round_trip(
            Options::from_url(&format!("wss://127.0.0.1:{port}/mqtt"))
                .unwrap()
                .with_tls(TlsOptions::default().with_ca_pem(ca.cert_pem())),
        )
        .await;
        // The same TLS checks apply under the WebSocket.
        let other = TestCa::new("wrong");
        let r = Client::connect(
            Options::from_url(&format!("wss://127.0.0.1:{port}/mqtt"))
                .unwrap()
                .with_tls(TlsOptions::default().with_ca_pem(other.cert_pem())),
        )
        .await;
        tls_err(r);
    })
    .await;
    broker.shutdown().await;
}

// ---- Unix sockets ----

#[cfg(unix)]
#[tokio::test]
async fn unix_socket_round_trip() {
    let dir = TempDir::new("unix");
    let path = dir.join("broker.sock");
    let broker = Broker::builder().unix(&path).start().await.unwrap();
    assert_eq!(broker.unix_path(), Some(path.as_path()));
    within(round_trip(
        Options::from_url(&format!("unix://{}", path.display())).unwrap(),
    ))
    .await;
    broker.shutdown().await;
}

#[cfg(unix)]
#[tokio::test]
async fn unix_socket_missing_path_is_unreachable() {
    let dir = TempDir::new("unix-missing");
    let path = dir.join("nobody.sock");
    let err = within(Client::connect_url(&format!("unix://{}", path.display())))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConnectError::Unreachable {
                kind: std::io::ErrorKind::NotFound,
                ..
            }
        ),
        "{err:?}"
    );
}

// ---- URLs ----

#[test]
fn every_scheme_parses_with_credentials() {
    let cases = [
        (
            "mqtt://user:pa%24%24@broker.example:1884",
            Endpoint::Tcp {
                host: "broker.example".into(),
                port: 1884,
            },
        ),
        (
            "mqtts://user:pa%24%24@broker.example",
            Endpoint::Tls {
                host: "broker.example".into(),
                port: 8883,
            },
        ),
        (
            "ws://user:pa%24%24@broker.example:8080",
            Endpoint::WebSocket {
                host: "broker.example".into(),
                port: 8080,
                path: "/mqtt".into(),
            },
        ),
        (
            "wss://user:pa%24%24@[::1]/ws?x=1",
            Endpoint::SecureWebSocket {
                host: "::1".into(),
                port: 443,
                path: "/ws?x=1".into(),
            },
        ),
    ];
    for (url, endpoint) in cases {
        let opts = Options::from_url(url).unwrap();
        assert_eq!(opts.endpoint, endpoint, "{url}");
        assert_eq!(opts.mqtt.username.as_deref(), Some("user"), "{url}");
        assert_eq!(opts.mqtt.password.as_deref(), Some(&b"pa$$"[..]), "{url}");
        // Display gives back a URL of the same scheme, without the credentials.
        let shown = opts.endpoint.to_string();
        assert!(!shown.contains("user"), "{shown}");
        assert_eq!(
            Options::from_url(&shown).unwrap().endpoint,
            endpoint,
            "{shown}"
        );
    }
    let unix = Options::from_url("unix:///run/mqtt%20broker.sock").unwrap();
    assert_eq!(
        unix.endpoint,
        Endpoint::Unix {
            path: "/run/mqtt broker.sock".into()
        }
    );
    // A user name alone.
    let opts = Options::from_url("mqtt://justme@h").unwrap();
    assert_eq!(opts.mqtt.username.as_deref(), Some("justme"));
    assert_eq!(opts.mqtt.password, None);
}
