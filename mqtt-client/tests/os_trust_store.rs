//! `CaSource::OsStore` against a private CA installed in an OS-style bundle. The "OS store"
//! is pointed at a generated bundle with `SSL_CERT_FILE` (what OpenSSL and
//! rustls-native-certs read instead of `/etc/ssl/certs`), so nothing of the system changes.
//! Environment variables are per process, so each case runs this test binary again as a
//! child (`--ignored --exact child_connects`) with the variables set, against the reference
//! broker served by the parent.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;
use std::time::Duration;

use mqtt_client::{CaSource, Client, ConnectError, Options, QoS, TlsOptions};
use mqtt_testkit::Broker;
use mqtt_testkit::certs::TestCa;

mod common;

/// What the child is asked to check.
const EXPECT: &str = "MQTT_TEST_OS_STORE_EXPECT";
const PORT: &str = "MQTT_TEST_OS_STORE_PORT";
const CAFILE: &str = "MQTT_TEST_OS_STORE_CAFILE";

/// Run the child with these variables; it must pass.
fn child(vars: &[(&str, &str)]) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--ignored", "--exact", "child_connects", "--test-threads=1"]);
    cmd.env_remove("SSL_CERT_FILE").env_remove("SSL_CERT_DIR");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child {vars:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_private_ca_in_the_os_store_is_trusted() {
    let ca = TestCa::new("private CA in the OS store");
    let server = ca.server_cert(&["localhost"]);
    let broker = Broker::builder()
        .tls(server.tls_config())
        .start()
        .await
        .unwrap();
    let port = broker.tls_addr().unwrap().port().to_string();
    let dir = std::env::temp_dir().join(format!("mqtt-client-os-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bundle = dir.join("ca-certificates.crt");
    std::fs::write(&bundle, ca.cert_pem()).unwrap();
    let other = dir.join("other.crt");
    std::fs::write(&other, TestCa::new("someone else").cert_pem()).unwrap();
    let certs_dir = dir.join("certs");
    std::fs::create_dir_all(&certs_dir).unwrap();
    std::fs::write(certs_dir.join("private.pem"), ca.cert_pem()).unwrap();
    let (bundle, other, certs_dir) = (
        bundle.to_str().unwrap().to_string(),
        other.to_str().unwrap().to_string(),
        certs_dir.to_str().unwrap().to_string(),
    );
    let port2 = port.clone();
    tokio::task::spawn_blocking(move || {
        let p = port2.as_str();
        // The bundle holds the CA: connected.
        child(&[("SSL_CERT_FILE", &bundle), (PORT, p), (EXPECT, "connect")]);
        // A directory of certificates (SSL_CERT_DIR) works too.
        child(&[("SSL_CERT_DIR", &certs_dir), (PORT, p), (EXPECT, "connect")]);
        // A store without it: the broker is not trusted, and the rustls error says why.
        child(&[
            ("SSL_CERT_FILE", &other),
            (PORT, p),
            (EXPECT, "unknown-issuer"),
        ]);
        // The OS store and a CA file together: either may vouch for the broker.
        child(&[
            ("SSL_CERT_FILE", &other),
            (CAFILE, &bundle),
            (PORT, p),
            (EXPECT, "connect"),
        ]);
        // A store that cannot be loaded: a typed error, no panic.
        child(&[
            ("SSL_CERT_FILE", "/nonexistent/ca-certificates.crt"),
            (PORT, p),
            (EXPECT, "no-store"),
        ]);
    })
    .await
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    broker.shutdown().await;
}

/// The child side of [`a_private_ca_in_the_os_store_is_trusted`].
#[test]
#[ignore = "run by a_private_ca_in_the_os_store_is_trusted, with SSL_CERT_FILE set"]
fn child_connects() {
    let expect = std::env::var(EXPECT).expect("run by a_private_ca_in_the_os_store_is_trusted");
    let port = std::env::var(PORT).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(common::within_limit(async {
        let mut tls = TlsOptions::default().with_os_certs();
        if let Ok(f) = std::env::var(CAFILE) {
            tls = tls.add_ca(CaSource::PemFile(f.into()));
        }
        let opts = Options::from_url(&format!("mqtts://localhost:{port}"))
            .unwrap()
            .with_tls(tls);
        let r = Client::connect(opts).await;
        match expect.as_str() {
            "connect" => {
                let (client, _m) = r.unwrap();
                client
                    .publish("os/store", QoS::AtLeastOnce, false, "trusted")
                    .await
                    .unwrap()
                    .await
                    .unwrap();
                client.disconnect(Duration::from_secs(1)).await.unwrap();
            }
            "unknown-issuer" => {
                let err = r.map(|_| ()).unwrap_err();
                assert!(
                    matches!(
                        err.tls_error(),
                        Some(mqtt_client::rustls::Error::InvalidCertificate(
                            mqtt_client::rustls::CertificateError::UnknownIssuer
                        ))
                    ),
                    "{err:?}"
                );
            }
            "no-store" => {
                let err = r.map(|_| ()).unwrap_err();
                assert!(
                    matches!(&err, ConnectError::InvalidOptions(m) if m.contains("OS trust store")),
                    "{err:?}"
                );
            }
            other => panic!("unknown expectation {other}"),
        }
    }));
}
