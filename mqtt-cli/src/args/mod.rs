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
//!
//! # Layout
//!
//! The option table (`args::defs`, in the manner of ripgrep's `flags/defs.rs`) is the
//! single definition of the options: each option's names, tools, value, `--help` text, summary and update function,
//! with a test beside it. The parser, the `-o` pre-scan, the `--help` text and the clap
//! command behind completions and man pages ([`crate::cli`]) are all made from it.
//!
//! ```text
//! argv, options file ─► parse ─► defs::find ─► Opt's update fn ─► State ─► checks
//!                                                                    └─► PubArgs / SubArgs
//! ```
//!
//! - `model`: the types below (what the tools run with).
//! - `flag`: the shape of one definition (`Opt`, `Kind`, `For`).
//! - `defs`: the definitions, by subject, in `--help` order.
//! - `state`: what the options have said (`State`), and the checks of the end.
//! - `parse`: the entry points below, the options file, the `-o` pre-scan.
//! - `help`: the `--help` text.

mod defs;
mod flag;
mod help;
mod model;
mod parse;
mod state;
#[cfg(test)]
mod testing;

pub use crate::tool::Tool;
pub use model::{
    ClientId, ConnArgs, MessageSource, ParseError, Parsed, PubArgs, Reconnect, SubArgs, TlsArgs,
    TlsVersion, Transport, WillArgs, message_file_name,
};
pub use parse::{parse_pub, parse_pub_with, parse_sub, parse_sub_with};

pub(crate) use defs::of as options_of;
pub(crate) use flag::{Kind, Opt};
