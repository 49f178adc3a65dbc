//! `mqpub` and `mqsub`, mosquitto-compatible MQTT command-line tools, as a library: the
//! binaries are one-line mains around [`pub_tool::main`] and [`sub_tool::main`].
//!
//! `mqpub` and `mqsub` are meant to feel like `mosquitto_pub` / `mosquitto_sub` 2.0.11 to
//! people who have them in their fingers: anything a user can type into those should work
//! the same way, print the same bytes and exit with the same status, except for a short list
//! of deliberate fixes (`DIFFERENCES.md`, marked **D1**–**D16** in the docs). `mqgen`
//! writes their shell completions and man pages. The reference broker, `mqbroker`, is a
//! package of its own, so installing these tools does not build it.
//!
//! The parsing and the formatting are pure functions (tested without a network); the runs
//! connect through `mqtt-client`:
//!
//! ```text
//!  argv ─┐                               ┌─► PubArgs / SubArgs ─► session::options
//!  ~/.config/mqpub ─► args::parse_* ─────┤        │                  (mqtt_client::Options)
//!  $MQTT_PASSWORD ┘                      │        ▼
//!                                        │   pub_tool::main / sub_tool::main ─► mqtt_client
//!                                        └─► Help / Version / Error{stderr, stdout, exit}
//!
//!  received PUBLISH ─► format::MessageView ─► format::write_message ─► output sink ─► stdout
//!                          (clock injected: time::Clock)               (file, dir, watch)
//!  connection failures ─► session::connect_failure ─► mosquitto's message and exit status
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
//!   [`args::ConnArgs`]) and the hand-written, mosquitto-exact parser, driven by one table
//!   that defines every option once (`args::defs`): the `--help` text and [`cli`] are made
//!   from it too.
//! - [`config`]: the options file (`$XDG_CONFIG_HOME/mqpub` or `~/.config/mqpub`, `-o`).
//! - [`props`]: `-D` MQTT v5 properties into `mqtt_proto` property structs.
//! - [`url`]: `-L` URLs (`mqtt`, `mqtts`, `ws`, `wss`) and `--proxy`.
//! - [`session`]: [`args::ConnArgs`] into `mqtt_client::Options`, mosquitto's failure
//!   messages and exit codes, the `-d` lines of each packet.
//! - [`pub_tool`], [`sub_tool`]: the two programs' runs (connect, publish or subscribe,
//!   print, exit status).
//! - [`format`](mod@format): mqsub's output: plain, `-v`, `-N`, `-F` codes, `%j`/`%J` JSON, `--pretty`.
//! - [`time`]: the injectable clock and the `strftime` subset behind `@X`, `%I`, `%U`.
//! - [`debug`]: the text of the `-d` lines.
//! - [`output`]: where mqsub's messages go (stdout, `--output`, `--output-dir`,
//!   `--message-rate`, `--watch`).
//! - [`cli`]: a clap `Command` made from the option table, for completions and man pages.
//! - [`man`]: the man pages (`mqgen man`), with the sections mosquitto's have.
//! - [`differences`]: every deliberate difference from mosquitto (docs only).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The README's examples, compiled as doctests (not part of the documentation).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod args;
pub mod cli;
mod cnum;
pub mod config;
pub mod debug;
pub mod differences {
    #![doc = include_str!("../DIFFERENCES.md")]
}
mod exit;
pub mod format;
mod json;
pub mod man;
pub mod output;
pub mod props;
pub mod pub_tool;
pub mod session;
pub mod sub_tool;
pub mod time;
mod tool;
mod tz;
pub mod url;
