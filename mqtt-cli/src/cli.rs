//! A clap description of the options, for shell completions and man pages (`clap_complete`,
//! `clap_mangen`) and `--help` rendering elsewhere.
//!
//! It is **not** used to parse: mosquitto's rules (the next word is always the value, no
//! bundling, byte-exact errors) differ from clap's, so [`crate::args`] has its own parser.
//! The definitions are kept in one table shared by both tools.

use clap::{Arg, ArgAction, Command};

use crate::args::Tool;

/// Which tools an option belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum For {
    Both,
    Pub,
    Sub,
}

/// (short, long, value name or "" for a flag, repeatable, tools, help)
type Spec = (
    Option<char>,
    Option<&'static str>,
    &'static str,
    bool,
    For,
    &'static str,
);

const OPTIONS: &[Spec] = &[
    (
        Some('A'),
        None,
        "ADDRESS",
        false,
        For::Both,
        "Bind the outgoing socket to this address",
    ),
    (
        None,
        Some("cafile"),
        "FILE",
        false,
        For::Both,
        "Trusted CA certificates (turns TLS on)",
    ),
    (
        None,
        Some("capath"),
        "DIR",
        false,
        For::Both,
        "Directory of trusted CA certificates (turns TLS on)",
    ),
    (
        None,
        Some("cert"),
        "FILE",
        false,
        For::Both,
        "Client certificate",
    ),
    (
        None,
        Some("key"),
        "FILE",
        false,
        For::Both,
        "Client private key",
    ),
    (
        None,
        Some("keyform"),
        "FORM",
        false,
        For::Both,
        "Key type: pem",
    ),
    (
        None,
        Some("ciphers"),
        "LIST",
        false,
        For::Both,
        "Not supported by this build",
    ),
    (
        Some('C'),
        None,
        "COUNT",
        false,
        For::Sub,
        "Exit after this many messages",
    ),
    (
        Some('c'),
        Some("disable-clean-session"),
        "",
        false,
        For::Both,
        "Persistent session",
    ),
    (
        Some('d'),
        Some("debug"),
        "",
        false,
        For::Both,
        "Print debug messages",
    ),
    (
        Some('D'),
        Some("property"),
        "COMMAND IDENTIFIER VALUE",
        true,
        For::Both,
        "Add an MQTT v5 property",
    ),
    (Some('E'), None, "", false, For::Sub, "Exit once subscribed"),
    (
        Some('f'),
        Some("file"),
        "FILE",
        false,
        For::Pub,
        "Send the contents of a file",
    ),
    (Some('F'), None, "FORMAT", false, For::Sub, "Output format"),
    (
        Some('h'),
        Some("host"),
        "HOST",
        false,
        For::Both,
        "Broker host (default localhost)",
    ),
    (
        None,
        Some("insecure"),
        "",
        false,
        For::Both,
        "Do not check the server host name",
    ),
    (Some('i'), Some("id"), "ID", false, For::Both, "Client id"),
    (
        Some('I'),
        Some("id-prefix"),
        "PREFIX",
        false,
        For::Both,
        "Client id prefix (+ process id)",
    ),
    (
        Some('k'),
        Some("keepalive"),
        "SECONDS",
        false,
        For::Both,
        "Keep alive (default 60)",
    ),
    (
        Some('L'),
        Some("url"),
        "URL",
        false,
        For::Both,
        "mqtt(s)|ws(s)://[user[:pass]@]host[:port]/topic",
    ),
    (
        Some('l'),
        Some("stdin-line"),
        "",
        false,
        For::Pub,
        "One message per stdin line",
    ),
    (
        Some('m'),
        Some("message"),
        "MESSAGE",
        false,
        For::Pub,
        "Message payload",
    ),
    (
        Some('M'),
        None,
        "COUNT",
        false,
        For::Both,
        "Maximum in-flight QoS 1/2 messages",
    ),
    (
        None,
        Some("nodelay"),
        "",
        false,
        For::Both,
        "Disable Nagle's algorithm",
    ),
    (
        Some('n'),
        Some("null-message"),
        "",
        false,
        For::Pub,
        "Send a zero-length message",
    ),
    (
        Some('N'),
        None,
        "",
        false,
        For::Sub,
        "No newline after each message",
    ),
    (
        Some('o'),
        None,
        "FILE",
        false,
        For::Both,
        "Read options from this file",
    ),
    (
        Some('p'),
        Some("port"),
        "PORT",
        false,
        For::Both,
        "Broker port",
    ),
    (
        None,
        Some("pretty"),
        "",
        false,
        For::Sub,
        "Pretty-print JSON output",
    ),
    (
        Some('P'),
        Some("pw"),
        "PASSWORD",
        false,
        For::Both,
        "Password",
    ),
    (
        None,
        Some("pw-file"),
        "FILE",
        false,
        For::Both,
        "Read the password from a file",
    ),
    (
        None,
        Some("proxy"),
        "URL",
        false,
        For::Both,
        "Proxy: socks5h://[user[:pass]@]host[:port] (SOCKS5), or http://... (HTTP CONNECT)",
    ),
    (
        None,
        Some("psk"),
        "KEY",
        false,
        For::Both,
        "Not supported by this build",
    ),
    (
        None,
        Some("psk-identity"),
        "IDENTITY",
        false,
        For::Both,
        "Not supported by this build",
    ),
    (
        Some('q'),
        Some("qos"),
        "QOS",
        false,
        For::Both,
        "Quality of service (0, 1 or 2)",
    ),
    (
        None,
        Some("quiet"),
        "",
        false,
        For::Both,
        "Do not print error messages",
    ),
    (
        Some('r'),
        Some("retain"),
        "",
        false,
        For::Pub,
        "Retain the message",
    ),
    (
        Some('R'),
        None,
        "",
        false,
        For::Sub,
        "Do not print retained messages",
    ),
    (
        None,
        Some("random-filter"),
        "PERCENT",
        false,
        For::Sub,
        "Print only this percentage of messages",
    ),
    (
        None,
        Some("remove-retained"),
        "",
        false,
        For::Sub,
        "Clear received retained messages",
    ),
    (
        None,
        Some("repeat"),
        "COUNT",
        false,
        For::Pub,
        "Publish the message this many times",
    ),
    (
        None,
        Some("repeat-delay"),
        "SECONDS",
        false,
        For::Pub,
        "Delay between repeats",
    ),
    (
        None,
        Some("topic-aliases"),
        "",
        false,
        For::Pub,
        "Use topic aliases when the broker allows them (v5)",
    ),
    (
        None,
        Some("retain-as-published"),
        "",
        false,
        For::Sub,
        "Keep the retain flag (v5)",
    ),
    (
        None,
        Some("retain-handling"),
        "WHEN",
        false,
        For::Sub,
        "always, new or never (v5)",
    ),
    (
        None,
        Some("retained-only"),
        "",
        false,
        For::Sub,
        "Print only retained messages",
    ),
    (
        Some('s'),
        Some("stdin-file"),
        "",
        false,
        For::Pub,
        "Send all of stdin as one message",
    ),
    (
        Some('t'),
        Some("topic"),
        "TOPIC",
        true,
        For::Both,
        "Topic (mqsub: repeatable filter)",
    ),
    (
        Some('T'),
        Some("filter-out"),
        "FILTER",
        true,
        For::Sub,
        "Do not print matching topics",
    ),
    (
        None,
        Some("tls-alpn"),
        "PROTOCOL",
        false,
        For::Both,
        "TLS ALPN protocol",
    ),
    (
        None,
        Some("tls-engine"),
        "ENGINE",
        false,
        For::Both,
        "Not supported by this build",
    ),
    (
        None,
        Some("tls-engine-kpass-sha1"),
        "SHA1",
        false,
        For::Both,
        "Not supported by this build",
    ),
    (
        None,
        Some("tls-keylog"),
        "FILE",
        false,
        For::Both,
        "Write TLS secrets to this file",
    ),
    (
        None,
        Some("tls-use-os-certs"),
        "",
        false,
        For::Both,
        "Trust the OS certificate store",
    ),
    (
        None,
        Some("tls-version"),
        "VERSION",
        false,
        For::Both,
        "tlsv1.3 or tlsv1.2",
    ),
    (None, Some("no-tls"), "", false, For::Both, "Do not use TLS"),
    (
        Some('U'),
        Some("unsubscribe"),
        "FILTER",
        true,
        For::Sub,
        "Unsubscribe from this filter",
    ),
    (
        Some('u'),
        Some("username"),
        "USERNAME",
        false,
        For::Both,
        "User name",
    ),
    (
        None,
        Some("unix"),
        "PATH",
        false,
        For::Both,
        "Connect through a unix socket",
    ),
    (
        Some('V'),
        Some("protocol-version"),
        "VERSION",
        false,
        For::Both,
        "31, 311 or 5",
    ),
    (
        Some('v'),
        Some("verbose"),
        "",
        false,
        For::Sub,
        "Print the topic before the payload",
    ),
    (
        Some('W'),
        None,
        "SECONDS",
        false,
        For::Sub,
        "Exit after this many seconds",
    ),
    (
        None,
        Some("will-payload"),
        "PAYLOAD",
        false,
        For::Both,
        "Will payload",
    ),
    (None, Some("will-qos"), "QOS", false, For::Both, "Will QoS"),
    (
        None,
        Some("will-retain"),
        "",
        false,
        For::Both,
        "Retain the will",
    ),
    (
        None,
        Some("will-topic"),
        "TOPIC",
        false,
        For::Both,
        "Will topic",
    ),
    (
        None,
        Some("ws"),
        "",
        false,
        For::Both,
        "MQTT over WebSocket",
    ),
    (
        Some('x'),
        None,
        "SECONDS",
        false,
        For::Both,
        "Session expiry interval (v5)",
    ),
    (
        None,
        Some("connect-timeout"),
        "SECONDS",
        false,
        For::Both,
        "Seconds to wait for CONNACK",
    ),
    (
        None,
        Some("strict-exit"),
        "",
        false,
        For::Both,
        "Exit with the v5 reason code on refusal",
    ),
    (
        None,
        Some("no-reconnect"),
        "",
        false,
        For::Sub,
        "Exit when the connection is lost",
    ),
    (
        None,
        Some("reconnect-max"),
        "COUNT",
        false,
        For::Sub,
        "Give up after this many failed reconnects",
    ),
    (
        None,
        Some("json"),
        "",
        false,
        For::Sub,
        "One JSON object per message (-F %j)",
    ),
    (
        None,
        Some("json-props"),
        "",
        false,
        For::Sub,
        "Always include properties in JSON output",
    ),
    (
        None,
        Some("pw-prompt"),
        "",
        false,
        For::Both,
        "Ask for the password on the terminal",
    ),
    (
        None,
        Some("color"),
        "WHEN",
        false,
        For::Sub,
        "Colour the topic: auto, always or never",
    ),
    (
        None,
        Some("payload-format"),
        "FORMAT",
        false,
        For::Sub,
        "Payload in -v/default mode: raw, hex, base64 or text",
    ),
    (
        None,
        Some("output"),
        "FILE",
        false,
        For::Sub,
        "Append the messages to FILE instead of stdout",
    ),
    (
        None,
        Some("output-dir"),
        "DIR",
        false,
        For::Sub,
        "Write each message to its own file in DIR",
    ),
    (
        None,
        Some("message-rate"),
        "",
        false,
        For::Sub,
        "Print messages per second on stderr instead of the messages",
    ),
    (
        Some('w'),
        Some("watch"),
        "",
        false,
        For::Sub,
        "Show the latest message of every topic in a redrawn table",
    ),
    (None, Some("help"), "", false, For::Both, "Print help"),
    (
        None,
        Some("version"),
        "",
        false,
        For::Both,
        "Print the version",
    ),
];

/// A `'static` one-letter string (clap ids must be `'static`).
fn letter(c: char) -> &'static str {
    const LETTERS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    LETTERS
        .find(c)
        .map(|i| &LETTERS[i..i + 1])
        .unwrap_or_default()
}

/// The clap command for `tool`.
pub fn command(tool: Tool) -> Command {
    let about = match tool {
        Tool::Pub => "Publish one message (mosquitto_pub compatible)",
        Tool::Sub => "Subscribe and print messages (mosquitto_sub compatible)",
    };
    let mut cmd = Command::new(tool.name())
        .about(about)
        .version(env!("CARGO_PKG_VERSION"))
        .disable_help_flag(true)
        .disable_version_flag(true);
    for &(short, long, value, repeat, tools, help) in OPTIONS {
        let keep = match tools {
            For::Both => true,
            For::Pub => tool == Tool::Pub,
            For::Sub => tool == Tool::Sub,
        };
        if !keep {
            continue;
        }
        let id = long.unwrap_or_else(|| short.map(letter).unwrap_or_default());
        let mut arg = Arg::new(id).help(help);
        if let Some(s) = short {
            arg = arg.short(s);
        }
        if let Some(l) = long {
            arg = arg.long(l);
        }
        arg = if value.is_empty() {
            arg.action(match long {
                Some("help") => ArgAction::Help,
                Some("version") => ArgAction::Version,
                _ => ArgAction::SetTrue,
            })
        } else {
            let names: Vec<&'static str> = value.split(' ').collect();
            let n = names.len();
            arg.value_names(names)
                .num_args(if n > 1 { n..=n + 1 } else { 1..=1 })
                .allow_hyphen_values(true)
                .action(if repeat {
                    ArgAction::Append
                } else {
                    ArgAction::Set
                })
        };
        // Fixed value sets, for completions.
        arg = match long {
            Some("color") => arg.value_parser(["auto", "always", "never"]),
            Some("payload-format") => arg.value_parser(["raw", "hex", "base64", "text"]),
            Some("retain-handling") => arg.value_parser(["always", "new", "never"]),
            _ => arg,
        };
        cmd = cmd.arg(arg);
    }
    cmd
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn commands_are_well_formed() {
        command(Tool::Pub).debug_assert();
        command(Tool::Sub).debug_assert();
    }

    #[test]
    fn value_sets_for_completions() {
        let sub = command(Tool::Sub);
        let values = |name: &str| -> Vec<String> {
            sub.get_arguments()
                .find(|a| a.get_long() == Some(name))
                .unwrap()
                .get_possible_values()
                .iter()
                .map(|v| v.get_name().to_owned())
                .collect()
        };
        assert_eq!(values("color"), ["auto", "always", "never"]);
        assert_eq!(values("payload-format"), ["raw", "hex", "base64", "text"]);
        assert_eq!(values("retain-handling"), ["always", "new", "never"]);
    }

    /// D16: the help text describes every option.
    #[test]
    fn help_describes_every_option() {
        for tool in [Tool::Pub, Tool::Sub] {
            let usage = tool.usage();
            for arg in command(tool).get_arguments() {
                let short = arg.get_short().map(|s| format!(" -{s} :"));
                let long = arg.get_long().map(|l| format!(" --{l} :"));
                let found = [short, long]
                    .into_iter()
                    .flatten()
                    .any(|n| usage.contains(&n));
                assert!(found, "{} --help misses {:?}", tool.name(), arg.get_id());
            }
        }
    }

    /// Every option in the clap table is known to the real parser, and vice versa for a
    /// sample of tool-specific ones.
    #[test]
    fn table_matches_the_parser() {
        use std::ffi::OsString;

        use crate::args::{parse_pub_with, parse_sub_with};
        use crate::config::Environment;

        for tool in [Tool::Pub, Tool::Sub] {
            for arg in command(tool).get_arguments() {
                let name = match (arg.get_long(), arg.get_short()) {
                    (Some(l), _) => format!("--{l}"),
                    (None, Some(s)) => format!("-{s}"),
                    (None, None) => unreachable!("every option has a name"),
                };
                let words: Vec<OsString> = std::iter::once(name.clone())
                    .chain(std::iter::repeat_n("1".to_owned(), 4))
                    .map(OsString::from)
                    .collect();
                let err = match tool {
                    Tool::Pub => parse_pub_with(&words, None, &Environment::empty()).error(),
                    Tool::Sub => parse_sub_with(&words, None, &Environment::empty()).error(),
                };
                if let Some(e) = err {
                    assert!(
                        !e.stderr
                            .starts_with(&format!("Error: Unknown option '{name}'")),
                        "{} rejects {name}",
                        tool.name()
                    );
                }
            }
        }
    }
}
