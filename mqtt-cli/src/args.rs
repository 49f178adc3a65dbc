//! The command lines of `mqpub` and `mqsub`, parsed the way mosquitto_pub/mosquitto_sub
//! 2.0.11 parse theirs.
//!
//! # Parsing rules (matched exactly)
//!
//! - Each option is its own argv word; its value is the **next word, verbatim, even if it
//!   starts with `-`** (`-m -5` publishes `-5`). No bundling (`-qq`), no attached values
//!   (`-tsensor`, `--topic=x`), no positional arguments: all give
//!   `Error: Unknown option '<word>'.`
//! - Numbers use C `atoi` semantics (`-k 10s` is 10, `-C abc` is 0 and so
//!   `Error: Invalid message count "0".`), except **D6** below.
//! - Options are read left to right; for scalars the later value wins; `-t` (mqsub), `-T`,
//!   `-U` and `-D` accumulate; for mqpub a later `-t` replaces an earlier one.
//! - The options file ([`crate::config`]) is read first with the same parser, then argv.
//! - Errors: `Error: ...` on stderr followed by `\nUse 'mqpub --help' to see usage.\n`, exit
//!   status 1. `mqpub` without topic or message prints the whole usage on **stdout**.
//!
//! # Deliberate deviations (see `DIFFERENCES.md`)
//!
//! - **D5**: an empty topic (`-t ''`, `-T ''`, `-U ''`, `--will-topic ''`) is rejected.
//! - **D6**: `-q`, `-p` and `--will-qos` reject words that do not start with a number
//!   (`Error: Invalid QoS given: abc`) instead of reading them as 0.
//! - **D3**: `--random-filter` is a real percentage.
//! - **D4**: `-R` no longer disables `--remove-retained` (nothing to do in the parser).
//! - **D8**: `--strict-exit` (new).
//! - **D11**: `--no-reconnect`, `--reconnect-max N` (new, mqsub).
//! - **D13**: `--help` and `--version` exit with status 0.
//! - **D14**: the default client id is generated client-side ([`ClientId::Generated`]).
//! - **D15**: `-x` switches to MQTT v5, like `-D` does.
//! - **D16**: TLS options that rustls cannot honour (`--psk`, `--tls-engine`, `--ciphers`,
//!   `--keyform engine`, `--tls-version tlsv1.1`) are accepted by the parser and then fail
//!   with `Error: <option> is not supported by this build.`, exit 1.
//!
//! Additions (new long options only): `-o FILE`, `--no-tls`, `--tls-keylog FILE`, `--ws`,
//! `ws://`/`wss://` URLs, `--retain-handling`, `--connect-timeout`, `--pw-file`,
//! `$MQTT_PASSWORD`, `--pw-prompt`, `--json`, `--json-props`, `--color`,
//! `--payload-format`, `--output`, `--output-dir`, `--message-rate`, `-w`/`--watch`.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::time::Duration;

use mqtt_proto::{ProtocolVersion, QoS, RetainHandling, TopicFilter, TopicName, WillProperties};

use crate::config::{self, Environment};
use crate::format::{ColorChoice, Format, OutputOptions, PayloadFormat};
use crate::props::{self, PropertyPacket, V5Properties};
use crate::url::{self, ProxyUrl};

/// Which tool is being parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tool {
    /// `mqpub`.
    Pub,
    /// `mqsub`.
    Sub,
}

impl Tool {
    /// The program name, also the name of the options file.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Pub => "mqpub",
            Self::Sub => "mqsub",
        }
    }

    /// The full usage text printed by `--help`.
    pub fn usage(self) -> String {
        crate::help::usage(self)
    }

    /// The line printed by `--version`.
    pub fn version(self) -> String {
        format!(
            "{} version {} running on mqtt-proto {}.\n",
            self.name(),
            env!("CARGO_PKG_VERSION"),
            env!("CARGO_PKG_VERSION")
        )
    }
}

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
    /// (see [`random_alnum`]; mosquitto-style ids use 8 characters).
    pub fn resolve(&self, tool: Tool, pid: u32, random: &str) -> String {
        match self {
            Self::Generated => format!("{}-{random}", tool.name()),
            Self::Given(id) => id.clone(),
            Self::Prefix(p) => format!("{p}{pid}"),
        }
    }
}

/// `n` random ASCII letters and digits for [`ClientId::Generated`], without a `rand`
/// dependency (seeded from std's per-process random hash keys and the clock).
pub fn random_alnum(n: usize) -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher as _, Hasher as _};

    const ALNUM: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.write_u32(std::process::id());
    let mut x = h.finish();
    (0..n)
        .map(|_| {
            // xorshift64*
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
            char::from(ALNUM[(r >> 32) as usize % ALNUM.len()])
        })
        .collect()
}

/// The will message (`--will-topic` and friends).
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// Parses `mqpub`'s arguments (without the program name), reading the options file named
/// by `-o` or found through `env`, and `--pw-file`.
pub fn parse_pub<I, S>(args: I, env: &Environment) -> Parsed<PubArgs>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    with_file(Tool::Pub, &args, env, |config| {
        parse_pub_with(&args, config, env)
    })
}

/// Parses `mqsub`'s arguments; see [`parse_pub`].
pub fn parse_sub<I, S>(args: I, env: &Environment) -> Parsed<SubArgs>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    with_file(Tool::Sub, &args, env, |config| {
        parse_sub_with(&args, config, env)
    })
}

/// Parses `mqpub`'s arguments with the options file's contents given directly (no file
/// system access except `--pw-file`). `env` supplies `$MQTT_PASSWORD`.
pub fn parse_pub_with(
    args: &[OsString],
    config: Option<&[u8]>,
    env: &Environment,
) -> Parsed<PubArgs> {
    let mut st = State::new(Tool::Pub);
    if let Some(p) = st.run(args, config) {
        return p;
    }
    st.finish_pub(env).unwrap_or_else(Parsed::Error)
}

/// Parses `mqsub`'s arguments with the options file's contents given directly.
pub fn parse_sub_with(
    args: &[OsString],
    config: Option<&[u8]>,
    env: &Environment,
) -> Parsed<SubArgs> {
    let mut st = State::new(Tool::Sub);
    if let Some(p) = st.run(args, config) {
        return p;
    }
    st.finish_sub(env).unwrap_or_else(Parsed::Error)
}

fn with_file<T>(
    tool: Tool,
    args: &[OsString],
    env: &Environment,
    f: impl FnOnce(Option<&[u8]>) -> Parsed<T>,
) -> Parsed<T> {
    let explicit = match options_file_arg(tool, args) {
        Ok(p) => p,
        Err(e) => return Parsed::Error(e),
    };
    let contents = match explicit {
        Some(path) => match std::fs::read(&path) {
            Ok(c) => Some(c),
            // Deviation: 2.1 silently ignores an -o file it cannot open.
            Err(e) => {
                return Parsed::Error(plain(format!(
                    "Error: Unable to open options file \"{}\": {}.\n",
                    path.to_string_lossy(),
                    io_reason(&e)
                )));
            }
        },
        None => config::default_path(tool, env).and_then(|p| std::fs::read(p).ok()),
    };
    f(contents.as_deref())
}

fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    // "No such file or directory (os error 2)" -> "No such file or directory"
    match s.find(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// Finds `-o FILE` in argv (mosquitto 2.1 looks for it before anything else).
fn options_file_arg(tool: Tool, args: &[OsString]) -> Result<Option<OsString>, ParseError> {
    let mut found = None;
    let mut i = 0;
    while i < args.len() {
        let w = args[i].to_string_lossy();
        if w == "-o" {
            if found.is_some() {
                return Err(with_use(tool, "Error: Duplicate -o argument given.\n\n"));
            }
            match args.get(i + 1) {
                Some(v) => found = Some(v.clone()),
                None => {
                    return Err(with_use(
                        tool,
                        "Error: -o argument given but no options file specified.\n\n",
                    ));
                }
            }
            i += 2;
        } else if w == "-D" || w == "--property" {
            let user = args.get(i + 2).is_some_and(|p| p == "user-property");
            i += if user { 5 } else { 4 };
        } else if takes_value(&w) {
            i += 2;
        } else {
            i += 1;
        }
    }
    Ok(found)
}

fn takes_value(w: &str) -> bool {
    matches!(
        w,
        "-A" | "--cafile"
            | "--capath"
            | "--cert"
            | "--ciphers"
            | "-C"
            | "-f"
            | "--file"
            | "-F"
            | "-h"
            | "--host"
            | "-i"
            | "--id"
            | "-I"
            | "--id-prefix"
            | "-k"
            | "--keepalive"
            | "--key"
            | "--keyform"
            | "-L"
            | "--url"
            | "-m"
            | "--message"
            | "-M"
            | "-p"
            | "--port"
            | "-P"
            | "--pw"
            | "--proxy"
            | "--psk"
            | "--psk-identity"
            | "-q"
            | "--qos"
            | "--random-filter"
            | "--repeat"
            | "--repeat-delay"
            | "-t"
            | "--topic"
            | "-T"
            | "--filter-out"
            | "--tls-alpn"
            | "--tls-engine"
            | "--tls-engine-kpass-sha1"
            | "--tls-version"
            | "--tls-keylog"
            | "-U"
            | "--unsubscribe"
            | "-u"
            | "--username"
            | "--unix"
            | "-V"
            | "--protocol-version"
            | "-W"
            | "--will-payload"
            | "--will-qos"
            | "--will-topic"
            | "-x"
            | "--retain-handling"
            | "--connect-timeout"
            | "--pw-file"
            | "--reconnect-max"
            | "--color"
            | "--payload-format"
            | "--output"
            | "--output-dir"
    )
}

// ---------------------------------------------------------------------------------------
// Helpers with C semantics.

/// C `atoi`/`atol`: leading whitespace, an optional sign, then digits; anything else stops
/// the number; no digits gives 0. Saturates instead of overflowing.
pub(crate) fn atoi(s: &[u8]) -> i64 {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut v: i64 = 0;
    while let Some(d) = s.get(i).filter(|d| d.is_ascii_digit()) {
        v = v.saturating_mul(10).saturating_add(i64::from(d - b'0'));
        i += 1;
    }
    if neg { -v } else { v }
}

/// [`atoi`] of an argv word.
pub(crate) fn atoll(s: &OsStr) -> i64 {
    atoi(&os_to_bytes(s))
}

/// C `atof`: the longest leading decimal floating-point number, else 0.
fn atof(s: &OsStr) -> f64 {
    let b = os_to_bytes(s);
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    let start = i;
    if matches!(b.get(i), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let from = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - from
    };
    let mut n = digits(&mut i);
    if b.get(i) == Some(&b'.') {
        i += 1;
        n += digits(&mut i);
    }
    if n == 0 {
        return 0.0;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if digits(&mut j) > 0 {
            i = j;
        }
    }
    std::str::from_utf8(&b[start..i])
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0.0)
}

/// Whether `atoi` finds a number at the start of a word (**D6**): a word without one
/// would silently become 0. A number followed by garbage (`1x`) keeps atoi's value, as in
/// mosquitto.
fn is_integer(s: &OsStr) -> bool {
    let b = os_to_bytes(s);
    let mut rest = &b[..];
    while let [b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c, tail @ ..] = rest {
        rest = tail;
    }
    if let [b'-' | b'+', tail @ ..] = rest {
        rest = tail;
    }
    rest.first().is_some_and(u8::is_ascii_digit)
}

/// The bytes of an argv word (raw on Unix, UTF-8 elsewhere).
pub(crate) fn os_to_bytes(s: &OsStr) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt as _;
        s.as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        s.to_string_lossy().into_owned().into_bytes()
    }
}

/// An argv-like word from file bytes.
pub(crate) fn bytes_to_os(b: Vec<u8>) -> OsString {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt as _;
        OsString::from_vec(b)
    }
    #[cfg(not(unix))]
    {
        OsString::from(String::from_utf8_lossy(&b).into_owned())
    }
}

fn with_use(tool: Tool, msg: &str) -> ParseError {
    ParseError {
        stderr: format!("{msg}\nUse '{} --help' to see usage.\n", tool.name()),
        stdout: String::new(),
        exit_code: 1,
    }
}

fn plain(msg: String) -> ParseError {
    ParseError {
        stderr: msg,
        stdout: String::new(),
        exit_code: 1,
    }
}

// ---------------------------------------------------------------------------------------
// The parser proper: one mutable state fed by the options file, then argv.

enum Flow {
    Help,
    Version,
}

/// An error message (with its own trailing newlines); the `Use` line is added later.
type Fail = String;

#[derive(Debug)]
struct State {
    tool: Tool,
    host: Option<String>,
    port: Option<i64>,
    bind_address: Option<String>,
    cafile: Option<PathBuf>,
    capath: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    keyform: Option<String>,
    ciphers: Option<String>,
    tls_version: Option<String>,
    tls_alpn: Option<String>,
    tls_engine: Option<String>,
    tls_engine_kpass_sha1: Option<String>,
    tls_use_os_certs: bool,
    tls_keylog: Option<PathBuf>,
    insecure: bool,
    psk: Option<String>,
    psk_identity: Option<String>,
    no_tls: bool,
    websocket: bool,
    proxy: Option<ProxyUrl>,
    url: Option<url::MqttUrl>,
    clean_session: bool,
    debug: bool,
    quiet: bool,
    props: V5Properties,
    deferred: Vec<PropertyPacket>,
    protocol: ProtocolVersion,
    id: Option<String>,
    id_prefix: Option<String>,
    keepalive: u16,
    max_inflight: u32,
    nodelay: bool,
    username: Option<String>,
    password: Option<Vec<u8>>,
    pw_file: Option<PathBuf>,
    pw_prompt: bool,
    qos: u8,
    will_topic: Option<TopicName>,
    will_payload: Option<Vec<u8>>,
    will_qos: u8,
    will_retain: bool,
    session_expiry: Option<u32>,
    connect_timeout: Option<u32>,
    strict_exit: bool,
    // mqpub
    topic: Option<TopicName>,
    message: Option<MessageSource>,
    retain: bool,
    repeat: u32,
    repeat_delay: f64,
    topic_aliases: bool,
    // mqsub
    topics: Vec<TopicFilter>,
    filter_out: Vec<TopicFilter>,
    unsubscribe: Vec<TopicFilter>,
    format: Option<Format>,
    verbose: bool,
    eol: bool,
    pretty: bool,
    msg_count: Option<u32>,
    timeout: Option<u32>,
    exit_after_sub: bool,
    no_retained: bool,
    retained_only: bool,
    remove_retained: bool,
    retain_as_published: bool,
    retain_handling: Option<RetainHandling>,
    random_filter: Option<f64>,
    reconnect: Reconnect,
    color: ColorChoice,
    payload_format: PayloadFormat,
    json_props: bool,
    output_file: Option<PathBuf>,
    output_dir: Option<PathBuf>,
    message_rate: bool,
    watch: bool,
}

impl State {
    fn new(tool: Tool) -> Self {
        Self {
            tool,
            host: None,
            port: None,
            bind_address: None,
            cafile: None,
            capath: None,
            cert: None,
            key: None,
            keyform: None,
            ciphers: None,
            tls_version: None,
            tls_alpn: None,
            tls_engine: None,
            tls_engine_kpass_sha1: None,
            tls_use_os_certs: false,
            tls_keylog: None,
            insecure: false,
            psk: None,
            psk_identity: None,
            no_tls: false,
            websocket: false,
            proxy: None,
            url: None,
            clean_session: true,
            debug: false,
            quiet: false,
            props: V5Properties::default(),
            deferred: Vec::new(),
            protocol: ProtocolVersion::V3_1_1,
            id: None,
            id_prefix: None,
            keepalive: 60,
            max_inflight: 20,
            nodelay: false,
            username: None,
            password: None,
            pw_file: None,
            pw_prompt: false,
            qos: 0,
            will_topic: None,
            will_payload: None,
            will_qos: 0,
            will_retain: false,
            session_expiry: None,
            connect_timeout: None,
            strict_exit: false,
            topic: None,
            message: None,
            retain: false,
            repeat: 1,
            repeat_delay: 0.0,
            topic_aliases: false,
            topics: Vec::new(),
            filter_out: Vec::new(),
            unsubscribe: Vec::new(),
            format: None,
            verbose: false,
            eol: true,
            pretty: false,
            msg_count: None,
            timeout: None,
            exit_after_sub: false,
            no_retained: false,
            retained_only: false,
            remove_retained: false,
            retain_as_published: false,
            retain_handling: None,
            random_filter: None,
            reconnect: Reconnect::Forever,
            color: ColorChoice::Auto,
            payload_format: PayloadFormat::Raw,
            json_props: false,
            output_file: None,
            output_dir: None,
            message_rate: false,
            watch: false,
        }
    }

    /// Processes the options file then argv, and the checks mosquitto does in
    /// `client_config_load`. `Some` is a final outcome (help, version or error).
    fn run<T>(&mut self, args: &[OsString], config: Option<&[u8]>) -> Option<Parsed<T>> {
        let lines = config.map(config::split_lines).unwrap_or_default();
        for words in lines.iter().map(Vec::as_slice).chain(std::iter::once(args)) {
            match self.process(words) {
                Ok(None) => {}
                Ok(Some(Flow::Help)) => return Some(Parsed::Help(self.tool.usage())),
                Ok(Some(Flow::Version)) => return Some(Parsed::Version(self.tool.version())),
                Err(msg) => return Some(Parsed::Error(with_use(self.tool, &msg))),
            }
        }
        if let Err(msg) = self.load_checks() {
            return Some(Parsed::Error(with_use(self.tool, &msg)));
        }
        None
    }

    fn unknown(word: &OsStr) -> Fail {
        format!("Error: Unknown option '{}'.\n", word.to_string_lossy())
    }

    /// mosquitto's `client_config_line_proc`.
    fn process(&mut self, w: &[OsString]) -> Result<Option<Flow>, Fail> {
        let is_pub = self.tool == Tool::Pub;
        let is_sub = self.tool == Tool::Sub;
        let mut i = 0;
        while i < w.len() {
            let opt = w[i].to_string_lossy().into_owned();
            // The value of a value-taking option: the next word, verbatim.
            let value = |msg: &str| -> Result<&OsString, Fail> {
                w.get(i + 1).ok_or_else(|| msg.to_owned())
            };
            let text = |v: &OsString, name: &str| -> Result<String, Fail> {
                v.to_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("Error: Malformed UTF-8 in {name} argument.\n\n"))
            };
            let mut takes = 1;
            match opt.as_str() {
                "-A" => {
                    let v = value("Error: -A argument given but no address specified.\n\n")?;
                    self.bind_address = Some(text(v, "-A")?);
                }
                "--cafile" => {
                    let v = value("Error: --cafile argument given but no file specified.\n\n")?;
                    self.cafile = Some(v.into());
                }
                "--capath" => {
                    let v =
                        value("Error: --capath argument given but no directory specified.\n\n")?;
                    self.capath = Some(v.into());
                }
                "--cert" => {
                    let v = value("Error: --cert argument given but no file specified.\n\n")?;
                    self.cert = Some(v.into());
                }
                "--ciphers" => {
                    let v = value("Error: --ciphers argument given but no ciphers specified.\n\n")?;
                    self.ciphers = Some(v.to_string_lossy().into_owned());
                }
                "-C" if is_sub => {
                    let v = value("Error: -C argument given but no count specified.\n\n")?;
                    let n = atoll(v);
                    if n < 1 {
                        return Err(format!("Error: Invalid message count \"{n}\".\n\n"));
                    }
                    self.msg_count = Some(u32::try_from(n).unwrap_or(u32::MAX));
                }
                "-c" | "--disable-clean-session" => {
                    self.clean_session = false;
                    takes = 0;
                }
                "-d" | "--debug" => {
                    self.debug = true;
                    takes = 0;
                }
                "-D" | "--property" => {
                    let parsed = props::parse_property(&w[i + 1..], &mut self.props)?;
                    if let Some(p) = parsed.deferred {
                        self.deferred.push(p);
                    }
                    self.protocol = ProtocolVersion::V5;
                    takes = parsed.consumed;
                }
                "-E" if is_sub => {
                    self.exit_after_sub = true;
                    takes = 0;
                }
                "-f" | "--file" if is_pub => {
                    if self.message.is_some() {
                        return Err(
                            "Error: Only one type of message can be sent at once.\n\n".to_owned()
                        );
                    }
                    let v = value("Error: -f argument given but no file specified.\n\n")?;
                    self.message = Some(MessageSource::File(v.into()));
                }
                "-F" if is_sub => {
                    let v = value("Error: -F argument given but no format specified.\n\n")?;
                    let f = Format::parse(&os_to_bytes(v)).map_err(|e| format!("{e}\n"))?;
                    self.format = Some(f);
                }
                "--help" => return Ok(Some(Flow::Help)),
                "-h" | "--host" => {
                    let v = value("Error: -h argument given but no host specified.\n\n")?;
                    self.host = Some(text(v, "-h")?);
                }
                "--insecure" => {
                    self.insecure = true;
                    takes = 0;
                }
                "-i" | "--id" => {
                    if self.id_prefix.is_some() {
                        return Err(
                            "Error: -i and -I argument cannot be used together.\n\n".to_owned()
                        );
                    }
                    let v = value("Error: -i argument given but no id specified.\n\n")?;
                    self.id = Some(text(v, "-i")?);
                }
                "-I" | "--id-prefix" => {
                    if self.id.is_some() {
                        return Err(
                            "Error: -i and -I argument cannot be used together.\n\n".to_owned()
                        );
                    }
                    let v = value("Error: -I argument given but no id prefix specified.\n\n")?;
                    self.id_prefix = Some(text(v, "-I")?);
                }
                "-k" | "--keepalive" => {
                    let v = value("Error: -k argument given but no keepalive specified.\n\n")?;
                    let k = atoll(v);
                    if !(5..=65535).contains(&k) {
                        return Err(
                            "Error: Invalid keepalive given, it must be between 5 and 65535 inclusive.\n\n"
                                .to_owned(),
                        );
                    }
                    self.keepalive = u16::try_from(k).unwrap_or(60);
                }
                "--key" => {
                    let v = value("Error: --key argument given but no file specified.\n\n")?;
                    self.key = Some(v.into());
                }
                "--keyform" => {
                    let v = value("Error: --keyform argument given but no keyform specified.\n\n")?;
                    self.keyform = Some(v.to_string_lossy().into_owned());
                }
                "-L" | "--url" => {
                    let v = value("Error: -L argument given but no URL specified.\n\n")?;
                    let v = text(v, "-L topic")?;
                    let u = url::parse_url(&v).map_err(|e| match e {
                        url::UrlError::UnsupportedScheme => format!("{e}\n\n"),
                        url::UrlError::TopicMissing => format!("{e}\n"),
                    })?;
                    self.port = Some(u.scheme.default_port().into());
                    if u.scheme.is_tls() {
                        self.tls_use_os_certs = true;
                    }
                    if u.scheme.is_websocket() {
                        self.websocket = true;
                    }
                    self.add_topic(&OsString::from(&u.topic), "-L topic")?;
                    if let Some(user) = &u.username {
                        self.username = Some(user.clone());
                    }
                    if let Some(pw) = &u.password {
                        self.password = Some(pw.clone().into_bytes());
                    }
                    self.host = Some(u.host.clone());
                    if let Some(p) = u.port {
                        self.port = Some(p);
                    }
                    self.url = Some(u);
                }
                "-l" | "--stdin-line" if is_pub => {
                    if self.message.is_some() {
                        return Err(
                            "Error: Only one type of message can be sent at once.\n\n".to_owned()
                        );
                    }
                    self.message = Some(MessageSource::StdinLine);
                    takes = 0;
                }
                "-m" | "--message" if is_pub => {
                    if self.message.is_some() {
                        return Err(
                            "Error: Only one type of message can be sent at once.\n\n".to_owned()
                        );
                    }
                    let v = value("Error: -m argument given but no message specified.\n\n")?;
                    let b = os_to_bytes(v);
                    if b.len() > 268_435_455 {
                        return Err(
                            "Error: Message length must be less than 268435455 bytes.\n\n"
                                .to_owned(),
                        );
                    }
                    self.message = Some(MessageSource::Message(b));
                }
                "-M" => {
                    let v = value("Error: -M argument given but max_inflight not specified.\n\n")?;
                    let n = atoll(v);
                    if n < 1 {
                        return Err(
                            "Error: Maximum inflight messages must be greater than 0.\n\n"
                                .to_owned(),
                        );
                    }
                    self.max_inflight = u32::try_from(n).unwrap_or(u32::MAX);
                }
                "--nodelay" => {
                    self.nodelay = true;
                    takes = 0;
                }
                "-n" | "--null-message" if is_pub => {
                    if self.message.is_some() {
                        return Err(
                            "Error: Only one type of message can be sent at once.\n\n".to_owned()
                        );
                    }
                    self.message = Some(MessageSource::Null);
                    takes = 0;
                }
                "-N" if is_sub => {
                    self.eol = false;
                    takes = 0;
                }
                "-o" => {
                    // Addition (2.1): the file was already read before everything else.
                    value("Error: -o argument given but no options file specified.\n\n")?;
                }
                "-p" | "--port" => {
                    let v = value("Error: -p argument given but no port specified.\n\n")?;
                    // D6: a word that is not a number is an error, not port 0.
                    if !is_integer(v) {
                        return Err(format!(
                            "Error: Invalid port given: {}\n",
                            v.to_string_lossy()
                        ));
                    }
                    let p = atoll(v);
                    if !(0..=65535).contains(&p) {
                        return Err(format!("Error: Invalid port given: {p}\n"));
                    }
                    self.port = Some(p);
                }
                "--pretty" if is_sub => {
                    self.pretty = true;
                    takes = 0;
                }
                "-P" | "--pw" => {
                    let v = value("Error: -P argument given but no password specified.\n\n")?;
                    self.password = Some(os_to_bytes(v));
                }
                "--proxy" => {
                    let v = value("Error: --proxy argument given but no proxy url specified.\n\n")?;
                    let p = url::parse_proxy(&v.to_string_lossy()).map_err(|e| format!("{e}\n"))?;
                    self.proxy = Some(p);
                }
                "--psk" => {
                    let v = value("Error: --psk argument given but no key specified.\n\n")?;
                    self.psk = Some(v.to_string_lossy().into_owned());
                }
                "--psk-identity" => {
                    let v = value(
                        "Error: --psk-identity argument given but no identity specified.\n\n",
                    )?;
                    self.psk_identity = Some(v.to_string_lossy().into_owned());
                }
                "-q" | "--qos" => {
                    let v = value("Error: -q argument given but no QoS specified.\n\n")?;
                    // D6.
                    if !is_integer(v) {
                        return Err(format!(
                            "Error: Invalid QoS given: {}\n",
                            v.to_string_lossy()
                        ));
                    }
                    let q = atoll(v);
                    if !(0..=2).contains(&q) {
                        return Err(format!("Error: Invalid QoS given: {q}\n"));
                    }
                    self.qos = q as u8;
                }
                "--quiet" => {
                    self.quiet = true;
                    takes = 0;
                }
                "-r" | "--retain" if is_pub => {
                    self.retain = true;
                    takes = 0;
                }
                "-R" if is_sub => {
                    self.no_retained = true;
                    takes = 0;
                }
                "--random-filter" if is_sub => {
                    let v = value(
                        "Error: --random-filter argument given but no chance specified.\n\n",
                    )?;
                    let chance = atof(v);
                    let tenths = (10.0 * chance) as i64;
                    if !(1..=1000).contains(&tenths) {
                        return Err(
                            "Error: --random-filter chance must be between 0.1-100.0\n\n"
                                .to_owned(),
                        );
                    }
                    // D3: stored and applied as a real percentage.
                    self.random_filter = Some(chance);
                }
                "--remove-retained" if is_sub => {
                    self.remove_retained = true;
                    takes = 0;
                }
                "--repeat" if is_pub => {
                    let v = value("Error: --repeat argument given but no count specified.\n\n")?;
                    let n = atoll(v);
                    if n < 1 {
                        return Err("Error: --repeat argument must be >0.\n\n".to_owned());
                    }
                    self.repeat = u32::try_from(n).unwrap_or(u32::MAX);
                }
                "--repeat-delay" if is_pub => {
                    let v =
                        value("Error: --repeat-delay argument given but no time specified.\n\n")?;
                    let f = atof(v);
                    if f < 0.0 {
                        return Err("Error: --repeat-delay argument must be >=0.0.\n\n".to_owned());
                    }
                    self.repeat_delay = f;
                }
                "--topic-aliases" if is_pub => {
                    self.topic_aliases = true;
                    takes = 0;
                }
                "--retain-as-published" if is_sub => {
                    self.retain_as_published = true;
                    takes = 0;
                }
                "--retained-only" if is_sub => {
                    self.retained_only = true;
                    takes = 0;
                }
                "--retain-handling" if is_sub => {
                    let v = value(
                        "Error: --retain-handling argument given but no value specified.\n\n",
                    )?;
                    self.retain_handling = Some(match v.to_string_lossy().as_ref() {
                        "always" => RetainHandling::SendAtSubscribe,
                        "new" => RetainHandling::SendAtSubscribeIfNew,
                        "never" => RetainHandling::DoNotSend,
                        other => {
                            return Err(format!(
                                "Error: Invalid --retain-handling value '{other}', it must be one of 'always', 'new' or 'never'.\n\n"
                            ));
                        }
                    });
                }
                "-s" | "--stdin-file" if is_pub => {
                    if self.message.is_some() {
                        return Err(
                            "Error: Only one type of message can be sent at once.\n\n".to_owned()
                        );
                    }
                    self.message = Some(MessageSource::StdinFile);
                    takes = 0;
                }
                "-t" | "--topic" => {
                    let v = value("Error: -t argument given but no topic specified.\n\n")?;
                    self.add_topic(v, "-t")?;
                }
                "-T" | "--filter-out" if is_sub => {
                    let v = value("Error: -T argument given but no topic filter specified.\n\n")?;
                    let s = text(v, "-T")?;
                    let f = TopicFilter::new(s.clone()).map_err(|_| {
                        format!("Error: Invalid filter topic '{s}', are all '+' and '#' wildcards correct?\n")
                    })?;
                    self.filter_out.push(f);
                }
                "--tls-alpn" => {
                    let v =
                        value("Error: --tls-alpn argument given but no protocol specified.\n\n")?;
                    self.tls_alpn = Some(v.to_string_lossy().into_owned());
                }
                "--tls-engine" => {
                    let v = value(
                        "Error: --tls-engine argument given but no engine_id specified.\n\n",
                    )?;
                    self.tls_engine = Some(v.to_string_lossy().into_owned());
                }
                "--tls-engine-kpass-sha1" => {
                    let v = value(
                        "Error: --tls-engine-kpass-sha1 argument given but no kpass sha1 specified.\n\n",
                    )?;
                    self.tls_engine_kpass_sha1 = Some(v.to_string_lossy().into_owned());
                }
                "--tls-use-os-certs" => {
                    self.tls_use_os_certs = true;
                    takes = 0;
                }
                "--tls-version" => {
                    let v =
                        value("Error: --tls-version argument given but no version specified.\n\n")?;
                    self.tls_version = Some(v.to_string_lossy().into_owned());
                }
                "--tls-keylog" => {
                    let v = value("Error: --tls-keylog argument given but no file specified.\n\n")?;
                    self.tls_keylog = Some(v.into());
                }
                "--no-tls" => {
                    self.no_tls = true;
                    takes = 0;
                }
                "--ws" => {
                    self.websocket = true;
                    takes = 0;
                }
                "-U" | "--unsubscribe" if is_sub => {
                    let v =
                        value("Error: -U argument given but no unsubscribe topic specified.\n\n")?;
                    let s = text(v, "-U")?;
                    let f = TopicFilter::new(s.clone()).map_err(|_| {
                        format!(
                            "Error: Invalid unsubscribe topic '{s}', are all '+' and '#' wildcards correct?\n"
                        )
                    })?;
                    self.unsubscribe.push(f);
                }
                "-u" | "--username" => {
                    let v = value("Error: -u argument given but no username specified.\n\n")?;
                    self.username = Some(text(v, "-u")?);
                }
                "--unix" => {
                    let v =
                        value("Error: --unix argument given but no socket path specified.\n\n")?;
                    self.host = Some(v.to_string_lossy().into_owned());
                    self.port = Some(0);
                }
                "-V" | "--protocol-version" => {
                    let v = value(
                        "Error: --protocol-version argument given but no version specified.\n\n",
                    )?;
                    self.protocol = match v.to_string_lossy().as_ref() {
                        "mqttv31" | "31" => ProtocolVersion::V3_1,
                        "mqttv311" | "311" => ProtocolVersion::V3_1_1,
                        "mqttv5" | "5" => ProtocolVersion::V5,
                        _ => {
                            return Err(
                                "Error: Invalid protocol version argument given.\n\n".to_owned()
                            );
                        }
                    };
                }
                "-v" | "--verbose" if is_sub => {
                    self.verbose = true;
                    takes = 0;
                }
                "--version" => return Ok(Some(Flow::Version)),
                "-W" if is_sub => {
                    let v = value("Error: -W argument given but no timeout specified.\n\n")?;
                    let n = atoll(v);
                    if n < 1 {
                        return Err(format!("Error: Invalid timeout \"{n}\".\n\n"));
                    }
                    self.timeout = Some(u32::try_from(n).unwrap_or(u32::MAX));
                }
                "--will-payload" => {
                    let v = value(
                        "Error: --will-payload argument given but no will payload specified.\n\n",
                    )?;
                    self.will_payload = Some(os_to_bytes(v));
                }
                "--will-qos" => {
                    let v =
                        value("Error: --will-qos argument given but no will QoS specified.\n\n")?;
                    // D6, extended to the will QoS.
                    if !is_integer(v) {
                        return Err(format!(
                            "Error: Invalid will QoS {}.\n\n",
                            v.to_string_lossy()
                        ));
                    }
                    let q = atoll(v);
                    if !(0..=2).contains(&q) {
                        return Err(format!("Error: Invalid will QoS {q}.\n\n"));
                    }
                    self.will_qos = q as u8;
                }
                "--will-retain" => {
                    self.will_retain = true;
                    takes = 0;
                }
                "--will-topic" => {
                    let v = value(
                        "Error: --will-topic argument given but no will topic specified.\n\n",
                    )?;
                    let s = text(v, "--will-topic")?;
                    // D5: the empty topic is rejected too.
                    let t = TopicName::new(s.clone()).map_err(|_| {
                        format!("Error: Invalid will topic '{s}', does it contain '+' or '#'?\n")
                    })?;
                    self.will_topic = Some(t);
                }
                "-x" => {
                    let v = value(
                        "Error: -x argument given but no session expiry interval specified.\n\n",
                    )?;
                    self.session_expiry = Some(parse_session_expiry(v)?);
                    // D15: -x implies MQTT v5 (mosquitto 2.1); 2.0.11 ignored it on v3.x.
                    self.protocol = ProtocolVersion::V5;
                }
                "--connect-timeout" => {
                    let v = value(
                        "Error: --connect-timeout argument given but no timeout specified.\n\n",
                    )?;
                    let n = atoll(v);
                    if n < 1 {
                        return Err(format!("Error: Invalid connect timeout \"{n}\".\n\n"));
                    }
                    self.connect_timeout = Some(u32::try_from(n).unwrap_or(u32::MAX));
                }
                "--pw-file" => {
                    let v = value("Error: --pw-file argument given but no file specified.\n\n")?;
                    self.pw_file = Some(v.into());
                }
                "--strict-exit" => {
                    self.strict_exit = true;
                    takes = 0;
                }
                "--no-reconnect" if is_sub => {
                    self.reconnect = Reconnect::Never;
                    takes = 0;
                }
                "--reconnect-max" if is_sub => {
                    let v =
                        value("Error: --reconnect-max argument given but no count specified.\n\n")?;
                    let n = atoll(v);
                    if n < 0 {
                        return Err(format!("Error: Invalid reconnect count \"{n}\".\n\n"));
                    }
                    self.reconnect = Reconnect::Max(u32::try_from(n).unwrap_or(u32::MAX));
                }
                "--json" if is_sub => {
                    self.format = Some(Format::parse(b"%j").map_err(|e| format!("{e}\n"))?);
                    takes = 0;
                }
                "--json-props" if is_sub => {
                    self.json_props = true;
                    takes = 0;
                }
                "--pw-prompt" => {
                    self.pw_prompt = true;
                    takes = 0;
                }
                "--color" if is_sub => {
                    let v = value("Error: --color argument given but no value specified.\n\n")?;
                    let v = v.to_string_lossy();
                    self.color = ColorChoice::parse(&v).ok_or_else(|| {
                        format!(
                            "Error: Invalid --color value '{v}', it must be one of 'auto', 'always' or 'never'.\n\n"
                        )
                    })?;
                }
                "--payload-format" if is_sub => {
                    let v = value(
                        "Error: --payload-format argument given but no format specified.\n\n",
                    )?;
                    let v = v.to_string_lossy();
                    self.payload_format = PayloadFormat::parse(&v).ok_or_else(|| {
                        format!(
                            "Error: Invalid --payload-format value '{v}', it must be one of 'raw', 'hex', 'base64' or 'text'.\n\n"
                        )
                    })?;
                }
                "--output" if is_sub => {
                    let v = value("Error: --output argument given but no file specified.\n\n")?;
                    self.output_file = Some(v.into());
                }
                "--output-dir" if is_sub => {
                    let v = value(
                        "Error: --output-dir argument given but no directory specified.\n\n",
                    )?;
                    self.output_dir = Some(v.into());
                }
                "--message-rate" if is_sub => {
                    self.message_rate = true;
                    takes = 0;
                }
                "-w" | "--watch" if is_sub => {
                    self.watch = true;
                    takes = 0;
                }
                _ => return Err(Self::unknown(&w[i])),
            }
            i += 1 + takes;
        }
        Ok(None)
    }

    /// `cfg_add_topic`: `-t` and the `-L` topic.
    fn add_topic(&mut self, v: &OsString, name: &str) -> Result<(), Fail> {
        let s = v
            .to_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("Error: Malformed UTF-8 in {name} argument.\n\n"))?;
        match self.tool {
            Tool::Pub => {
                // D5: the empty topic is rejected (TopicName::new refuses it).
                let t = TopicName::new(s.clone()).map_err(|_| {
                    format!("Error: Invalid publish topic '{s}', does it contain '+' or '#'?\n")
                })?;
                self.topic = Some(t);
            }
            Tool::Sub => {
                let f = TopicFilter::new(s.clone()).map_err(|_| {
                    format!(
                        "Error: Invalid subscription topic '{s}', are all '+' and '#' wildcards correct?\n"
                    )
                })?;
                self.topics.push(f);
            }
        }
        Ok(())
    }

    /// The checks at the end of mosquitto's `client_config_load`.
    fn load_checks(&mut self) -> Result<(), Fail> {
        if self.will_payload.is_some() && self.will_topic.is_none() {
            return Err("Error: Will payload given, but no will topic given.\n".to_owned());
        }
        if self.will_retain && self.will_topic.is_none() {
            return Err("Error: Will retain given, but no will topic given.\n".to_owned());
        }
        if self.cert.is_some() != self.key.is_some() {
            return Err(
                "Error: Both certfile and keyfile must be provided if one of them is set.\n"
                    .to_owned(),
            );
        }
        if self.keyform.is_some() && self.key.is_none() {
            return Err("Error: If keyform is set, keyfile must be also specified.\n".to_owned());
        }
        if self.tls_engine_kpass_sha1.is_some()
            && (self.keyform.is_none() || self.tls_engine.is_none())
        {
            return Err(
                "Error: when using tls-engine-kpass-sha1, both tls-engine and keyform must also be provided.\n"
                    .to_owned(),
            );
        }
        if (self.cafile.is_some() || self.capath.is_some()) && self.psk.is_some() {
            return Err(
                "Error: Only one of --psk or --cafile/--capath may be used at once.\n".to_owned(),
            );
        }
        if self.psk.is_some() && self.psk_identity.is_none() {
            return Err("Error: --psk-identity required if --psk used.\n".to_owned());
        }
        let no_id = self.id_prefix.is_some() || self.id.is_none();
        if self.protocol == ProtocolVersion::V5 {
            let mut sei = self.session_expiry;
            if !self.clean_session && sei.is_none() {
                // -c without -x: a persistent session that never expires.
                sei = Some(u32::MAX);
            }
            if let Some(sei) = sei.filter(|s| *s > 0) {
                if sei == u32::MAX && no_id {
                    return Err(
                        "Error: You must provide a client id if you are using an infinite session expiry interval.\n"
                            .to_owned(),
                    );
                }
                if self.props.connect.session_expiry_interval.is_some() {
                    // Given twice (-x and -D): mosquitto's property check fails.
                    self.deferred.push(PropertyPacket::Connect);
                } else {
                    self.props.connect.session_expiry_interval = Some(sei);
                }
            }
        } else if !self.clean_session && no_id {
            return Err(
                "Error: You must provide a client id if you are using the -c option.\n".to_owned(),
            );
        }
        if self.tool == Tool::Sub && self.topics.is_empty() && self.unsubscribe.is_empty() {
            // 2.0.11 also refused -U without -t; 2.1 accepts it, so do we.
            return Err("Error: You must specify a topic to subscribe to.\n".to_owned());
        }
        for p in PropertyPacket::ALL {
            if self.deferred.contains(&p) {
                return Err(p.check_all_message());
            }
        }
        Ok(())
    }

    /// Checks done after loading, without the `Use` line (`client_opts_set`, TLS setup), and
    /// the construction of [`ConnArgs`].
    fn conn(&mut self, env: &Environment) -> Result<ConnArgs, ParseError> {
        let err = |m: &str| plain(m.to_owned());
        let v3 = self.protocol != ProtocolVersion::V5;
        // -P (or the -L password) wins over --pw-prompt, which wins over --pw-file, which
        // wins over $MQTT_PASSWORD.
        let password_prompt = self.pw_prompt && self.password.is_none();
        // (--pw-prompt is read at run time, by the tool.)
        let from_file = self.password.is_none() && !password_prompt;
        if let Some(path) = self.pw_file.as_ref().filter(|_| from_file) {
            let mut b = std::fs::read(path).map_err(|e| {
                plain(format!(
                    "Error: Unable to read password file \"{}\": {}.\n",
                    path.to_string_lossy(),
                    io_reason(&e)
                ))
            })?;
            if b.last() == Some(&b'\n') {
                b.pop();
                if b.last() == Some(&b'\r') {
                    b.pop();
                }
            }
            self.password = Some(b);
        }
        if self.password.is_none() && !password_prompt {
            self.password = env.mqtt_password.as_deref().map(os_to_bytes);
        }
        if v3 && (self.password.is_some() || password_prompt) && self.username.is_none() {
            // [MQTT-3.1.2-22]; libmosquitto refuses it for 3.x.
            return Err(err("Error: Problem setting username and/or password.\n"));
        }
        // D16: what rustls cannot do fails clearly instead of at connect time.
        let unsupported =
            |what: &str| plain(format!("Error: {what} is not supported by this build.\n"));
        if self.psk.is_some() {
            return Err(unsupported("--psk"));
        }
        if self.tls_engine.is_some() {
            return Err(unsupported("--tls-engine"));
        }
        match self.keyform.as_deref() {
            None | Some("pem") => {}
            Some("engine") => return Err(unsupported("--keyform engine")),
            Some(_) => {
                return Err(err(
                    "Error: Problem setting key form, it must be one of 'pem' or 'engine'.\n",
                ));
            }
        }
        if self.tls_engine_kpass_sha1.is_some() {
            return Err(unsupported("--tls-engine-kpass-sha1"));
        }
        let version = match self.tls_version.as_deref() {
            None => None,
            Some("tlsv1.3") => Some(TlsVersion::Tls13),
            Some("tlsv1.2") => Some(TlsVersion::Tls12),
            Some("tlsv1.1") => return Err(unsupported("--tls-version tlsv1.1")),
            Some(_) => {
                return Err(err(
                    "Error: Problem setting TLS options, check the options are valid.\n",
                ));
            }
        };
        if self.ciphers.is_some() {
            return Err(unsupported("--ciphers"));
        }

        let ca = self.cafile.is_some() || self.capath.is_some();
        let port = match self.port {
            Some(p) => {
                u16::try_from(p).map_err(|_| plain(format!("Error: Invalid port given: {p}\n")))?
            }
            None if ca || self.psk.is_some() => 8883,
            None => 1883,
        };
        let host = self.host.clone().unwrap_or_else(|| "localhost".to_owned());
        let tls =
            (!self.no_tls && (ca || self.tls_use_os_certs || port == 8883)).then(|| TlsArgs {
                cafile: self.cafile.clone(),
                capath: self.capath.clone(),
                cert: self.cert.clone(),
                key: self.key.clone(),
                use_os_certs: self.tls_use_os_certs || !ca,
                insecure: self.insecure,
                alpn: self.tls_alpn.clone(),
                version,
                keylog: self.tls_keylog.clone(),
            });
        let transport = if port == 0 {
            Transport::Unix {
                path: PathBuf::from(&host),
            }
        } else if self.websocket {
            Transport::WebSocket {
                path: "/mqtt".to_owned(),
            }
        } else {
            Transport::Tcp
        };
        let client_id = match (&self.id, &self.id_prefix) {
            (Some(id), _) => ClientId::Given(id.clone()),
            (None, Some(p)) => ClientId::Prefix(p.clone()),
            (None, None) => ClientId::Generated,
        };
        let will = self.will_topic.clone().map(|topic| WillArgs {
            topic,
            payload: self.will_payload.clone().unwrap_or_default(),
            qos: QoS::from_u8(self.will_qos).unwrap_or_default(),
            retain: self.will_retain,
            properties: self.props.will.clone(),
        });
        Ok(ConnArgs {
            host,
            port,
            transport,
            url: self.url.clone(),
            bind_address: self.bind_address.clone(),
            protocol: self.protocol,
            client_id,
            keepalive: self.keepalive,
            clean_session: self.clean_session,
            username: self.username.clone(),
            password: self.password.clone(),
            password_prompt,
            will,
            tls,
            proxy: self.proxy.clone(),
            properties: self.props.clone(),
            max_inflight: self.max_inflight,
            nodelay: self.nodelay,
            debug: self.debug,
            quiet: self.quiet,
            connect_timeout: self.connect_timeout,
            strict_exit: self.strict_exit,
        })
    }

    fn finish_pub(mut self, env: &Environment) -> Result<Parsed<PubArgs>, ParseError> {
        let (Some(topic), Some(message)) = (self.topic.clone(), self.message.clone()) else {
            return Err(ParseError {
                stderr: "Error: Both topic and message must be supplied.\n".to_owned(),
                stdout: self.tool.usage(),
                exit_code: 1,
            });
        };
        let conn = self.conn(env)?;
        let delay = Duration::try_from_secs_f64(self.repeat_delay).unwrap_or_default();
        Ok(Parsed::Run(PubArgs {
            conn,
            topic,
            message,
            qos: QoS::from_u8(self.qos).unwrap_or_default(),
            retain: self.retain,
            repeat: self.repeat,
            repeat_delay: delay,
            topic_aliases: self.topic_aliases,
        }))
    }

    fn finish_sub(mut self, env: &Environment) -> Result<Parsed<SubArgs>, ParseError> {
        if self.no_retained && self.retained_only {
            return Err(plain(
                "\nError: Combining '-R' and '--retained-only' makes no sense.\n".to_owned(),
            ));
        }
        if self.output_file.is_some() && self.output_dir.is_some() {
            return Err(with_use(
                self.tool,
                "Error: --output and --output-dir cannot be used together.\n",
            ));
        }
        if self.watch
            && (self.output_file.is_some() || self.output_dir.is_some() || self.message_rate)
        {
            return Err(with_use(
                self.tool,
                "Error: --watch cannot be used with --output, --output-dir or --message-rate.\n",
            ));
        }
        if let Some(n) = self.msg_count.filter(|n| *n < 20) {
            if self.protocol == ProtocolVersion::V5 && self.props.connect.receive_maximum.is_none()
            {
                self.props.connect.receive_maximum =
                    u16::try_from(n).ok().and_then(std::num::NonZeroU16::new);
            }
        }
        let conn = self.conn(env)?;
        let retain_handling = self.retain_handling.unwrap_or(if self.no_retained {
            RetainHandling::DoNotSend
        } else {
            RetainHandling::SendAtSubscribe
        });
        Ok(Parsed::Run(SubArgs {
            conn,
            topics: self.topics,
            qos: QoS::from_u8(self.qos).unwrap_or_default(),
            filter_out: self.filter_out,
            unsubscribe: self.unsubscribe,
            output: OutputOptions {
                format: self.format,
                verbose: self.verbose,
                eol: self.eol,
                pretty: self.pretty,
                color: self.color,
                payload_format: self.payload_format,
                json_props: self.json_props,
            },
            msg_count: self.msg_count,
            timeout: self.timeout,
            exit_after_sub: self.exit_after_sub,
            no_retained: self.no_retained,
            retained_only: self.retained_only,
            remove_retained: self.remove_retained,
            retain_as_published: self.retain_as_published,
            retain_handling,
            random_filter: self.random_filter,
            reconnect: self.reconnect,
            output_file: self.output_file,
            output_dir: self.output_dir,
            message_rate: self.message_rate,
            watch: self.watch,
        }))
    }
}

/// `-x`: `∞`, `-1` (infinity), or a C `strtol(.., 0)` integer (`0x10`, `010`).
fn parse_session_expiry(v: &OsStr) -> Result<u32, Fail> {
    let s = v.to_string_lossy();
    if s == "∞" {
        return Ok(u32::MAX);
    }
    let t = s.trim_start();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (radix, digits) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (16, h)
    } else if t.len() > 1 && t.starts_with('0') {
        (8, &t[1..])
    } else {
        (10, t)
    };
    let not_number = || "Error: session-expiry-interval not a number.\n\n".to_owned();
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(not_number());
    }
    let n = i128::from_str_radix(digits, radix).unwrap_or(i128::MAX);
    let n = if neg { -n } else { n };
    if n > i128::from(u32::MAX) || n < -1 {
        return Err("Error: session-expiry-interval out of range.\n\n".to_owned());
    }
    Ok(if n == -1 { u32::MAX } else { n as u32 })
}
