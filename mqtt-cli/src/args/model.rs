//! The command-line model: what `mqpub` and `mqsub` run with ([`PubArgs`], [`SubArgs`], the
//! shared [`ConnArgs`]) and what parsing can end in ([`Parsed`], [`ParseError`]). Plain
//! data: the option table (`args::defs`) fills a `State`, which becomes these.

use std::path::PathBuf;
use std::time::Duration;

use mqtt_proto::{ProtocolVersion, QoS, RetainHandling, TopicFilter, TopicName, WillProperties};

use crate::format::OutputOptions;
use crate::props::V5Properties;
use crate::tool::Tool;
use crate::url::{self, ProxyUrl};

/// The outcome of parsing a command line, so that `main` stays thin.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed<T> {
    /// Valid: run with these arguments.
    Run(T),
    /// `--help`: print this on stdout and exit 0 (**D13**; mosquitto exits 1).
    Help(String),
    /// `--version`: print this on stdout and exit 0 (**D13**).
    Version(String),
    /// Invalid: print, then exit with `exit_code`.
    Error(ParseError),
}

impl<T> Parsed<T> {
    /// The arguments, if parsing succeeded.
    pub fn run(self) -> Option<T> {
        match self {
            Self::Run(t) => Some(t),
            _ => None,
        }
    }

    /// The error, if parsing failed.
    pub fn error(self) -> Option<ParseError> {
        match self {
            Self::Error(e) => Some(e),
            _ => None,
        }
    }
}

/// A command-line error, with everything to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The exact text for stderr (newlines and the `Use '... --help'` line included).
    pub stderr: String,
    /// Text for stdout: the usage for `mqpub` without topic or message, else empty.
    pub stdout: String,
    /// The exit status (always 1 for argument errors, as in mosquitto).
    pub exit_code: u8,
}

/// How to connect: the part shared by `mqpub` and `mqsub`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ConnArgs {
    /// `-h`, `-L` host, or the socket path with `--unix`. Default `localhost`.
    pub host: String,
    /// `-p`, `-L` port, or the default: 1883, or 8883 with `--cafile`/`--capath`/`--psk`.
    pub port: u16,
    /// TCP, WebSocket or a unix socket (`--unix`, or `-p 0` as in mosquitto).
    pub transport: Transport,
    /// The last `-L` URL, as given (its host, port, credentials, topic, TLS and WebSocket
    /// settings are already applied to the other fields).
    pub url: Option<url::MqttUrl>,
    /// `-A`: local address to bind.
    pub bind_address: Option<String>,
    /// `-V` (default 3.1.1); `-D` and `-x` switch to 5.
    pub protocol: ProtocolVersion,
    /// `-i` / `-I` / generated.
    pub client_id: ClientId,
    /// `-k` (default 60).
    pub keepalive: u16,
    /// `false` with `-c`.
    pub clean_session: bool,
    /// `-u` or the `-L` user.
    pub username: Option<String>,
    /// `-P`, the `-L` password, `--pw-file` or `$MQTT_PASSWORD`.
    pub password: Option<Vec<u8>>,
    /// `--pw-prompt` (addition) and no `-P`/`-L` password: the runtime reads the password
    /// from the terminal, without echo, before connecting (`password` is then `None`).
    pub password_prompt: bool,
    /// `--will-*`, with the `-D will` properties.
    pub will: Option<WillArgs>,
    /// TLS, when turned on (see [`TlsArgs`]).
    pub tls: Option<TlsArgs>,
    /// `--proxy`.
    pub proxy: Option<ProxyUrl>,
    /// `-D` properties. The session expiry interval of `-c`/`-x` is in
    /// `properties.connect.session_expiry_interval` (v5 only); with mqsub `-C n` (n < 20) on
    /// v5, `properties.connect.receive_maximum` is `n` unless given with `-D`.
    pub properties: V5Properties,
    /// `-M` (default 20).
    pub max_inflight: u32,
    /// `--nodelay`.
    pub nodelay: bool,
    /// `-d`.
    pub debug: bool,
    /// `--quiet`.
    pub quiet: bool,
    /// `--connect-timeout` (addition): seconds to wait for CONNACK; default the keep-alive.
    pub connect_timeout: Option<u32>,
    /// `--strict-exit` (**D8**).
    pub strict_exit: bool,
}

/// The transport to the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// Plain TCP (or TLS over TCP when [`ConnArgs::tls`] is set).
    Tcp,
    /// MQTT over WebSocket (`--ws`, `ws://`, `wss://`), at this HTTP path.
    WebSocket {
        /// Always `/mqtt` for now.
        path: String,
    },
    /// A unix-domain socket at this path (`--unix PATH`, or `-p 0` with `-h PATH`).
    Unix {
        /// The socket path.
        path: PathBuf,
    },
}

/// The client identifier to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientId {
    /// No `-i`/`-I`: **D14** generate `mqpub-<8 alphanumerics>` for every protocol version
    /// (mosquitto sends an empty id on 3.1.1 and 5).
    Generated,
    /// `-i ID` (may be empty: then an empty id is sent explicitly).
    Given(String),
    /// `-I PREFIX`: the prefix followed by the process id, without separator.
    Prefix(String),
}

impl ClientId {
    /// The identifier to send, given the process id and a random alphanumeric suffix
    /// (mosquitto-style ids use 8 characters).
    pub fn resolve(&self, tool: Tool, pid: u32, random: &str) -> String {
        match self {
            Self::Generated => format!("{}-{random}", tool.name()),
            Self::Given(id) => id.clone(),
            Self::Prefix(p) => format!("{p}{pid}"),
        }
    }
}

/// The will message (`--will-topic` and friends).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WillArgs {
    /// `--will-topic`.
    pub topic: TopicName,
    /// `--will-payload` (default empty).
    pub payload: Vec<u8>,
    /// `--will-qos`.
    pub qos: QoS,
    /// `--will-retain`.
    pub retain: bool,
    /// `-D will ...`.
    pub properties: WillProperties,
}

/// TLS settings. Present when TLS is on: `--cafile`, `--capath`, `--tls-use-os-certs`, an
/// `mqtts://`/`wss://` URL or port 8883 (unless `--no-tls`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TlsArgs {
    /// `--cafile`.
    pub cafile: Option<PathBuf>,
    /// `--capath`: a directory of CA certificates.
    pub capath: Option<PathBuf>,
    /// `--cert` (always together with `key`).
    pub cert: Option<PathBuf>,
    /// `--key`.
    pub key: Option<PathBuf>,
    /// Trust the OS store: `--tls-use-os-certs`, `mqtts://`, or port 8883 without CA options.
    pub use_os_certs: bool,
    /// `--insecure`: skip host-name verification.
    pub insecure: bool,
    /// `--tls-alpn`.
    pub alpn: Option<String>,
    /// `--tls-version`.
    pub version: Option<TlsVersion>,
    /// `--tls-keylog FILE` (addition, mosquitto 2.1).
    pub keylog: Option<PathBuf>,
}

/// A pinned TLS version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    /// `tlsv1.2`.
    Tls12,
    /// `tlsv1.3`.
    Tls13,
}

/// Where mqpub's payload comes from (exactly one of `-m -f -l -s -n`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageSource {
    /// `-m TEXT`.
    Message(Vec<u8>),
    /// `-f PATH`: the whole file, binary-safe; an empty file sends an empty message.
    File(PathBuf),
    /// `-l`: one message per stdin line (the `\n` stripped, a `\r` kept).
    StdinLine,
    /// `-s`: all of stdin as one message (empty stdin is an error).
    StdinFile,
    /// `-n`: a zero-length message.
    Null,
}

/// `mqpub`'s arguments.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PubArgs {
    /// Connection options.
    pub conn: ConnArgs,
    /// `-t` or the `-L` topic.
    pub topic: TopicName,
    /// The payload source.
    pub message: MessageSource,
    /// `-q`.
    pub qos: QoS,
    /// `-r`.
    pub retain: bool,
    /// `--repeat` (default 1; ignored with `-l`).
    pub repeat: u32,
    /// `--repeat-delay`.
    pub repeat_delay: Duration,
    /// `--topic-aliases` (new): on MQTT v5, topic aliases assigned by the client when the
    /// broker allows them.
    pub topic_aliases: bool,
}

/// What mqsub does when the connection is lost after the first CONNACK (**D11**).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconnect {
    /// Reconnect forever (mosquitto's behaviour, but reported on stderr).
    Forever,
    /// `--reconnect-max N`: give up after N failed attempts in a row.
    Max(u32),
    /// `--no-reconnect`: exit instead.
    Never,
}

/// `mqsub`'s arguments.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SubArgs {
    /// Connection options.
    pub conn: ConnArgs,
    /// `-t` filters and the `-L` topic, in order; all in one SUBSCRIBE with QoS `qos`.
    pub topics: Vec<TopicFilter>,
    /// `-q`: requested QoS for every filter.
    pub qos: QoS,
    /// `-T`: do not print messages whose topic matches.
    pub filter_out: Vec<TopicFilter>,
    /// `-U`: unsubscribe after subscribing.
    pub unsubscribe: Vec<TopicFilter>,
    /// `-v`, `-F`, `-N`, `--pretty`, `--json`.
    pub output: OutputOptions,
    /// `-C`: exit after this many messages.
    pub msg_count: Option<u32>,
    /// `-W`: hard time limit in seconds.
    pub timeout: Option<u32>,
    /// `-E`: exit at SUBACK.
    pub exit_after_sub: bool,
    /// `-R`: do not print retained messages.
    pub no_retained: bool,
    /// `--retained-only`.
    pub retained_only: bool,
    /// `--remove-retained` (**D4**: works together with `-R`).
    pub remove_retained: bool,
    /// `--retain-as-published` (v5 subscription option).
    pub retain_as_published: bool,
    /// v5 retain handling: `--retain-handling`, else `DoNotSend` with `-R`.
    pub retain_handling: RetainHandling,
    /// `--random-filter`: percentage of messages to print (**D3**: a real percentage).
    pub random_filter: Option<f64>,
    /// **D11**.
    pub reconnect: Reconnect,
    /// `--output FILE` (addition): append the printed messages to FILE instead of stdout.
    pub output_file: Option<PathBuf>,
    /// `--output-dir DIR` (addition): write each message to its own file in DIR
    /// (see [`message_file_name`]).
    pub output_dir: Option<PathBuf>,
    /// `--message-rate` (addition, a mosquitto 2.1 name): print the number of messages
    /// received per second on stderr, once a second, instead of the messages.
    pub message_rate: bool,
    /// `-w`/`--watch` (addition, mosquitto 2.1 names): instead of printing each message,
    /// keep redrawing a table of the latest message of every topic.
    pub watch: bool,
}

/// The name of the file `--output-dir` writes the `counter`-th message (from 1) to: the
/// topic with every `/` replaced by `_`, a `-`, and the counter (`a/b` → `a_b-1`). A
/// topic that starts with `.` gets a `_` in front (no hidden files, no `..`); a NUL (not
/// valid in a file name) becomes `_`.
pub fn message_file_name(topic: &str, counter: u64) -> String {
    let mut name: String = topic
        .chars()
        .map(|c| if c == '/' || c == '\0' { '_' } else { c })
        .collect();
    if name.starts_with('.') {
        name.insert(0, '_');
    }
    format!("{name}-{counter}")
}
