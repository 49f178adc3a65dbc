//! A clap description of the options, for shell completions and man pages (`clap_complete`,
//! `clap_mangen`), made from the option table (`args::defs`): names, value names, fixed
//! value sets, repetition, the one-line summary (completions) and the `--help` text (the man
//! page's description of each option).
//!
//! It is **not** used to parse: mosquitto's rules (the next word is always the value, no
//! bundling, byte-exact errors) differ from clap's, so [`crate::args`] has its own parser.

use clap::{Arg, ArgAction, Command};

use crate::args::{Kind, Opt, Tool, options_of};

/// A `'static` one-letter string (clap ids must be `'static`).
fn letter(c: char) -> &'static str {
    const LETTERS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    LETTERS
        .find(c)
        .map(|i| &LETTERS[i..i + 1])
        .unwrap_or_default()
}

/// The `--help` text of an option as one paragraph (the man page fills its own lines).
fn paragraph(text: &str, tool: Tool) -> String {
    text.replace("<tool>", tool.name())
        .lines()
        .collect::<Vec<_>>()
        .join(" ")
}

/// One option as a clap argument.
fn arg(o: &Opt, tool: Tool) -> Arg {
    let id = o
        .long
        .unwrap_or_else(|| o.short.map(letter).unwrap_or_default());
    let mut arg = Arg::new(id)
        .help(o.summary)
        .long_help(paragraph(o.help, tool));
    if let Some(s) = o.short {
        arg = arg.short(s);
    }
    if let Some(l) = o.long {
        arg = arg.long(l);
    }
    match o.kind {
        Kind::Switch(_) => arg.action(match o.long {
            Some("help") => ArgAction::Help,
            Some("version") => ArgAction::Version,
            _ => ArgAction::SetTrue,
        }),
        Kind::Value(v) => {
            let arg = arg
                .value_name(v.name)
                .num_args(1)
                .allow_hyphen_values(true)
                .action(if v.repeats {
                    ArgAction::Append
                } else {
                    ArgAction::Set
                });
            if v.choices.is_empty() {
                arg
            } else {
                arg.value_parser(v.choices.to_vec())
            }
        }
        // COMMAND IDENTIFIER VALUE, or COMMAND user-property NAME VALUE.
        Kind::Property(_) => arg
            .value_names(["COMMAND", "IDENTIFIER", "VALUE"])
            .num_args(3..=4)
            .allow_hyphen_values(true)
            .action(ArgAction::Append),
    }
}

/// The clap command for `tool`.
pub fn command(tool: Tool) -> Command {
    let about = match tool {
        Tool::Pub => "Publish one message (mosquitto_pub compatible)",
        Tool::Sub => "Subscribe and print messages (mosquitto_sub compatible)",
    };
    let cmd = Command::new(tool.name())
        .about(about)
        .version(env!("CARGO_PKG_VERSION"))
        .disable_help_flag(true)
        .disable_version_flag(true);
    options_of(tool).fold(cmd, |cmd, o| cmd.arg(arg(o, tool)))
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
        for tool in Tool::ALL {
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

    /// The clap command and the table agree in both directions: the same options, with
    /// the same names and the same value shape, and nothing else.
    #[test]
    fn command_matches_the_table() {
        for tool in Tool::ALL {
            let cmd = command(tool);
            let args: Vec<&Arg> = cmd.get_arguments().collect();
            let opts: Vec<&Opt> = options_of(tool).collect();
            assert_eq!(args.len(), opts.len(), "{}", tool.name());
            for (a, o) in args.iter().zip(&opts) {
                assert_eq!(a.get_short(), o.short);
                assert_eq!(a.get_long(), o.long);
                let takes = a.get_action().takes_values();
                assert_eq!(takes, !matches!(o.kind, Kind::Switch(_)), "{}", o.label());
            }
        }
    }

    /// Every option in the clap command is known to the real parser.
    #[test]
    fn command_options_are_known_to_the_parser() {
        use std::ffi::OsString;

        use crate::args::{parse_pub_with, parse_sub_with};
        use crate::config::Environment;

        for tool in Tool::ALL {
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
