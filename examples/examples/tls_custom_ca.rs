//! TLS with a certificate authority of your own: the broker's certificate is signed by a CA
//! that the default trust store (the Mozilla roots of webpki-roots) does not know, so the
//! client is told to trust that CA.
//!
//! What to expect: by default, an in-process TLS broker with a throwaway CA made at run
//! time; a first connection with the default trust store is refused (a typed TLS error,
//! printed), a second one trusting the CA succeeds and a message makes the round trip.
//!
//! Run it:
//!
//! ```text
//! cargo run -p examples --example tls_custom_ca          # an in-process TLS broker
//! cargo run -p examples --example tls_custom_ca -- --url mqtts://broker.example:8883 --ca ca.pem
//! ```
//!
//! `--ca FILE` is the PEM certificate of the authority that signed the broker's
//! certificate; without it the default trust store is used. For mosquitto, a `listener 8883`
//! with `cafile`, `certfile` and `keyfile` serves TLS (see mosquitto-tls(7) for making the
//! certificates); the name in the URL must be one the broker's certificate is valid for.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use mqtt_client::{Client, Options, QoS, TlsOptions};
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
            eprintln!("tls_custom_ca: error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Error> {
    let (mut url, mut ca_file) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--url" => url = Some(args.next().ok_or("--url needs a value")?),
            "--ca" => ca_file = Some(PathBuf::from(args.next().ok_or("--ca needs a value")?)),
            _ => {
                return Err(
                    format!("unknown argument {arg:?} (usage: [--url URL [--ca FILE]])").into(),
                );
            }
        }
    }

    let mut broker = None;
    let (url, tls) = match url {
        Some(url) => {
            // Trust the given CA, or the default trust store.
            let tls = match ca_file {
                Some(file) => TlsOptions::default().with_ca_file(file),
                None => TlsOptions::default(),
            };
            (url, tls)
        }
        None => {
            // A throwaway CA and a broker certificate for localhost, made in memory.
            let ca = TestCa::new("examples");
            let server_cert = ca.server_cert(&["localhost", "127.0.0.1"]);
            let b = Broker::builder()
                .tls(server_cert.tls_config())
                .start()
                .await?;
            let port = b.tls_addr().ok_or("the broker has no TLS listener")?.port();
            let url = format!("mqtts://localhost:{port}");
            println!("started an in-process TLS broker at {url}, its certificate from a new CA");
            broker = Some(b);

            // The default trust store does not know our CA: the handshake fails, and says so.
            match Client::connect(Options::from_url(&url)?).await {
                Err(e) => println!("with the default trust store: refused, as it should be ({e})"),
                Ok(_) => return Err("a certificate from an unknown CA was trusted".into()),
            }
            // Trust the CA: its certificate as PEM text (or `with_ca_file` for a file).
            (url, TlsOptions::default().with_ca_pem(ca.cert_pem()))
        }
    };

    let options = Options::from_url(&url)?.with_tls(tls);
    let (client, _) = Client::connect(options).await?;
    println!("connected over TLS, the broker's certificate verified against the CA");

    let topic = format!("examples/{}/secure", client.client_id());
    let mut messages = client.subscribe(&topic, QoS::AtLeastOnce).await?;
    client
        .publish(&topic, QoS::AtLeastOnce, false, "encrypted")
        .await?
        .await?;
    match tokio::time::timeout(PATIENCE, messages.recv()).await {
        Ok(Some(m)) => println!(
            "round trip over TLS: {:?}",
            String::from_utf8_lossy(m.payload())
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
