//! mqsub's output: plain, `-v`, `-N`, `-F <format>`, `%j`/`%J` JSON and `--pretty`.
//!
//! (Over 800 lines on purpose: one interpreter of mosquitto's `-F` language, whose codes,
//! flags, width and precision rules (`field`, `put_*`) and the plain and JSON modes share
//! the same buffer helpers; apart they would each need the others' internals.)
//!
//! [`write_message`] produces exactly the bytes mosquitto_sub 2.0.11 prints for one message,
//! apart from the deliberate deviations marked **D1**, **D2** and **D7** below (see
//! `DIFFERENCES.md`).
//!
//! | mode | output per message | empty payload |
//! |---|---|---|
//! | default | payload + `\n` | nothing at all |
//! | `-v` | topic + ` ` + payload + `\n` | `topic (null)\n` |
//! | `-N` | as above without `\n` | `-v -N`: nothing |
//! | `-F fmt` | the expanded format + `\n` (unless `-N`) | codes expand normally |
//!
//! ```
//! use mqtt_cli::format::{Format, MessageView, OutputOptions, write_message};
//! use mqtt_cli::time::{FixedClock, Timestamp};
//!
//! let opts = OutputOptions {
//!     format: Some(Format::parse(b"%t=%p (q%q)").unwrap()),
//!     ..OutputOptions::default()
//! };
//! let msg = MessageView::new("sensor/1", b"25");
//! let clock = FixedClock(Timestamp { unix_secs: 0, nanos: 0, utc_offset_secs: 0 });
//! let (mut out, mut err) = (Vec::new(), Vec::new());
//! write_message(&mut out, &mut err, &opts, &msg, &clock).unwrap();
//! assert_eq!(out, b"sensor/1=25 (q0)\n");
//! ```

use std::fmt;
use std::io::{self, Write};

use mqtt_proto::PublishProperties;

use crate::json::Json;
use crate::time::{Clock, Timestamp, strftime, strftime_one};

/// One received message, as the formatter sees it.
#[derive(Debug, Clone, Copy)]
pub struct MessageView<'a> {
    /// The topic name (after topic-alias resolution).
    pub topic: &'a str,
    /// The payload, raw.
    pub payload: &'a [u8],
    /// The QoS of the delivery (0, 1 or 2).
    pub qos: u8,
    /// The retain flag of the delivery.
    pub retain: bool,
    /// The packet identifier (`None` for QoS 0; printed as `0`).
    pub mid: Option<u16>,
    /// The MQTT v5 properties, if any.
    pub properties: Option<&'a PublishProperties>,
}

impl<'a> MessageView<'a> {
    /// A QoS 0, non-retained message without properties.
    pub const fn new(topic: &'a str, payload: &'a [u8]) -> Self {
        Self {
            topic,
            payload,
            qos: 0,
            retain: false,
            mid: None,
            properties: None,
        }
    }
}

/// How mqsub prints messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputOptions {
    /// `-F`: overrides `verbose`.
    pub format: Option<Format>,
    /// `-v`: `topic payload`.
    pub verbose: bool,
    /// `false` with `-N`: no newline after each message.
    pub eol: bool,
    /// `--pretty`: pretty-print `%j`/`%J`.
    pub pretty: bool,
    /// `--color` (addition): colour the topic in `-v` mode. The formatter colours only for
    /// [`ColorChoice::Always`]; the runtime turns `Auto` into `Always` or `Never` depending
    /// on whether the output is a terminal ([`ColorChoice::resolve`]).
    pub color: ColorChoice,
    /// `--payload-format` (addition): how `-v` and the default mode print the payload.
    pub payload_format: PayloadFormat,
    /// `--json-props` (addition): `%j`/`%J` always have a `properties` object (`{}` when
    /// the message has none).
    pub json_props: bool,
}

impl Default for OutputOptions {
    fn default() -> Self {
        Self {
            format: None,
            verbose: false,
            eol: true,
            pretty: false,
            color: ColorChoice::Auto,
            payload_format: PayloadFormat::Raw,
            json_props: false,
        }
    }
}

/// `--color auto|always|never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    /// Colour when the output is a terminal (the default).
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    /// Parses `auto`, `always` or `never`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Self::Auto),
            "always" => Some(Self::Always),
            "never" => Some(Self::Never),
            _ => None,
        }
    }

    /// `Always` or `Never`: `Auto` becomes `Always` when the output is a terminal.
    pub fn resolve(self, terminal: bool) -> Self {
        match self {
            Self::Auto if terminal => Self::Always,
            Self::Auto => Self::Never,
            other => other,
        }
    }
}

/// `--payload-format raw|hex|base64|text`: the payload in `-v` and the default mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PayloadFormat {
    /// The bytes as received (mosquitto's output; the default).
    #[default]
    Raw,
    /// Lowercase hexadecimal, two digits per byte (like `%x`).
    Hex,
    /// Standard base64 with padding.
    Base64,
    /// UTF-8 text with everything non-printable escaped: `\\`, `\n`, `\r`, `\t`, other
    /// control characters and invalid UTF-8 bytes as `\xNN` (C1 controls and other
    /// non-ASCII control characters as `\u{NNNN}`). One message is always one line.
    Text,
}

impl PayloadFormat {
    /// Parses `raw`, `hex`, `base64` or `text`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "raw" => Some(Self::Raw),
            "hex" => Some(Self::Hex),
            "base64" => Some(Self::Base64),
            "text" => Some(Self::Text),
            _ => None,
        }
    }

    /// `payload` in this format.
    pub fn encode(self, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::with_capacity(payload.len() * 2);
        self.put(&mut v, payload);
        v
    }

    /// Appends `payload` in this format.
    fn put(self, buf: &mut Vec<u8>, payload: &[u8]) {
        match self {
            Self::Raw => buf.extend_from_slice(payload),
            Self::Hex => {
                const DIGITS: &[u8; 16] = b"0123456789abcdef";
                for b in payload {
                    buf.push(DIGITS[usize::from(b >> 4)]);
                    buf.push(DIGITS[usize::from(b & 15)]);
                }
            }
            Self::Base64 => buf.extend_from_slice(base64(payload).as_bytes()),
            Self::Text => escape_text(buf, payload),
        }
    }
}

/// [`PayloadFormat::Text`].
fn escape_text(buf: &mut Vec<u8>, payload: &[u8]) {
    let mut rest = payload;
    while !rest.is_empty() {
        let (valid, bad) = match std::str::from_utf8(rest) {
            Ok(s) => (s, &rest[rest.len()..]),
            Err(e) => {
                let (v, b) = rest.split_at(e.valid_up_to());
                // The prefix is valid UTF-8 by construction.
                (std::str::from_utf8(v).unwrap_or_default(), b)
            }
        };
        for c in valid.chars() {
            match c {
                '\\' => buf.extend_from_slice(b"\\\\"),
                '\n' => buf.extend_from_slice(b"\\n"),
                '\r' => buf.extend_from_slice(b"\\r"),
                '\t' => buf.extend_from_slice(b"\\t"),
                c if c.is_ascii_control() => {
                    buf.extend_from_slice(format!("\\x{:02x}", u32::from(c)).as_bytes());
                }
                c if c.is_control() => {
                    buf.extend_from_slice(format!("\\u{{{:04x}}}", u32::from(c)).as_bytes());
                }
                c => {
                    let mut tmp = [0u8; 4];
                    buf.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                }
            }
        }
        if let Some((b, tail)) = bad.split_first() {
            buf.extend_from_slice(format!("\\x{b:02x}").as_bytes());
            rest = tail;
        } else {
            rest = bad;
        }
    }
}

/// Bold cyan, for the topic with `--color`.
pub(crate) const TOPIC_ON: &[u8] = b"\x1b[1;36m";
/// Dim, for `(null)` with `--color`.
const META_ON: &[u8] = b"\x1b[2m";
pub(crate) const COLOR_OFF: &[u8] = b"\x1b[0m";

/// A `-F` format string, checked when parsed (mosquitto checks it at start-up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Literal(Vec<u8>),
    Field(Spec),
    /// `@X`: `strftime("%X")`.
    Time(u8),
    /// `@N`: nanoseconds, 9 digits.
    Nanos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Spec {
    code: u8,
    left: bool,
    zero: bool,
    width: usize,
    precision: Option<usize>,
    /// `%.N:x`: the separator between groups of N bytes (default a space).
    sep: Option<u8>,
}

/// Why a `-F` string was rejected. `Display` gives mosquitto's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatError {
    /// `%z`: not a known code.
    InvalidSpecifier(u8),
    /// A trailing `%`, `%-`, `%5`, `%.` or `@`.
    IncompleteSpecifier,
    /// `\z`: not a known escape.
    InvalidEscape(u8),
    /// A trailing `\`.
    IncompleteEscape,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidSpecifier(c) => {
                write!(f, "Error: Invalid format specifier '{}'.", char::from(*c))
            }
            Self::IncompleteSpecifier => f.write_str("Error: Incomplete format specifier."),
            Self::InvalidEscape(c) => {
                write!(f, "Error: Invalid escape specifier '{}'.", char::from(*c))
            }
            Self::IncompleteEscape => f.write_str("Error: Incomplete escape specifier."),
        }
    }
}

impl std::error::Error for FormatError {}

const CODES: &[u8] = b"%ACDEFIlmPpqRSrtjJUxXdf";

impl Format {
    /// Parses and checks a `-F` string with mosquitto's rules (`check_format`).
    pub fn parse(s: &[u8]) -> Result<Self, FormatError> {
        let len = s.len();
        let mut items = Vec::new();
        let mut lit = Vec::new();
        let mut i = 0;
        while i < len {
            match s[i] {
                b'%' => {
                    let mut j = i + 1;
                    if j == len {
                        return Err(FormatError::IncompleteSpecifier);
                    }
                    let left = s[j] == b'-';
                    if s[j] == b'-' || s[j] == b'0' {
                        j += 1;
                        if j == len {
                            return Err(FormatError::IncompleteSpecifier);
                        }
                    }
                    // After a '-', a '0' still selects zero padding (mosquitto's printer).
                    let zero = s[i + 1] == b'0' || (left && s[j] == b'0');
                    let mut width = 0usize;
                    while s[j].is_ascii_digit() {
                        width = width
                            .saturating_mul(10)
                            .saturating_add(usize::from(s[j] - b'0'));
                        j += 1;
                        if j == len {
                            return Err(FormatError::IncompleteSpecifier);
                        }
                    }
                    let mut precision = None;
                    if s[j] == b'.' {
                        j += 1;
                        if j == len {
                            return Err(FormatError::IncompleteSpecifier);
                        }
                        let mut p = 0usize;
                        while s[j].is_ascii_digit() {
                            p = p
                                .saturating_mul(10)
                                .saturating_add(usize::from(s[j] - b'0'));
                            j += 1;
                            if j == len {
                                return Err(FormatError::IncompleteSpecifier);
                            }
                        }
                        precision = Some(p);
                    }
                    // D2 (2.1 syntax): `%.2:x` groups the hex output with ':'.
                    let mut sep = None;
                    if s[j] == b':' && matches!(s.get(j + 1), Some(b'x' | b'X')) {
                        sep = Some(b':');
                        j += 1;
                    }
                    let code = s[j];
                    if !CODES.contains(&code) {
                        return Err(FormatError::InvalidSpecifier(code));
                    }
                    if code == b'%' {
                        lit.push(b'%');
                    } else {
                        if !lit.is_empty() {
                            items.push(Item::Literal(std::mem::take(&mut lit)));
                        }
                        items.push(Item::Field(Spec {
                            code,
                            left,
                            zero,
                            width,
                            precision,
                            sep,
                        }));
                    }
                    i = j + 1;
                }
                b'@' => {
                    let Some(&c) = s.get(i + 1) else {
                        return Err(FormatError::IncompleteSpecifier);
                    };
                    if c == b'@' {
                        lit.push(b'@');
                    } else {
                        if !lit.is_empty() {
                            items.push(Item::Literal(std::mem::take(&mut lit)));
                        }
                        items.push(if c == b'N' {
                            Item::Nanos
                        } else {
                            Item::Time(c)
                        });
                    }
                    i += 2;
                }
                b'\\' => {
                    let Some(&c) = s.get(i + 1) else {
                        return Err(FormatError::IncompleteEscape);
                    };
                    lit.push(match c {
                        b'\\' => b'\\',
                        b'0' => 0,
                        b'a' => 7,
                        b'e' => 0x1b,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'v' => 0x0b,
                        c => return Err(FormatError::InvalidEscape(c)),
                    });
                    i += 2;
                }
                b => {
                    lit.push(b);
                    i += 1;
                }
            }
        }
        if !lit.is_empty() {
            items.push(Item::Literal(lit));
        }
        Ok(Self { items })
    }

    /// Whether the format prints the time (so the caller knows whether to read the clock).
    pub fn needs_time(&self) -> bool {
        self.items.iter().any(|i| match i {
            Item::Time(_) | Item::Nanos => true,
            Item::Field(s) => matches!(s.code, b'I' | b'U' | b'j' | b'J'),
            Item::Literal(_) => false,
        })
    }
}

/// Writes one message to `out` the way mosquitto_sub prints it, then flushes `out`.
///
/// `err` receives the `%J` complaint (`Error: Message payload is not valid JSON on topic
/// t.`); as in mosquitto the rest of the format is still printed and the exit status is
/// not affected. The clock is read at most once per message, and only if needed.
pub fn write_message<W: Write + ?Sized, E: Write + ?Sized>(
    out: &mut W,
    err: &mut E,
    opts: &OutputOptions,
    msg: &MessageView<'_>,
    clock: &dyn Clock,
) -> io::Result<()> {
    let mut buf = Vec::with_capacity(msg.payload.len() + msg.topic.len() + 2);
    if let Some(format) = &opts.format {
        let mut now = None;
        for item in &format.items {
            match item {
                Item::Literal(l) => buf.extend_from_slice(l),
                Item::Time(c) => strftime_one(&mut buf, *c, now.get_or_insert_with(|| clock.now())),
                Item::Nanos => {
                    let t = now.get_or_insert_with(|| clock.now());
                    buf.extend_from_slice(format!("{:09}", t.nanos).as_bytes());
                }
                Item::Field(spec) => {
                    if let Err(e) = field(&mut buf, spec, msg, opts, &mut now, clock) {
                        err.write_all(e.as_bytes())?;
                    }
                }
            }
        }
        if opts.eol {
            buf.push(b'\n');
        }
    } else if opts.verbose {
        let color = opts.color == ColorChoice::Always;
        let topic = |buf: &mut Vec<u8>| {
            if color {
                buf.extend_from_slice(TOPIC_ON);
                buf.extend_from_slice(msg.topic.as_bytes());
                buf.extend_from_slice(COLOR_OFF);
            } else {
                buf.extend_from_slice(msg.topic.as_bytes());
            }
        };
        if !msg.payload.is_empty() {
            topic(&mut buf);
            buf.push(b' ');
            opts.payload_format.put(&mut buf, msg.payload);
            if opts.eol {
                buf.push(b'\n');
            }
        } else if opts.eol {
            topic(&mut buf);
            if color {
                buf.push(b' ');
                buf.extend_from_slice(META_ON);
                buf.extend_from_slice(b"(null)");
                buf.extend_from_slice(COLOR_OFF);
                buf.push(b'\n');
            } else {
                buf.extend_from_slice(b" (null)\n");
            }
        }
    } else if !msg.payload.is_empty() {
        opts.payload_format.put(&mut buf, msg.payload);
        if opts.eol {
            buf.push(b'\n');
        }
    }
    out.write_all(&buf)?;
    out.flush()
}

/// Writes one message into a new vector (convenience for tests and callers).
pub fn format_message(
    opts: &OutputOptions,
    msg: &MessageView<'_>,
    clock: &dyn Clock,
) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    // Writing to vectors cannot fail.
    let _ = write_message(&mut out, &mut err, opts, msg, clock);
    (out, err)
}

fn pad(buf: &mut Vec<u8>, c: u8, n: usize) {
    buf.extend(std::iter::repeat_n(c, n));
}

/// `printf("%-*.*s")` on bytes: precision is a maximum, width a minimum, spaces only.
fn put_str(buf: &mut Vec<u8>, v: &[u8], spec: &Spec) {
    let v = match spec.precision {
        Some(p) if p < v.len() => &v[..p],
        _ => v,
    };
    let fill = spec.width.saturating_sub(v.len());
    if !spec.left {
        pad(buf, b' ', fill);
    }
    buf.extend_from_slice(v);
    if spec.left {
        pad(buf, b' ', fill);
    }
}

/// `printf("%d")` with `-`, `0` and a width.
fn put_int(buf: &mut Vec<u8>, v: u64, spec: &Spec) {
    let s = v.to_string();
    let fill = spec.width.saturating_sub(s.len());
    if spec.left {
        buf.extend_from_slice(s.as_bytes());
        pad(buf, b' ', fill);
    } else {
        pad(buf, if spec.zero { b'0' } else { b' ' }, fill);
        buf.extend_from_slice(s.as_bytes());
    }
}

/// A missing v5 property: `width` pad characters (mosquitto's `formatted_print_blank`).
fn put_blank(buf: &mut Vec<u8>, spec: &Spec) {
    pad(buf, if spec.zero { b'0' } else { b' ' }, spec.width);
}

/// **D2**: payload and hex with printf semantics. Width is a minimum (2.0.11 also truncated
/// to it), precision a maximum for `%p`; for `%x`/`%X` the width counts output characters
/// and a precision `N` inserts a separator after every `N` hex digits: a space, or with
/// `%.N:x` a colon (mosquitto 2.1: `%.2x` gives `01 ab cd`).
fn put_payload(buf: &mut Vec<u8>, payload: &[u8], spec: &Spec) {
    let body: Vec<u8> = match spec.code {
        b'p' => match spec.precision {
            Some(p) if p < payload.len() => payload[..p].to_vec(),
            _ => payload.to_vec(),
        },
        code => {
            let digits: &[u8; 16] = if code == b'x' {
                b"0123456789abcdef"
            } else {
                b"0123456789ABCDEF"
            };
            // A separator after every `precision` hex characters (2.1's `hexsep`).
            let group = spec.precision.filter(|p| *p > 0).unwrap_or(usize::MAX);
            let mut v = Vec::with_capacity(payload.len() * 3);
            let nibbles = payload.iter().flat_map(|b| [b >> 4, b & 15]);
            for (i, n) in nibbles.enumerate() {
                if i > 0 && i % group == 0 {
                    v.push(spec.sep.unwrap_or(b' '));
                }
                v.push(digits[usize::from(n)]);
            }
            v
        }
    };
    let fill = spec.width.saturating_sub(body.len());
    if spec.left {
        buf.extend_from_slice(&body);
        pad(buf, b' ', fill);
    } else {
        pad(buf, if spec.zero { b'0' } else { b' ' }, fill);
        buf.extend_from_slice(&body);
    }
}

fn field(
    buf: &mut Vec<u8>,
    spec: &Spec,
    msg: &MessageView<'_>,
    opts: &OutputOptions,
    now: &mut Option<Timestamp>,
    clock: &dyn Clock,
) -> Result<(), String> {
    let props = msg.properties;
    match spec.code {
        b't' => put_str(buf, msg.topic.as_bytes(), spec),
        b'p' | b'x' | b'X' => put_payload(buf, msg.payload, spec),
        b'l' => put_int(buf, msg.payload.len() as u64, spec),
        b'm' => put_int(buf, u64::from(msg.mid.unwrap_or(0)), spec),
        b'q' => buf.push(b'0' + msg.qos),
        b'r' => buf.push(if msg.retain { b'1' } else { b'0' }),
        b'A' => match props.and_then(|p| p.topic_alias) {
            Some(v) => put_int(buf, u64::from(v.get()), spec),
            None => put_blank(buf, spec),
        },
        b'C' => match props.and_then(|p| p.content_type.as_ref()) {
            Some(v) => put_str(buf, v.as_bytes(), spec),
            None => pad(buf, b' ', spec.width),
        },
        b'D' => {
            if let Some(v) = props.and_then(|p| p.correlation_data.as_ref()) {
                buf.extend_from_slice(v);
            }
        }
        b'E' => match props.and_then(|p| p.message_expiry_interval) {
            Some(v) => put_int(buf, u64::from(v), spec),
            None => put_blank(buf, spec),
        },
        b'F' => match props.and_then(|p| p.payload_format_indicator) {
            Some(v) => put_int(buf, u64::from(v), spec),
            None => put_blank(buf, spec),
        },
        b'P' => {
            if let Some(p) = props {
                for (i, up) in p.user_properties.iter().enumerate() {
                    if i > 0 {
                        buf.push(b' ');
                    }
                    buf.extend_from_slice(up.name.as_bytes());
                    buf.push(b':');
                    buf.extend_from_slice(up.value.as_bytes());
                }
            }
        }
        b'R' => {
            if let Some(v) = props.and_then(|p| p.response_topic.as_ref()) {
                put_str(buf, v.as_str().as_bytes(), spec);
            }
        }
        b'S' => match props.and_then(|p| p.subscription_identifiers.first()) {
            Some(v) => put_int(buf, u64::from(v.get()), spec),
            None => put_blank(buf, spec),
        },
        b'd' | b'f' => put_float(buf, msg.payload, spec)?,
        b'I' => {
            let t = now.get_or_insert_with(|| clock.now());
            put_str(buf, strftime("%FT%T%z", t).as_bytes(), spec);
        }
        b'U' => {
            let t = now.get_or_insert_with(|| clock.now());
            buf.extend_from_slice(format!("{}.{:09}", t.unix_secs, t.nanos).as_bytes());
        }
        b'j' | b'J' => {
            let t = *now.get_or_insert_with(|| clock.now());
            let json =
                message_json(msg, &t, spec.code == b'j', opts.json_props).ok_or_else(|| {
                    format!(
                        "Error: Message payload is not valid JSON on topic {}.\n",
                        msg.topic
                    )
                })?;
            buf.extend_from_slice(json.print(opts.pretty).as_bytes());
        }
        // `%%` is a literal; every other code was rejected by `Format::parse`.
        _ => {}
    }
    Ok(())
}

/// `%d` / `%f` (mosquitto 2.1): the payload as a native-endian IEEE-754 double (8 bytes)
/// or float (4 bytes), printed like `printf("%.*f")` (precision 6 by default).
fn put_float(buf: &mut Vec<u8>, payload: &[u8], spec: &Spec) -> Result<(), String> {
    let value = if spec.code == b'd' {
        let b: [u8; 8] = payload
            .try_into()
            .map_err(|_| "requested double printing, but non-double data received".to_owned())?;
        f64::from_ne_bytes(b)
    } else {
        let b: [u8; 4] = payload
            .try_into()
            .map_err(|_| "requested float printing, but non-float data received".to_owned())?;
        f64::from(f32::from_ne_bytes(b))
    };
    let p = spec.precision.unwrap_or(6);
    let (neg, digits) = if value.is_nan() {
        (value.is_sign_negative(), "nan".to_owned())
    } else if value.is_infinite() {
        (value < 0.0, "inf".to_owned())
    } else {
        (value.is_sign_negative(), format!("{:.p$}", value.abs()))
    };
    let sign = if neg { "-" } else { "" };
    let len = sign.len() + digits.len();
    let fill = spec.width.saturating_sub(len);
    if spec.left {
        buf.extend_from_slice(sign.as_bytes());
        buf.extend_from_slice(digits.as_bytes());
        pad(buf, b' ', fill);
    } else if spec.zero && value.is_finite() {
        buf.extend_from_slice(sign.as_bytes());
        pad(buf, b'0', fill);
        buf.extend_from_slice(digits.as_bytes());
    } else {
        pad(buf, b' ', fill);
        buf.extend_from_slice(sign.as_bytes());
        buf.extend_from_slice(digits.as_bytes());
    }
    Ok(())
}

/// **D1**: `tst` is `YYYY-mm-ddTHH:MM:SS.uuuuuu+zzzz`, without 2.0.11's stray `Z`.
fn json_timestamp(t: &Timestamp) -> String {
    format!(
        "{}.{:06}{}",
        strftime("%Y-%m-%dT%H:%M:%S", t),
        t.nanos / 1000,
        strftime("%z", t)
    )
}

/// The JSON object of `%j` (`escaped`) or `%J`; `None` when `%J` gets a non-JSON payload.
/// With `all_props` (`--json-props`), `properties` is always present.
fn message_json(
    msg: &MessageView<'_>,
    t: &Timestamp,
    escaped: bool,
    all_props: bool,
) -> Option<Json> {
    let mut root = vec![
        ("tst".to_owned(), Json::String(json_timestamp(t))),
        ("topic".to_owned(), Json::String(msg.topic.to_owned())),
        ("qos".to_owned(), Json::Number(f64::from(msg.qos))),
        (
            "retain".to_owned(),
            Json::Number(f64::from(u8::from(msg.retain))),
        ),
        (
            "payloadlen".to_owned(),
            Json::Number(msg.payload.len() as f64),
        ),
    ];
    if msg.qos > 0 {
        root.push((
            "mid".to_owned(),
            Json::Number(f64::from(msg.mid.unwrap_or(0))),
        ));
    }
    if let Some(p) = msg.properties.filter(|p| !p.is_empty()) {
        root.push(("properties".to_owned(), properties_json(p)));
    } else if all_props {
        root.push(("properties".to_owned(), Json::Object(Vec::new())));
    }
    if msg.payload.is_empty() {
        root.push(("payload".to_owned(), Json::Null));
    } else if escaped {
        // D7: always valid JSON. UTF-8 payloads (NUL and control bytes included) become an
        // escaped string; anything else is `null` plus a base64 copy under a new key.
        match std::str::from_utf8(msg.payload) {
            Ok(s) => root.push(("payload".to_owned(), Json::String(s.to_owned()))),
            Err(_) => {
                root.push(("payload".to_owned(), Json::Null));
                root.push(("payload_b64".to_owned(), Json::String(base64(msg.payload))));
            }
        }
    } else {
        root.push(("payload".to_owned(), Json::parse(msg.payload)?));
    }
    Some(Json::Object(root))
}

fn properties_json(p: &PublishProperties) -> Json {
    let mut o = Vec::new();
    let num = |v: u32| Json::Number(f64::from(v));
    if let Some(v) = p.payload_format_indicator {
        o.push(("payload-format-indicator".to_owned(), num(u32::from(v))));
    }
    if let Some(v) = p.message_expiry_interval {
        o.push(("message-expiry-interval".to_owned(), num(v)));
    }
    if let Some(v) = &p.content_type {
        o.push(("content-type".to_owned(), Json::String(v.to_string())));
    }
    if let Some(v) = &p.response_topic {
        o.push((
            "response-topic".to_owned(),
            Json::String(v.as_str().to_owned()),
        ));
    }
    if let Some(v) = &p.correlation_data {
        o.push((
            "correlation-data".to_owned(),
            Json::String(String::from_utf8_lossy(v).into_owned()),
        ));
    }
    if let Some(v) = p.subscription_identifiers.first() {
        o.push(("subscription-identifier".to_owned(), num(v.get())));
    }
    if let Some(v) = p.topic_alias {
        o.push(("topic-alias".to_owned(), num(u32::from(v.get()))));
    }
    if !p.user_properties.is_empty() {
        // Duplicate names collapse into one key (the last value wins), as observed.
        let mut users: Vec<(String, Json)> = Vec::new();
        for up in &p.user_properties {
            let value = Json::String(up.value.to_string());
            match users.iter_mut().find(|(k, _)| **k == *up.name) {
                Some(slot) => slot.1 = value,
                None => users.push((up.name.to_string(), value)),
            }
        }
        o.push(("user-properties".to_owned(), Json::Object(users)));
    }
    Json::Object(o)
}

/// Standard base64 with padding.
fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(char::from(T[(n >> (18 - 6 * k)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn needs_time() {
        assert!(!Format::parse(b"%t %p").unwrap().needs_time());
        assert!(Format::parse(b"@H").unwrap().needs_time());
        assert!(Format::parse(b"%j").unwrap().needs_time());
    }
}
