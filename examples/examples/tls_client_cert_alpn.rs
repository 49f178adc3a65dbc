//! TLS with a client certificate and ALPN: the shape of AWS IoT Core on port 443, where a
//! device authenticates with its certificate and key (X.509 client authentication), trusts
//! Amazon's CA, and offers the ALPN protocol `x-amzn-mqtt-ca` so that port 443 knows the
//! connection is MQTT.
//!
//! What to expect by default: an in-process TLS broker that requires client certificates
//! from a CA made at run time. A connection without a client certificate is refused
//! (printed); one with the certificate, its key and ALPN connects, and a message makes the
//! round trip. (The reference broker does not choose an ALPN protocol; AWS IoT does.)
//!
//! Run it against AWS IoT Core (the endpoint is in the console, under Settings; the client
//! id must be one the device's policy allows):
//!
//! ```text
//! cargo run -p examples --example tls_client_cert_alpn -- \
//!     --url 'mqtts://xxxxxxxx-ats.iot.eu-west-1.amazonaws.com:443?client_id=my-thing' \
//!     --ca AmazonRootCA1.pem --cert device.pem.crt --key private.pem.key
//! ```
//!
//! or against mosquitto with `require_certificate true` on a TLS listener (`--alpn ''`
//! offers no ALPN):
//!
//! ```text
//! cargo run -p examples --example tls_client_cert_alpn -- \
//!     --url mqtts://localhost:8883 --ca ca.crt --cert client.crt --key client.key
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use mqtt_client::{Client, ClientCert, Options, QoS, TlsOptions};
use mqtt_testkit::Broker;
use mqtt_testkit::certs::TestCa;

/// Anything that can go wrong, printed once by `main`.
type Error = Box<dyn std::error::Error + Send + Sync>;

/// The longest we wait for a message.
const PATIENCE: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tls_client_cert_alpn: error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Error> {
    let (mut url, mut ca, mut cert, mut key) = (None, None, None, None);
    let mut alpn = "x-amzn-mqtt-ca".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--url" => url = Some(value()?),
            "--ca" => ca = Some(PathBuf::from(value()?)),
            "--cert" => cert = Some(PathBuf::from(value()?)),
            "--key" => key = Some(PathBuf::from(value()?)),
            "--alpn" => alpn = value()?,
            _ => {
                return Err(format!(
                    "unknown argument {arg:?} (usage: [--url URL --cert FILE --key FILE [--ca FILE]] [--alpn PROTOCOL])"
                )
                .into());
            }
        }
    }

    let mut broker = None;
    let (url, tls) = match url {
        Some(url) => {
            let (Some(cert), Some(key)) = (cert, key) else {
                return Err(
                    "--url needs --cert and --key (the client certificate and its key)".into(),
                );
            };
            let mut tls = TlsOptions::default();
            // The client certificate (chain, leaf first) and its private key, PEM files.
            tls.client_cert = Some(ClientCert::PemFiles {
                cert_chain: cert,
                key,
            });
            // The CA that signed the broker's certificate (Amazon Root CA 1 for AWS IoT);
            // without --ca, the Mozilla roots, which include Amazon's.
            if let Some(ca) = ca {
                tls = tls.with_ca_file(ca);
            }
            (url, tls)
        }
        None if ca.is_some() || cert.is_some() || key.is_some() => {
            return Err("--ca, --cert and --key go with --url".into());
        }
        None => {
            // A CA made at run time; the broker's certificate and the device's from it.
            let ca = TestCa::new("examples");
            let server_cert = ca.server_cert(&["localhost", "127.0.0.1"]);
            let device = ca.client_cert("device-1");
            // The broker requires a client certificate issued by our CA.
            let server_tls = server_cert
                .tls_config()
                .client_auth_required([ca.cert_der()]);
            let b = Broker::builder().tls(server_tls).start().await?;
            let port = b.tls_addr().ok_or("the broker has no TLS listener")?.port();
            let url = format!("mqtts://localhost:{port}");
            println!("started an in-process TLS broker at {url}, requiring client certificates");
            broker = Some(b);

            // Without a client certificate the broker refuses us. With TLS 1.3 it can say so
            // only after our side of the handshake: the error comes while waiting for CONNACK.
            let anonymous = TlsOptions::default().with_ca_pem(ca.cert_pem());
            match Client::connect(Options::from_url(&url)?.with_tls(anonymous)).await {
                Err(e) => println!("without a client certificate: refused ({e})"),
                Ok(_) => return Err("the broker accepted a client without a certificate".into()),
            }

            // PEM text here; files with `ClientCert::PemFiles` as above.
            let tls = TlsOptions::default()
                .with_ca_pem(ca.cert_pem())
                .with_client_cert_pem(device.chain_pem(), device.key_pem());
            (url, tls)
        }
    };
    // ALPN: AWS IoT Core serves MQTT on port 443 to clients offering `x-amzn-mqtt-ca`.
    let tls = if alpn.is_empty() {
        tls
    } else {
        println!("offering ALPN {alpn}");
        tls.with_alpn(&[alpn.as_bytes()])
    };

    let (client, _) = Client::connect(Options::from_url(&url)?.with_tls(tls)).await?;
    println!(
        "connected as {} with a client certificate, the broker verified against the CA",
        client.client_id()
    );

    // AWS IoT policies usually allow topics under the thing's name; adapt the topic to yours.
    let topic = format!("examples/{}/telemetry", client.client_id());
    let mut messages = client.subscribe(&topic, QoS::AtLeastOnce).await?;
    client
        .publish(&topic, QoS::AtLeastOnce, false, r#"{"temperature": 21.5}"#)
        .await?
        .await?;
    match tokio::time::timeout(PATIENCE, messages.recv()).await {
        Ok(Some(m)) => println!(
            "round trip: {} on {}",
            String::from_utf8_lossy(m.payload()),
            m.topic()
        ),
        Ok(None) => return Err("the subscription ended".into()),
        Err(_) => return Err(format!("no message within {PATIENCE:?}").into()),
    }

    client.disconnect(Duration::from_secs(5)).await?;
    println!("disconnected");
    if let Some(broker) = broker {
        broker.shutdown().await;
    }
    Ok(())
}
