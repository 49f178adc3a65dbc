//! What `mqpub` and `mqsub` share once their command lines are parsed: client options from
//! [`ConnArgs`], mosquitto's messages and exit codes for connection failures, and the `-d`
//! lines.

use std::io::Write;
use std::num::{NonZeroU16, NonZeroU32};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use bytestring::ByteString;
use mqtt_client::{
    CaSource, ClientCert, ConnectError, Direction, Endpoint, Options, Proxy, ProxyError, ProxyKind,
    TlsOptions, TlsVersion,
};
use mqtt_proto::client::ConnectionError;
use mqtt_proto::{ConnectReason, Packet, ProtocolVersion, RetainHandling, Will};

use crate::args::{ConnArgs, TlsArgs, Tool, Transport};
use crate::debug;
use crate::format::MessageView;

/// Why a tool stops: what to print on stderr and the exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The text for stderr, newline included (empty: print nothing).
    pub stderr: String,
    /// The exit status.
    pub code: u8,
}

impl Failure {
    /// `Error: <text>` and status 1.
    pub fn error(text: impl std::fmt::Display) -> Self {
        Self {
            stderr: format!("Error: {text}\n"),
            code: 1,
        }
    }
}

/// Run a tool's work on a current-thread runtime and turn its outcome into the exit status:
/// a failure's text goes to stderr unless `quiet` (a failure whose status is `loud_code`
/// is printed even so). The runtime is dropped (ending the connection task) before printing.
pub fn run_main<F>(quiet: bool, loud_code: Option<u8>, work: F) -> u8
where
    F: std::future::Future<Output = Result<u8, Failure>>,
{
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "Error: {e}");
            return 1;
        }
    };
    let result = rt.block_on(work);
    // The connection task may still hold the socket: the runtime ends it.
    drop(rt);
    match result {
        Ok(code) => code,
        Err(f) => {
            if !quiet || loud_code == Some(f.code) {
                let _ = std::io::stderr().write_all(f.stderr.as_bytes());
            }
            f.code
        }
    }
}

/// The client identifier a run uses (**D14**: a generated one ends in 8 random letters and
/// digits, from fastrand, the crate's one random source).
pub fn client_id(tool: Tool, conn: &ConnArgs) -> String {
    let random: String = std::iter::repeat_with(fastrand::alphanumeric)
        .take(8)
        .collect();
    conn.client_id.resolve(tool, std::process::id(), &random)
}

/// Client options for these arguments.
pub fn options(tool: Tool, conn: &ConnArgs, client_id: &str) -> Result<Options, Failure> {
    let endpoint = match (&conn.transport, conn.tls.is_some()) {
        (Transport::Tcp, false) => Endpoint::Tcp {
            host: conn.host.clone(),
            port: conn.port,
        },
        (Transport::Tcp, true) => Endpoint::Tls {
            host: conn.host.clone(),
            port: conn.port,
        },
        (Transport::WebSocket { path }, false) => Endpoint::WebSocket {
            host: conn.host.clone(),
            port: conn.port,
            path: path.clone(),
        },
        (Transport::WebSocket { path }, true) => Endpoint::SecureWebSocket {
            host: conn.host.clone(),
            port: conn.port,
            path: path.clone(),
        },
        (Transport::Unix { path }, _) => Endpoint::Unix { path: path.clone() },
    };
    let mut o = Options::new(endpoint)
        .with_protocol(conn.protocol)
        .with_client_id(client_id);
    o.mqtt.clean_start = conn.clean_session;
    o.mqtt.keep_alive = Duration::from_secs(u64::from(conn.keepalive));
    o.mqtt.connect_timeout = Duration::from_secs(u64::from(
        conn.connect_timeout
            .unwrap_or(u32::from(conn.keepalive).max(1)),
    ));
    o.mqtt.username = conn.username.clone().map(ByteString::from);
    o.mqtt.password = match &conn.password {
        Some(p) => Some(Bytes::from(p.clone())),
        None if conn.password_prompt => Some(Bytes::from(prompt_password()?)),
        None => None,
    };
    o.mqtt.max_inflight = NonZeroU16::new(u16::try_from(conn.max_inflight).unwrap_or(u16::MAX))
        .unwrap_or(NonZeroU16::MIN);
    let p = &conn.properties.connect;
    o.mqtt.session_expiry_interval = p.session_expiry_interval.unwrap_or(0);
    if let Some(r) = p.receive_maximum {
        o.mqtt.receive_maximum = r;
    }
    if let Some(m) = p.maximum_packet_size {
        o.mqtt.max_packet_size = m;
    }
    if let Some(t) = p.topic_alias_maximum {
        o.mqtt.topic_alias_maximum = t;
    }
    o.mqtt.request_response_information = p.request_response_information.unwrap_or(false);
    o.mqtt.request_problem_information = p.request_problem_information;
    o.mqtt.user_properties.clone_from(&p.user_properties);
    if p.authentication_method.is_some() {
        return Err(Failure::error(
            "-D connect authentication-method is not supported by this build.",
        ));
    }
    if let Some(w) = &conn.will {
        o.mqtt.will = Some(Will {
            topic: w.topic.clone(),
            payload: Bytes::from(w.payload.clone()),
            qos: w.qos,
            retain: w.retain,
            properties: w.properties.clone(),
        });
    }
    if let Some(addr) = &conn.bind_address {
        o.bind_address = Some(
            addr.parse()
                .map_err(|_| Failure::error(format!("Invalid bind address given: {addr}")))?,
        );
    }
    o.tcp_nodelay = true;
    if let Some(p) = &conn.proxy {
        // mosquitto: SOCKS5, the name resolved by the proxy; `http://` is ours (CONNECT).
        let kind = if p.http {
            ProxyKind::HttpConnect
        } else {
            ProxyKind::Socks5h
        };
        let mut proxy = Proxy::new(kind, p.host.clone(), p.port);
        proxy.username.clone_from(&p.username);
        proxy.password.clone_from(&p.password);
        o.proxy = Some(proxy);
    }
    if let Some(tls) = &conn.tls {
        o.tls = tls_options(tls)?;
    }
    if conn.debug {
        let id = if client_id.is_empty() {
            "(null)".to_string()
        } else {
            client_id.to_string()
        };
        let _ = tool;
        let v5 = conn.protocol.is_v5();
        // libmosquitto numbers every outgoing PUBLISH, QoS 0 included (`m1`, `m2`…, a mid
        // that never goes on the wire); the QoS 0 packet itself has none.
        let qos0_mid = std::sync::atomic::AtomicU16::new(0);
        o.packet_trace = Some(Arc::new(move |d, p: &Packet| {
            let lines = match p {
                Packet::Publish(pb) if d == Direction::Sent && pb.qos.packet_id().is_none() => {
                    let mid = qos0_mid
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                        .wrapping_add(1);
                    let view = MessageView {
                        qos: 0,
                        retain: pb.retain,
                        mid: Some(mid),
                        ..MessageView::new(sent_topic(pb), &pb.payload)
                    };
                    vec![debug::publish(&id, true, pb.dup, &view)]
                }
                _ => debug_lines(&id, v5, d, p),
            };
            let mut out = std::io::stdout().lock();
            for l in lines {
                // A closed stdout ends the tool elsewhere; nothing to do here.
                let _ = writeln!(out, "{l}");
            }
            let _ = out.flush();
        }));
    }
    Ok(o)
}

/// `--pw-prompt`: `Password: ` on stderr, then one line read from the terminal
/// (`/dev/tty`) without echo. The password is never printed, `-d` included.
pub fn prompt_password() -> Result<Vec<u8>, Failure> {
    let fail = |e: std::io::Error| {
        Failure::error(format!(
            "Unable to read the password: {}",
            strerror(&e.to_string())
        ))
    };
    // No prompt at all when there is no terminal to read from.
    #[cfg(unix)]
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(fail)?;
    let config = rpassword::ConfigBuilder::new()
        .output_writer(std::io::stderr())
        .build();
    rpassword::prompt_password_with_config("Password: ", config)
        .map(String::into_bytes)
        .map_err(fail)
}

fn tls_options(t: &TlsArgs) -> Result<TlsOptions, Failure> {
    let mut o = TlsOptions::default();
    // mosquitto trusts the OS store (OpenSSL's default paths) with `--tls-use-os-certs`,
    // and for TLS without `--cafile` / `--capath` (`mqtts://`, port 8883); with both, the
    // OS store and the CA file.
    let mut sources = Vec::new();
    if t.use_os_certs {
        sources.push(CaSource::OsStore);
    }
    if let Some(f) = &t.cafile {
        if !f.exists() {
            return Err(Failure::error(
                "Problem setting TLS options: File not found.",
            ));
        }
        sources.push(CaSource::PemFile(f.clone()));
    } else if let Some(dir) = &t.capath {
        let mut pem = Vec::new();
        let entries = std::fs::read_dir(dir)
            .map_err(|_| Failure::error("Problem setting TLS options: File not found."))?;
        for e in entries.flatten() {
            let path = e.path();
            let ext = path.extension().and_then(|x| x.to_str()).unwrap_or("");
            if (matches!(ext, "pem" | "crt" | "0" | "1") || ext.parse::<u32>().is_ok())
                && let Ok(bytes) = std::fs::read(&path)
            {
                pem.extend_from_slice(&bytes);
                pem.push(b'\n');
            }
        }
        sources.push(CaSource::Pem(pem));
    }
    o.ca = match sources.len() {
        0 => CaSource::OsStore,
        1 => sources.remove(0),
        _ => CaSource::Multiple(sources),
    };
    match (&t.cert, &t.key) {
        (Some(cert), Some(key)) => {
            o.client_cert = Some(ClientCert::PemFiles {
                cert_chain: cert.clone(),
                key: key.clone(),
            });
        }
        (None, None) => {}
        _ => {
            return Err(Failure::error(
                "Both certfile and keyfile must be provided if one of them is set.",
            ));
        }
    }
    o.dangerous_skip_hostname_verification = t.insecure;
    if let Some(alpn) = &t.alpn {
        o.alpn = vec![alpn.as_bytes().to_vec()];
    }
    o.only_version = t.version.map(|v| match v {
        crate::args::TlsVersion::Tls12 => TlsVersion::Tls12,
        crate::args::TlsVersion::Tls13 => TlsVersion::Tls13,
    });
    // --tls-keylog (2.1): NSS key-log lines appended to the file.
    o.key_log_file.clone_from(&t.keylog);
    Ok(o)
}

/// The message and exit status for a connection that could not be made (mosquitto's, with
/// the fixes D9 and D10). `pub_tool` adds mosquitto_pub's second line for refusals.
pub fn connect_failure(
    e: &ConnectError,
    protocol: ProtocolVersion,
    pub_tool: bool,
    connect_timeout: Duration,
) -> Failure {
    match e {
        ConnectError::Unreachable { kind, message, .. } => {
            let text = match kind {
                std::io::ErrorKind::ConnectionRefused => "Connection refused".to_string(),
                std::io::ErrorKind::NotFound => "No such file or directory".to_string(),
                _ if message.contains("lookup") || message.contains("resolve") => {
                    return Failure {
                        stderr: "Unable to connect (Lookup error.).\n".into(),
                        code: 1,
                    };
                }
                _ => strerror(message),
            };
            Failure::error(text)
        }
        ConnectError::Timeout(_) => Failure::error("Connection timed out"),
        ConnectError::Tls { message, .. } => Failure {
            // D10: always this message, the reason on a second line, exit 8.
            stderr: format!("Error: A TLS error occurred.\n{message}\n"),
            code: 8,
        },
        ConnectError::Proxy { source, .. } => proxy_failure(source),
        ConnectError::WebSocket { message, .. } => {
            Failure::error(format!("WebSocket upgrade failed: {message}"))
        }
        ConnectError::Refused { reason, .. } => refused(*reason, protocol, pub_tool),
        ConnectError::Connection(ConnectionError::ConnectTimeout(_)) => Failure {
            // D9 (mosquitto: "Error: Unknown error."). The limit that fired is the connect
            // timeout (`--connect-timeout`, the keep-alive by default), not the keep-alive
            // of a connection already up; mosquitto's code for both is 19.
            stderr: format!(
                "Error: No CONNACK received within the connect timeout ({} s).\n",
                connect_timeout.as_secs()
            ),
            code: 19,
        },
        ConnectError::Connection(ConnectionError::Decode(_) | ConnectionError::Protocol(_)) => {
            Failure {
                // D9 (mosquitto: "Error: Success").
                stderr: "Error: Protocol error: server did not speak MQTT.\n".into(),
                code: 14,
            }
        }
        ConnectError::Connection(_) => Failure {
            stderr: "Error: The connection was lost.\n".into(),
            code: 7,
        },
        ConnectError::InvalidOptions(m) | ConnectError::InvalidUrl(m) => Failure::error(m),
        other => Failure::error(other),
    }
}

/// mosquitto_pub's message and status for a proxy failure (libmosquitto's SOCKS5 codes:
/// `MOSQ_ERR_AUTH` for refused credentials and "not allowed by ruleset", `MOSQ_ERR_NO_CONN`
/// when the proxy cannot reach the broker, `MOSQ_ERR_PROXY` for its other failures). The
/// HTTP CONNECT failures (ours) map to the nearest of these.
fn proxy_failure(e: &ProxyError) -> Failure {
    let (text, code) = match e {
        ProxyError::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => ("Connection refused".to_string(), 1),
            _ => (strerror(&io.to_string()), 1),
        },
        ProxyError::AuthenticationRequired | ProxyError::AuthenticationFailed => {
            ("Authorisation failed.".into(), 11)
        }
        ProxyError::Socks5 { reply: 2 } => ("Authorisation failed.".into(), 11),
        ProxyError::Socks5 { reply: 3..=5 } => ("The client is not currently connected.".into(), 4),
        ProxyError::Http { status: 403, .. } => ("Authorisation failed.".into(), 11),
        ProxyError::Http {
            status: 502..=504, ..
        } => ("The client is not currently connected.".into(), 4),
        _ => ("Proxy error.".into(), 16),
    };
    Failure {
        stderr: format!("Error: {text}\n"),
        code,
    }
}

/// mosquitto's text for an I/O error: strerror without Rust's ` (os error N)`.
fn strerror(message: &str) -> String {
    match message.find(" (os error") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

fn refused(reason: ConnectReason, protocol: ProtocolVersion, pub_tool: bool) -> Failure {
    if protocol.is_v5() {
        let mut text = reason.description().to_string();
        if reason == ConnectReason::UnsupportedProtocolVersion {
            text.push_str(". Try connecting to an MQTT v5 broker, or use MQTT v3.x mode.");
        }
        let mut stderr = format!("Connection error: {text}\n");
        if pub_tool {
            stderr.push_str(
                "Error: A network protocol error occurred when communicating with the broker.\n",
            );
        }
        return Failure {
            stderr,
            code: reason.code(),
        };
    }
    let code = reason.to_v3().unwrap_or(3);
    let text = match code {
        1 => "unacceptable protocol version",
        2 => "identifier rejected",
        3 => "broker unavailable",
        4 => "bad user name or password",
        _ => "not authorised",
    };
    let mut stderr = format!("Connection error: Connection Refused: {text}.\n");
    if pub_tool {
        stderr.push_str("Error: The connection was refused.\n");
    }
    Failure { stderr, code }
}

/// The topic of a PUBLISH we sent, as `-d` shows it: an alias-only PUBLISH (a topic alias
/// the broker already knows, empty topic) is `(null)`, as libmosquitto prints it.
fn sent_topic(p: &mqtt_proto::Publish) -> &str {
    if p.topic.is_empty() {
        "(null)"
    } else {
        p.topic.as_str()
    }
}

/// The `-d` lines for one packet.
pub fn debug_lines(id: &str, v5: bool, d: Direction, p: &Packet) -> Vec<String> {
    let sent = d == Direction::Sent;
    let one = |s: String| vec![s];
    match p {
        Packet::Connect(_) => one(debug::sending_connect(id)),
        Packet::ConnAck(c) => {
            let rc = if v5 {
                c.reason.code()
            } else {
                c.reason.to_v3().unwrap_or(c.reason.code())
            };
            one(debug::received_connack(id, rc))
        }
        Packet::Publish(p) => {
            let view = MessageView {
                qos: p.qos.qos() as u8,
                retain: p.retain,
                mid: p.qos.packet_id().map(|m| m.get()),
                ..MessageView::new(
                    if sent {
                        sent_topic(p)
                    } else {
                        p.topic.as_str()
                    },
                    &p.payload,
                )
            };
            one(debug::publish(id, sent, p.dup, &view))
        }
        Packet::PubAck(a) if sent => one(debug::sending_ack(
            id,
            "PUBACK",
            a.packet_id.get(),
            a.reason.code(),
        )),
        Packet::PubAck(a) => one(debug::received_ack(
            id,
            "PUBACK",
            a.packet_id.get(),
            a.reason.code(),
        )),
        Packet::PubRec(a) if sent => one(debug::sending_ack(
            id,
            "PUBREC",
            a.packet_id.get(),
            a.reason.code(),
        )),
        Packet::PubRec(a) => one(debug::received_mid(id, "PUBREC", a.packet_id.get())),
        Packet::PubRel(a) if sent => one(debug::sending_mid(id, "PUBREL", a.packet_id.get())),
        Packet::PubRel(a) => one(debug::received_mid(id, "PUBREL", a.packet_id.get())),
        Packet::PubComp(a) if sent => one(debug::sending_mid(id, "PUBCOMP", a.packet_id.get())),
        Packet::PubComp(a) => one(debug::received_ack(
            id,
            "PUBCOMP",
            a.packet_id.get(),
            a.reason.code(),
        )),
        Packet::Subscribe(s) => s
            .subscriptions
            .iter()
            .map(|sub| {
                let o = &sub.options;
                let rh = o.retain_handling as u8;
                let options = (u8::from(o.no_local) << 2)
                    | (u8::from(o.retain_as_published) << 3)
                    | (rh << 4);
                debug::sending_subscribe(
                    id,
                    s.packet_id.get(),
                    sub.filter.as_str(),
                    o.qos as u8,
                    options,
                )
            })
            .collect(),
        Packet::SubAck(_) => one(debug::received(id, "SUBACK")),
        Packet::Unsubscribe(u) => u
            .filters
            .iter()
            .map(|f| debug::sending_unsubscribe(id, u.packet_id.get(), f.as_str()))
            .collect(),
        Packet::UnsubAck(_) => one(debug::received(id, "UNSUBACK")),
        Packet::PingReq => one(debug::sending(id, "PINGREQ")),
        Packet::PingResp => one(debug::received(id, "PINGRESP")),
        Packet::Disconnect(_) if sent => one(debug::sending(id, "DISCONNECT")),
        Packet::Disconnect(d) => one(debug::received_disconnect(d.reason.code())),
        Packet::Auth(_) if sent => one(debug::sending(id, "AUTH")),
        Packet::Auth(_) => one(debug::received(id, "AUTH")),
    }
}

/// Whether a v5 subscription's options need the 5.0 retain handling (for `-R`).
pub fn retain_handling(no_retained: bool, chosen: RetainHandling) -> RetainHandling {
    if no_retained && chosen == RetainHandling::SendAtSubscribe {
        RetainHandling::DoNotSend
    } else {
        chosen
    }
}

/// The largest packet accepted: mosquitto has no limit below the protocol's.
pub fn max_packet() -> NonZeroU32 {
    NonZeroU32::new(mqtt_proto::MAX_PACKET_SIZE).unwrap_or(NonZeroU32::MAX)
}
