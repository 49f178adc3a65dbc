//! `mqbroker`: run the reference broker (`mqtt-testkit`) for local work, in the manner of
//! `mosquitto`.
//!
//! It listens on 127.0.0.1:1883 unless told otherwise, prints one line on stderr once it is
//! listening (`mqbroker listening on ADDRESS`, with the real port when `--port 0` asked for any
//! free one) and stops cleanly on Ctrl-C or SIGTERM, closing every connection.
//!
//! Optional listeners on the same address, each announced by its own line after that one:
//! TLS with `--tls-port PORT --cert FILE --key FILE` (PEM; `mqbroker listening on ADDRESS
//! (tls)`), WebSocket with `--ws-port PORT` (plain `ws://`, any path, subprotocol `mqtt`;
//! `mqbroker listening on ADDRESS (websocket)`) and secure WebSocket with `--wss-port PORT`
//! (`wss://`, the same `--cert` and `--key`; `mqbroker listening on ADDRESS (wss)`). On unix,
//! `--unix PATH` also listens on a unix domain socket (`mqbroker listening on PATH (unix)`;
//! nothing may exist at the path, and the socket file is removed on shutdown).
//!
//! Exit codes: 0 after a clean shutdown, 1 when the broker cannot run (for example the address
//! is in use), 2 for a usage error.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{ArgGroup, Parser};
use mqtt_testkit::{Broker, Events, TlsConfig};
use tracing::level_filters::LevelFilter;

/// Exit code for a broker that could not run.
const EXIT_FAILURE: u8 = 1;

/// Run the MQTT reference broker for local work (not a production broker).
#[derive(Debug, Parser)]
#[command(
    name = "mqbroker",
    version,
    after_help = "Exit status: 0 after a clean shutdown (Ctrl-C, SIGTERM), 1 if the broker \
                  cannot run, 2 for a usage error.",
    group(ArgGroup::new("tls_listener").args(["tls_port", "wss_port"]).multiple(true))
)]
struct Cli {
    /// Port to listen on; 0 picks a free one (the listening line shows which).
    #[arg(short, long, value_name = "PORT", default_value_t = 1883)]
    port: u16,

    /// Address to listen on.
    #[arg(long, value_name = "ADDRESS", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,

    /// Also serve MQTT over WebSocket (subprotocol `mqtt`) on this port; 0 picks a free one.
    #[arg(long, value_name = "PORT")]
    ws_port: Option<u16>,

    /// Also serve MQTT over TLS on this port (needs --cert and --key); 0 picks a free one.
    #[arg(long, value_name = "PORT", requires_all = ["cert", "key"])]
    tls_port: Option<u16>,

    /// Also serve MQTT over secure WebSocket (`wss://`, subprotocol `mqtt`) on this port
    /// (needs --cert and --key); 0 picks a free one.
    #[arg(long, value_name = "PORT", requires_all = ["cert", "key"])]
    wss_port: Option<u16>,

    /// The TLS certificate chain, PEM (the server's certificate first).
    #[arg(long, value_name = "FILE", requires = "tls_listener")]
    cert: Option<PathBuf>,

    /// The TLS private key, PEM (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_listener")]
    key: Option<PathBuf>,

    /// Also serve MQTT on a unix domain socket at this path (which must not exist yet).
    #[arg(long, value_name = "PATH")]
    unix: Option<PathBuf>,

    /// Largest packet accepted from a client, in bytes, fixed header included [default: 16 MiB].
    #[arg(long, value_name = "BYTES")]
    max_packet_size: Option<NonZeroU32>,

    /// Log every packet received and every broker event on stderr.
    #[arg(short, long)]
    verbose: bool,
}

/// The validated configuration: what the rest of the program works from.
#[derive(Debug)]
struct Config {
    addr: SocketAddr,
    ws_addr: Option<SocketAddr>,
    /// The TLS address, certificate chain file and key file.
    tls: Option<(SocketAddr, PathBuf, PathBuf)>,
    /// The secure WebSocket address, certificate chain file and key file.
    wss: Option<(SocketAddr, PathBuf, PathBuf)>,
    unix: Option<PathBuf>,
    max_packet_size: Option<NonZeroU32>,
    verbose: bool,
}

impl From<Cli> for Config {
    fn from(cli: Cli) -> Self {
        // clap requires a port with both files, and the files with a port.
        let tls_at = |port: Option<u16>| match (port, &cli.cert, &cli.key) {
            (Some(port), Some(cert), Some(key)) => {
                Some((SocketAddr::new(cli.bind, port), cert.clone(), key.clone()))
            }
            _ => None,
        };
        let tls = tls_at(cli.tls_port);
        let wss = tls_at(cli.wss_port);
        Self {
            addr: SocketAddr::new(cli.bind, cli.port),
            ws_addr: cli.ws_port.map(|port| SocketAddr::new(cli.bind, port)),
            tls,
            wss,
            unix: cli.unix,
            max_packet_size: cli.max_packet_size,
            verbose: cli.verbose,
        }
    }
}

fn main() -> ExitCode {
    run(Cli::parse())
}

/// Run the broker until Ctrl-C or SIGTERM; any error is printed once, as `Error: ...`.
fn run(cli: Cli) -> ExitCode {
    let config = Config::from(cli);
    init_logging(config.verbose);
    match serve(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&format!("Error: {e}"));
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// Warnings only (protocol violations, dropped messages) by default; everything with `-v`.
fn init_logging(verbose: bool) {
    let level = if verbose {
        LevelFilter::TRACE
    } else {
        LevelFilter::WARN
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(io::stderr)
        .with_ansi(false)
        .init();
}

fn serve(config: &Config) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // Handlers first: a signal that arrives right after the listening line must be caught.
        let stop = shutdown_signal()?;
        let mut builder = Broker::builder().bind(config.addr);
        if let Some(addr) = config.ws_addr {
            builder = builder.bind_websocket(addr);
        }
        if let Some((addr, cert, key)) = &config.tls {
            builder = builder.bind_tls(*addr, tls_config(cert, key)?);
        }
        if let Some((addr, cert, key)) = &config.wss {
            builder = builder.bind_websocket_tls(*addr, tls_config(cert, key)?);
        }
        if let Some(path) = &config.unix {
            builder = builder.unix(path);
        }
        if let Some(max) = config.max_packet_size {
            builder = builder.max_packet_size(max);
        }
        let broker = builder.start().await.map_err(|e| {
            io::Error::new(e.kind(), format!("cannot listen on {}: {e}", config.addr))
        })?;
        if config.verbose {
            tokio::spawn(log_events(broker.events()));
        }
        report(&format!("mqbroker listening on {}", broker.local_addr()));
        if let Some(addr) = broker.tls_addr() {
            report(&format!("mqbroker listening on {addr} (tls)"));
        }
        if let Some(addr) = broker.ws_addr() {
            report(&format!("mqbroker listening on {addr} (websocket)"));
        }
        if let Some(addr) = broker.wss_addr() {
            report(&format!("mqbroker listening on {addr} (wss)"));
        }
        if let Some(path) = broker.unix_path() {
            report(&format!("mqbroker listening on {} (unix)", path.display()));
        }
        let signal = stop.await;
        tracing::info!(signal, "shutting down");
        broker.shutdown().await;
        Ok(())
    })
}

/// The TLS certificate chain and key, read from their PEM files.
fn tls_config(cert: &Path, key: &Path) -> io::Result<TlsConfig> {
    let read = |path: &Path, what: &str| {
        std::fs::read(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot read {what} {}: {e}", path.display()),
            )
        })
    };
    let chain = read(cert, "certificate")?;
    let key_pem = read(key, "key")?;
    TlsConfig::from_pem(&chain, &key_pem).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("{} / {}: {e}", cert.display(), key.display()),
        )
    })
}

/// Log every broker event (`-v`).
async fn log_events(mut events: Events) {
    while let Some(event) = events.next().await {
        tracing::info!(?event, "event");
    }
}

/// A future that ends with the name of the first shutdown signal received.
#[cfg(unix)]
fn shutdown_signal() -> io::Result<impl Future<Output = &'static str>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        }
    })
}

/// A future that ends with the name of the first shutdown signal received.
#[cfg(not(unix))]
fn shutdown_signal() -> io::Result<impl Future<Output = &'static str>> {
    Ok(async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "Ctrl-C",
            // Without a handler, wait forever rather than stop at once.
            Err(_) => std::future::pending().await,
        }
    })
}

/// One line on stderr; a closed stderr is ignored (there is nowhere left to say so).
fn report(line: &str) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use std::net::Ipv6Addr;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_listen_on_loopback_1883() {
        let config = Config::from(Cli::parse_from(["mqbroker"]));
        assert_eq!(config.addr, SocketAddr::from(([127, 0, 0, 1], 1883)));
        assert_eq!(config.max_packet_size, None);
        assert_eq!(config.ws_addr, None);
        assert!(config.tls.is_none());
        assert!(!config.verbose);
    }

    #[test]
    fn websocket_and_tls_listen_on_the_bind_address() {
        let config = Config::from(Cli::parse_from([
            "mqbroker",
            "--bind",
            "::1",
            "--ws-port",
            "8080",
            "--tls-port",
            "8883",
            "--cert",
            "c.pem",
            "--key",
            "k.pem",
        ]));
        let ip = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(config.ws_addr, Some(SocketAddr::new(ip, 8080)));
        assert_eq!(
            config.tls,
            Some((
                SocketAddr::new(ip, 8883),
                PathBuf::from("c.pem"),
                PathBuf::from("k.pem")
            ))
        );
    }

    #[test]
    fn tls_flags_come_together() {
        assert!(Cli::try_parse_from(["mqbroker", "--tls-port", "8883"]).is_err());
        assert!(Cli::try_parse_from(["mqbroker", "--tls-port", "1", "--cert", "c"]).is_err());
        assert!(Cli::try_parse_from(["mqbroker", "--cert", "c", "--key", "k"]).is_err());
        assert!(Cli::try_parse_from(["mqbroker", "--wss-port", "8884"]).is_err());
    }

    #[test]
    fn wss_shares_the_tls_files_and_unix_takes_a_path() {
        let config = Config::from(Cli::parse_from([
            "mqbroker",
            "--wss-port",
            "8884",
            "--cert",
            "c.pem",
            "--key",
            "k.pem",
            "--unix",
            "/tmp/mqbroker.sock",
        ]));
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert!(config.tls.is_none());
        assert_eq!(
            config.wss,
            Some((
                SocketAddr::new(ip, 8884),
                PathBuf::from("c.pem"),
                PathBuf::from("k.pem")
            ))
        );
        assert_eq!(config.unix, Some(PathBuf::from("/tmp/mqbroker.sock")));
    }

    #[test]
    fn flags_set_address_size_and_verbosity() {
        let config = Config::from(Cli::parse_from([
            "mqbroker",
            "-p",
            "0",
            "--bind",
            "::1",
            "--max-packet-size",
            "1024",
            "-v",
        ]));
        assert_eq!(config.addr, SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 0));
        assert_eq!(config.max_packet_size.map(NonZeroU32::get), Some(1024));
        assert!(config.verbose);
    }

    #[test]
    fn zero_max_packet_size_is_a_usage_error() {
        let err = Cli::try_parse_from(["mqbroker", "--max-packet-size", "0"]);
        assert!(err.is_err());
    }
}
