//! `TlsOptions::key_log_file`: the TLS secrets of a connection to the reference broker are
//! appended to the file as NSS key-log lines.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::time::Duration;

use mqtt_client::{Client, ConnectError, Options, QoS, TlsOptions, TlsVersion};
use mqtt_testkit::Broker;
use mqtt_testkit::certs::TestCa;

const LIMIT: Duration = Duration::from_secs(10);

fn temp_file(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mqtt-client-keylog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(tag);
    let _ = std::fs::remove_file(&path);
    path
}

/// `(label, client_random, secret)` of each line; panics on a malformed line.
fn parse(log: &str) -> Vec<(String, String, String)> {
    log.lines()
        .map(|l| {
            let parts: Vec<&str> = l.split(' ').collect();
            assert_eq!(parts.len(), 3, "{l:?}");
            for hex in &parts[1..] {
                assert!(
                    !hex.is_empty()
                        && hex
                            .bytes()
                            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                    "{l:?}"
                );
            }
            assert_eq!(parts[1].len(), 64, "client_random is 32 bytes: {l:?}");
            (parts[0].into(), parts[1].into(), parts[2].into())
        })
        .collect()
}

async fn connect_once(port: u16, tls: TlsOptions) {
    let opts = Options::from_url(&format!("mqtts://127.0.0.1:{port}"))
        .unwrap()
        .with_tls(tls);
    let (client, _all) = tokio::time::timeout(LIMIT, Client::connect(opts))
        .await
        .unwrap()
        .unwrap();
    client
        .publish("keylog/test", QoS::AtLeastOnce, false, "x")
        .await
        .unwrap()
        .await
        .unwrap();
    client.disconnect(Duration::from_secs(1)).await.unwrap();
}

#[tokio::test]
async fn tls13_secrets_are_appended_to_the_key_log() {
    let ca = TestCa::new("keylog");
    let broker = Broker::builder()
        .tls(ca.server_cert(&["127.0.0.1"]).tls_config())
        .start()
        .await
        .unwrap();
    let port = broker.tls_addr().unwrap().port();
    let path = temp_file("tls13.log");
    let tls = TlsOptions::default()
        .with_ca_pem(ca.cert_pem())
        .with_key_log_file(&path);
    connect_once(port, tls.clone()).await;
    let first = parse(&std::fs::read_to_string(&path).unwrap());
    let labels: Vec<&str> = first.iter().map(|(l, _, _)| l.as_str()).collect();
    for want in [
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0",
    ] {
        assert!(labels.contains(&want), "{want} missing from {labels:?}");
    }
    // One handshake: one client random.
    assert!(first.iter().all(|(_, r, _)| *r == first[0].1));

    // A second connection appends (and has its own client random).
    connect_once(port, tls).await;
    let both = parse(&std::fs::read_to_string(&path).unwrap());
    assert!(both.len() > first.len());
    assert_eq!(both[..first.len()], first[..]);
    assert_ne!(both[first.len()].1, first[0].1);
    broker.shutdown().await;
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn tls12_logs_the_master_secret() {
    let ca = TestCa::new("keylog 1.2");
    let broker = Broker::builder()
        .tls(ca.server_cert(&["127.0.0.1"]).tls_config())
        .start()
        .await
        .unwrap();
    let path = temp_file("tls12.log");
    let mut tls = TlsOptions::default()
        .with_ca_pem(ca.cert_pem())
        .with_key_log_file(&path);
    tls.only_version = Some(TlsVersion::Tls12);
    connect_once(broker.tls_addr().unwrap().port(), tls).await;
    let lines = parse(&std::fs::read_to_string(&path).unwrap());
    assert!(
        lines
            .iter()
            .any(|(l, _, s)| l == "CLIENT_RANDOM" && s.len() == 96),
        "{lines:?}"
    );
    broker.shutdown().await;
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn an_unwritable_key_log_fails_the_connect() {
    let ca = TestCa::new("keylog bad");
    let broker = Broker::builder()
        .tls(ca.server_cert(&["127.0.0.1"]).tls_config())
        .start()
        .await
        .unwrap();
    let path = temp_file("no-such-dir").join("x.log");
    let opts = Options::from_url(&format!(
        "mqtts://127.0.0.1:{}",
        broker.tls_addr().unwrap().port()
    ))
    .unwrap()
    .with_tls(
        TlsOptions::default()
            .with_ca_pem(ca.cert_pem())
            .with_key_log_file(&path),
    );
    let err = tokio::time::timeout(LIMIT, Client::connect(opts))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&err, ConnectError::InvalidOptions(m) if m.contains("key log")),
        "{err:?}"
    );
    broker.shutdown().await;
}
