//! The network-free half of `mqpub` and `mqsub`: mosquitto-compatible command lines and
//! output.
//!
//! `mqpub` and `mqsub` are meant to feel like `mosquitto_pub` / `mosquitto_sub` 2.0.11 to
//! people who have them in their fingers: anything a user can type into those should work
//! the same way, print the same bytes and exit with the same status, except for a short list
//! of deliberate fixes (`DIFFERENCES.md`, marked **D1**–**D16** in the docs).
//!
//! This crate does no networking. It turns argv (plus the options file and a few
//! environment variables) into plain structs, and turns received messages into output bytes:
//!
//! ```text
//!  argv ─┐                               ┌─► PubArgs / SubArgs ──► (client, elsewhere)
//!  ~/.config/mqpub ─► args::parse_* ─────┤
//!  $MQTT_PASSWORD ┘                      └─► Help / Version / Error{stderr, stdout, exit}
//!
//!  received PUBLISH ─► format::MessageView ─► format::write_message ─► stdout bytes
//!                          (clock injected: time::Clock)
//! ```
//!
//! ```
//! use mqtt_cli::args::{Parsed, parse_sub_with};
//! use mqtt_cli::config::Environment;
//! use mqtt_cli::format::{MessageView, format_message};
//! use mqtt_cli::time::SystemClock;
//!
//! let argv = ["-t", "sensors/#", "-v"].map(std::ffi::OsString::from);
//! let Parsed::Run(sub) = parse_sub_with(&argv, None, &Environment::empty()) else {
//!     panic!("valid command line");
//! };
//! let (out, _err) = format_message(&sub.output, &MessageView::new("sensors/a", b"21.5"), &SystemClock::default());
//! assert_eq!(out, b"sensors/a 21.5\n");
//!
//! let bad = parse_sub_with(&["-q".into(), "3".into(), "-t".into(), "x".into()], None, &Environment::empty());
//! let err = bad.error().unwrap();
//! assert_eq!(err.stderr, "Error: Invalid QoS given: 3\n\nUse 'mqsub --help' to see usage.\n");
//! assert_eq!(err.exit_code, 1);
//! ```
//!
//! Modules:
//!
//! - [`args`]: the command-line model ([`args::PubArgs`], [`args::SubArgs`],
//!   [`args::ConnArgs`]) and the hand-written, mosquitto-exact parser.
//! - [`config`]: the options file (`$XDG_CONFIG_HOME/mqpub` or `~/.config/mqpub`, `-o`).
//! - [`props`]: `-D` MQTT v5 properties into `mqtt_proto` property structs.
//! - [`url`]: `-L` URLs (`mqtt`, `mqtts`, `ws`, `wss`) and `--proxy`.
//! - [`format`](mod@format): mqsub's output: plain, `-v`, `-N`, `-F` codes, `%j`/`%J` JSON, `--pretty`.
//! - [`time`]: the injectable clock and the `strftime` subset behind `@X`, `%I`, `%U`.
//! - [`debug`]: the text of the `-d` lines.
//! - [`output`]: where mqsub's messages go (stdout, `--output`, `--output-dir`,
//!   `--message-rate`).
//! - [`cli`]: a clap `Command` describing the options, for completions and man pages.
//! - [`differences`]: every deliberate difference from mosquitto (docs only).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod args;
pub mod cli;
pub mod config;
pub mod debug;
pub mod differences {
    #![doc = include_str!("../DIFFERENCES.md")]
}
pub mod format;
mod help;
mod json;
pub mod man;
pub mod output;
pub mod props;
pub mod pub_tool;
pub mod session;
pub mod sub_tool;
pub mod time;
mod tz;
pub mod url;
