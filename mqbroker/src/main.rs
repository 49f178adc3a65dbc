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
//! With `-c FILE` it is configured instead from a `mosquitto.conf` subset, with mosquitto
//! 2.0's syntax, meaning and defaults (module `config`): listeners, users from a
//! `mosquitto_passwd` file (module `passwd`), an ACL file (module `acl`) and the limits it announces;
//! one `mqbroker listening on ADDRESS [(tls|websocket|wss)]` line per listener, in the
//! file's order. `mqbroker passwd FILE USER` adds a user to a password file.
//!
//! Exit codes: 0 after a clean shutdown, 1 when the broker cannot run (for example the address
//! is in use, or the configuration file is wrong), 2 for a usage error.

mod acl;
mod config;
mod passwd;

use std::io::{self, BufRead as _, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs as _};
use std::num::{NonZeroU16, NonZeroU32};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{ArgGroup, Parser, Subcommand};
use mqtt_testkit::{Broker, BrokerBuilder, Events, Listener, TlsConfig};
use tracing::level_filters::LevelFilter;

use crate::config::{FileConfig, Protocol};

/// Exit code for a broker that could not run.
const EXIT_FAILURE: u8 = 1;

/// Run the MQTT reference broker for local work (not a production broker).
#[derive(Debug, Parser)]
#[command(
    name = "mqbroker",
    version,
    after_help = CONFIG_HELP,
    args_conflicts_with_subcommands = true,
    group(ArgGroup::new("tls_listener").args(["tls_port", "wss_port"]).multiple(true))
)]
struct Cli {
    /// Configure the broker from this mosquitto.conf subset (see below) instead of the
    /// listener and limit flags.
    #[arg(
        short = 'c',
        long = "config-file",
        value_name = "FILE",
        conflicts_with_all = ["port", "bind", "ws_port", "tls_port", "wss_port", "cert", "key", "max_packet_size"]
    )]
    config_file: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,

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

/// What `mqbroker -c FILE` accepts, for `--help`.
const CONFIG_HELP: &str = "\
Configuration file (-c FILE): mosquitto 2.0's syntax and meaning, one setting per line, # for
comments. Anything else is an error naming its line.
  port PORT / bind_address HOST   the default listener (settings before any listener line)
  listener PORT [HOST]            one more listener (no HOST: every address); after it:
    protocol mqtt|websockets      certfile FILE, keyfile FILE (TLS: tls or wss)
    cafile FILE, require_certificate true|false (client certificates)
                                  (port and bind_address are the default listener's wherever
                                  they are, as in mosquitto: after a listener they add one)
  allow_anonymous true|false      default false once a listener is set; with no listener
                                  the broker listens on 127.0.0.1:1883 only, anonymous allowed
  password_file FILE              mosquitto_passwd's format ($7$ and $6$ hashes); add users
                                  with `mqbroker passwd FILE USER` or mosquitto_passwd
  acl_file FILE                   user NAME, topic [read|write|readwrite|deny] TOPIC,
                                  pattern ... TOPIC with %c (client id) and %u (user name);
                                  read access is checked for every message delivered
  max_keepalive SECS              Server Keep Alive for 5.0 clients asking for more (10-65535)
  max_packet_size BYTES           0: no limit (default)
  max_inflight_messages N         QoS 1/2 in flight each way: announced as Receive Maximum,
                                  and to each client (default 20; 0: 65535)
  max_queued_messages N           per session (default 1000; 0: no maximum)
  max_topic_alias N               aliases a 5.0 client may set up (default 10)
  assign_topic_aliases true|false mqbroker's own: give 5.0 clients aliases (default false)

Exit status: 0 after a clean shutdown (Ctrl-C, SIGTERM), 1 if the broker cannot run (a wrong
configuration file included), 2 for a usage error.";

/// Subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Add a user to a password file, or change its password
    ///
    /// The file is in mosquitto_passwd's format (this writes a $7$ PBKDF2-SHA512 hash, which
    /// mosquitto reads too). The password is the first line of standard input; the file is
    /// created if it does not exist.
    Passwd {
        /// The password file.
        file: PathBuf,
        /// The user name.
        user: String,
    },
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
fn run(mut cli: Cli) -> ExitCode {
    if let Some(Command::Passwd { file, user }) = cli.command.take() {
        return match add_user(&file, &user) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                report(&format!("Error: {e}"));
                ExitCode::from(EXIT_FAILURE)
            }
        };
    }
    let file = match cli.config_file.take().map(|p| load_config(&p)).transpose() {
        Ok(file) => file,
        Err(e) => {
            report(&format!("Error: {e}"));
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let config = Config::from(cli);
    init_logging(config.verbose);
    match serve(&config, file.as_ref()) {
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

/// `mqbroker passwd FILE USER`: the password from the first line of stdin.
fn add_user(file: &Path, user: &str) -> io::Result<()> {
    let invalid = |msg: String| io::Error::new(io::ErrorKind::InvalidInput, msg);
    if user.is_empty() || user.contains([':', '\n', '\r']) {
        return Err(invalid(format!(
            "bad user name {user:?} (empty, or with ':' or a line break)"
        )));
    }
    let mut password = String::new();
    io::stdin().lock().read_line(&mut password)?;
    let password = password.trim_end_matches(['\n', '\r']);
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", file.display()))),
    };
    // Refuse to rewrite a file that would not load.
    passwd::PasswordFile::parse(&text).map_err(|e| invalid(format!("{}: {e}", file.display())))?;
    let hash = passwd::Hash::new(password.as_bytes()).map_err(invalid)?;
    let text = passwd::PasswordFile::set_in_text(&text, user, &hash);
    std::fs::write(file, text)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", file.display())))
}

/// What `-c FILE` configures, its files (password, ACL) read and checked.
#[derive(Debug)]
struct Loaded {
    file: FileConfig,
    passwords: Option<passwd::PasswordFile>,
    acl: Option<acl::AclFile>,
}

/// Read and check a configuration file and the files it names.
fn load_config(path: &Path) -> io::Result<Loaded> {
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display())))
    };
    let invalid = |path: &Path, e: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    };
    let file = FileConfig::parse(&read(path)?).map_err(|e| invalid(path, e))?;
    let passwords = match &file.password_file {
        Some(p) => Some(passwd::PasswordFile::parse(&read(p)?).map_err(|e| invalid(p, e))?),
        None => None,
    };
    let acl = match &file.acl_file {
        Some(p) => Some(acl::AclFile::parse(&read(p)?).map_err(|e| invalid(p, e))?),
        None => None,
    };
    Ok(Loaded {
        file,
        passwords,
        acl,
    })
}

/// The address of a listener: its host (an IP address or a name, resolved) or every
/// address.
fn listener_addr(host: Option<&str>, port: u16) -> io::Result<SocketAddr> {
    let Some(host) = host else {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address")))
}

/// A builder configured from a file, and the label of each listener (in order).
fn file_builder(loaded: &Loaded) -> io::Result<(BrokerBuilder, Vec<&'static str>)> {
    let file = &loaded.file;
    let mut builder = Broker::builder();
    let mut labels = Vec::new();
    if file.listeners.is_empty() {
        // mosquitto 2.0 without a listener: loopback only.
        builder = builder.bind(SocketAddr::from(([127, 0, 0, 1], 1883)));
        labels.push("");
    } else {
        builder = builder.default_listener(false);
    }
    for l in &file.listeners {
        let addr = listener_addr(l.host.as_deref(), l.port)?;
        let tls = match (&l.certfile, &l.keyfile) {
            (Some(cert), Some(key)) => {
                let mut tls = tls_config(cert, key)?;
                if l.require_certificate
                    && let Some(ca) = &l.cafile
                {
                    let pem = std::fs::read(ca).map_err(|e| {
                        io::Error::new(
                            e.kind(),
                            format!("cannot read cafile {}: {e}", ca.display()),
                        )
                    })?;
                    tls = tls
                        .client_auth_required_pem(&pem)
                        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", ca.display())))?;
                }
                Some(tls)
            }
            _ => None,
        };
        let (listener, label) = match (l.protocol, tls) {
            (Protocol::Mqtt, None) => (Listener::Tcp(addr), ""),
            (Protocol::Mqtt, Some(tls)) => (Listener::Tls(addr, tls), " (tls)"),
            (Protocol::WebSockets, None) => (Listener::WebSocket(addr), " (websocket)"),
            (Protocol::WebSockets, Some(tls)) => (Listener::WebSocketTls(addr, tls), " (wss)"),
        };
        builder = builder.listener(listener);
        labels.push(label);
    }
    builder = builder.allow_anonymous(file.allow_anonymous());
    if let Some(passwords) = &loaded.passwords {
        builder = builder.authenticator(Arc::new(passwords.clone()));
    }
    if let Some(acl) = &loaded.acl {
        builder = builder.authorizer(Arc::new(acl.clone()));
    }
    if let Some(secs) = file.max_keepalive {
        builder = builder.max_keep_alive(secs);
    }
    // No limit: the protocol's (a Remaining Length of 268,435,455 and a 5-byte header).
    let max_packet = file.max_packet_size.unwrap_or(268_435_460);
    builder = builder.max_packet_size(NonZeroU32::new(max_packet).unwrap_or(NonZeroU32::MAX));
    // Both ways, as mosquitto: announced (and enforced) as Receive Maximum, and the most
    // messages in flight to each client.
    let inflight = NonZeroU16::new(file.max_inflight_messages).unwrap_or(NonZeroU16::MAX);
    builder = builder
        .receive_maximum(inflight)
        .max_inflight_messages(inflight);
    builder = builder
        .max_queued_messages(file.max_queued_messages)
        .topic_alias_maximum(file.max_topic_alias)
        .assign_topic_aliases(file.assign_topic_aliases);
    Ok((builder, labels))
}

fn serve(config: &Config, file: Option<&Loaded>) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // Handlers first: a signal that arrives right after the listening line must be caught.
        let stop = shutdown_signal()?;
        if let Some(file) = file {
            let (mut builder, labels) = file_builder(file)?;
            if let Some(path) = &config.unix {
                builder = builder.unix(path);
            }
            let broker = builder
                .start()
                .await
                .map_err(|e| io::Error::new(e.kind(), format!("cannot listen: {e}")))?;
            if config.verbose {
                tokio::spawn(log_events(broker.events()));
            }
            let addrs = if file.file.listeners.is_empty() {
                vec![broker.local_addr()]
            } else {
                broker.listener_addrs().to_vec()
            };
            for (addr, label) in addrs.iter().zip(labels) {
                report(&format!("mqbroker listening on {addr}{label}"));
            }
            if let Some(path) = broker.unix_path() {
                report(&format!("mqbroker listening on {} (unix)", path.display()));
            }
            let signal = stop.await;
            tracing::info!(signal, "shutting down");
            broker.shutdown().await;
            return Ok(());
        }
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
    #![allow(clippy::unwrap_used)]

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
    fn a_config_file_replaces_the_listener_flags() {
        let cli = Cli::try_parse_from(["mqbroker", "-c", "m.conf", "-v"]).unwrap();
        assert_eq!(cli.config_file, Some(PathBuf::from("m.conf")));
        for flag in [
            &["-p", "1"][..],
            &["--bind", "::1"],
            &["--ws-port", "1"],
            &["--max-packet-size", "100"],
        ] {
            let mut args = vec!["mqbroker", "-c", "m.conf"];
            args.extend(flag);
            assert!(Cli::try_parse_from(&args).is_err(), "{flag:?}");
        }
    }

    #[test]
    fn the_help_names_every_directive() {
        for directive in [
            "port",
            "bind_address",
            "listener",
            "protocol",
            "certfile",
            "keyfile",
            "cafile",
            "require_certificate",
            "allow_anonymous",
            "password_file",
            "acl_file",
            "max_keepalive",
            "max_packet_size",
            "max_inflight_messages",
            "max_queued_messages",
            "max_topic_alias",
            "assign_topic_aliases",
            "mqbroker passwd",
        ] {
            assert!(CONFIG_HELP.contains(directive), "{directive}");
        }
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("password_file FILE"), "{help}");
    }

    #[test]
    fn hosts_are_addresses_or_names() {
        assert_eq!(
            listener_addr(None, 1).unwrap(),
            SocketAddr::from(([0, 0, 0, 0], 1))
        );
        assert_eq!(
            listener_addr(Some("::1"), 2).unwrap(),
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 2)
        );
        assert!(
            listener_addr(Some("localhost"), 3)
                .unwrap()
                .ip()
                .is_loopback()
        );
    }

    #[test]
    fn passwd_is_a_subcommand() {
        let cli = Cli::try_parse_from(["mqbroker", "passwd", "pw", "alice"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Passwd { file, user }) if file == Path::new("pw") && user == "alice"
        ));
        assert!(Cli::try_parse_from(["mqbroker", "passwd", "pw"]).is_err());
    }

    #[test]
    fn zero_max_packet_size_is_a_usage_error() {
        let err = Cli::try_parse_from(["mqbroker", "--max-packet-size", "0"]);
        assert!(err.is_err());
    }
}
