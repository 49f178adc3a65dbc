//! Every option of `mqpub` and `mqsub`, defined once (issue 14): names, tools, value,
//! summary, `--help` text and update function, one [`Opt`] each, grouped by subject in the
//! child modules with a test per option beside them. [`OPTIONS`] lists them **in the order
//! `--help` prints them**: each tool's own options first, then the common ones.
//!
//! Everything else is made from this list: the parser (`args::parse` looks words up with
//! [`find`]), the `-o` pre-scan ([`words_after`]), the `--help` text (`args::help`), and
//! the clap command behind completions and man pages (`crate::cli`). A new option is one
//! `Opt` here, one line in [`OPTIONS`] (an `Opt` left out of it is dead code, which the
//! build refuses), and its test.

use std::ffi::OsString;

use crate::args::flag::Opt;
use crate::tool::Tool;

mod auth;
mod client;
mod connect;
mod general;
mod output;
mod publish;
mod subscribe;
mod tls;

/// The options, in `--help` order.
pub(crate) static OPTIONS: &[&Opt] = &[
    // mqpub's own.
    &publish::FILE,
    &publish::STDIN_LINE,
    &publish::MESSAGE,
    &publish::NULL_MESSAGE,
    &publish::RETAIN,
    &publish::STDIN_FILE,
    &publish::TOPIC,
    &publish::REPEAT,
    &publish::REPEAT_DELAY,
    &publish::TOPIC_ALIASES,
    // mqsub's own.
    &subscribe::COUNT,
    &subscribe::EXIT_AFTER_SUB,
    &output::FORMAT,
    &output::NO_EOL,
    &subscribe::NO_RETAINED,
    &subscribe::TOPIC,
    &subscribe::FILTER_OUT,
    &subscribe::UNSUBSCRIBE,
    &output::VERBOSE,
    &output::WATCH,
    &subscribe::TIMEOUT,
    &output::COLOR,
    &output::JSON,
    &output::JSON_PROPS,
    &output::MESSAGE_RATE,
    &subscribe::NO_RECONNECT,
    &output::OUTPUT,
    &output::OUTPUT_DIR,
    &output::PAYLOAD_FORMAT,
    &output::PRETTY,
    &subscribe::RANDOM_FILTER,
    &subscribe::RECONNECT_MAX,
    &subscribe::REMOVE_RETAINED,
    &subscribe::RETAIN_AS_PUBLISHED,
    &subscribe::RETAIN_HANDLING,
    &subscribe::RETAINED_ONLY,
    // Both.
    &connect::BIND_ADDRESS,
    &client::CLEAN_SESSION,
    &general::DEBUG,
    &client::PROPERTY,
    &connect::HOST,
    &client::ID,
    &client::ID_PREFIX,
    &client::KEEPALIVE,
    &connect::URL,
    &client::MAX_INFLIGHT,
    &general::OPTIONS_FILE,
    &connect::PORT,
    &auth::PASSWORD,
    &client::QOS,
    &auth::USERNAME,
    &connect::PROTOCOL_VERSION,
    &client::SESSION_EXPIRY,
    &connect::CONNECT_TIMEOUT,
    &general::HELP,
    &connect::NODELAY,
    &auth::PW_FILE,
    &auth::PW_PROMPT,
    &general::QUIET,
    &general::STRICT_EXIT,
    &connect::UNIX,
    &general::VERSION,
    &auth::WILL_PAYLOAD,
    &auth::WILL_QOS,
    &auth::WILL_RETAIN,
    &auth::WILL_TOPIC,
    &connect::WS,
    // Both, TLS.
    &tls::CAFILE,
    &tls::CAPATH,
    &tls::CERT,
    &tls::KEY,
    &tls::KEYFORM,
    &tls::CIPHERS,
    &tls::TLS_ALPN,
    &tls::TLS_ENGINE,
    &tls::TLS_ENGINE_KPASS_SHA1,
    &tls::TLS_KEYLOG,
    &tls::TLS_USE_OS_CERTS,
    &tls::TLS_VERSION,
    &tls::INSECURE,
    &tls::NO_TLS,
    &tls::PSK,
    &tls::PSK_IDENTITY,
    &connect::PROXY,
];

/// The options `tool` has, in `--help` order.
pub(crate) fn of(tool: Tool) -> impl Iterator<Item = &'static Opt> {
    OPTIONS.iter().copied().filter(move |o| o.tools.has(tool))
}

/// The option of `tool` that `word` names exactly, if any.
pub(crate) fn find(tool: Tool, word: &str) -> Option<&'static Opt> {
    of(tool).find(|o| o.is_named(word))
}

/// How many words after `word` belong to it, for the `-o` pre-scan, which runs before the
/// tool's own checks: an option of either tool counts (as mosquitto's scan skips any
/// value), an unknown word has none.
pub(crate) fn words_after(word: &str, rest: &[OsString]) -> usize {
    OPTIONS
        .iter()
        .find(|o| o.is_named(word))
        .map_or(0, |o| o.words_after(rest))
}

/// The table checked as a whole; each option's behaviour is tested beside its definition.
#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;
    use std::ffi::OsString;

    use super::*;
    use crate::args::flag::{For, Kind};
    use crate::args::model::Parsed;
    use crate::args::parse::{parse_pub_with, parse_sub_with};
    use crate::config::Environment;

    fn parse_err(tool: Tool, words: &[&str]) -> Option<String> {
        let w: Vec<OsString> = words.iter().map(OsString::from).collect();
        let env = Environment::empty();
        match tool {
            Tool::Pub => parse_pub_with(&w, None, &env).error(),
            Tool::Sub => parse_sub_with(&w, None, &env).error(),
        }
        .map(|e| e.stderr)
    }

    /// Every spelling of an option: `-x` and `--name`.
    fn names(o: &Opt) -> Vec<String> {
        let short = o.short.map(|c| format!("-{c}"));
        let long = o.long.map(|l| format!("--{l}"));
        [short, long].into_iter().flatten().collect()
    }

    #[test]
    fn every_option_has_a_name_a_summary_and_help() {
        for o in OPTIONS {
            assert!(!names(o).is_empty(), "an option without a name");
            let label = o.label();
            assert!(
                !o.summary.is_empty() && !o.summary.contains('\n'),
                "{label}"
            );
            assert!(!o.help.is_empty() && !o.help.ends_with('\n'), "{label}");
            for line in o.help.lines() {
                // Continuation lines are indented by the help, not by the text.
                assert!(
                    !line.starts_with(' ') && !line.ends_with(' '),
                    "{label}: {line:?}"
                );
            }
            if let Some(l) = o.long {
                assert!(!l.starts_with('-') && !l.contains(['=', ' ']), "{label}");
            }
        }
    }

    #[test]
    fn a_name_means_one_option_per_tool() {
        for tool in Tool::ALL {
            let mut seen = BTreeMap::new();
            for o in of(tool) {
                for n in names(o) {
                    assert!(seen.insert(n.clone(), o.label()).is_none(), "{n} twice");
                }
            }
        }
        // A name both tools have reads the same number of words in both (the -o pre-scan
        // does not know the tool).
        for a in OPTIONS {
            for b in OPTIONS
                .iter()
                .filter(|b| names(b).iter().any(|n| names(a).contains(n)))
            {
                let shape = |o: &Opt| match o.kind {
                    Kind::Switch(_) => 0,
                    Kind::Value(_) => 1,
                    Kind::Property(_) => 3,
                };
                assert_eq!(shape(a), shape(b), "{}", a.label());
            }
        }
    }

    /// Each tool's own options first, then the common ones: the layout of `--help`.
    #[test]
    fn own_options_come_before_common_ones() {
        let first_common = OPTIONS.iter().position(|o| o.tools == For::Both).unwrap();
        assert!(OPTIONS[first_common..].iter().all(|o| o.tools == For::Both));
    }

    #[test]
    fn every_name_is_found_and_only_for_its_tools() {
        for tool in Tool::ALL {
            for o in OPTIONS {
                for n in names(o) {
                    let found = find(tool, &n);
                    if o.tools.has(tool) {
                        assert!(std::ptr::eq(found.unwrap(), *o), "{} {n}", tool.name());
                    } else if found.is_none() {
                        let err = parse_err(tool, &[&n, "1", "2", "3"]).unwrap();
                        assert_eq!(
                            err,
                            format!(
                                "Error: Unknown option '{n}'.\n\nUse '{} --help' to see usage.\n",
                                tool.name()
                            )
                        );
                    }
                }
            }
        }
    }

    /// No attached values, no bundling, no prefixes: mosquitto reads whole words.
    #[test]
    fn only_whole_words_name_an_option() {
        for tool in Tool::ALL {
            for o in of(tool) {
                for n in names(o) {
                    for word in [format!("{n}=1"), format!("{n}1"), format!("-{n}")] {
                        assert!(find(tool, &word).is_none(), "{word}");
                    }
                }
                if let Some(l) = o.long {
                    assert!(find(tool, &format!("--{}", &l[..l.len() - 1])).is_none());
                }
            }
        }
    }

    #[test]
    fn a_missing_value_gives_the_options_own_message() {
        for tool in Tool::ALL {
            for o in of(tool) {
                let Kind::Value(v) = o.kind else { continue };
                assert!(
                    v.missing.starts_with("Error: ") && v.missing.ends_with(".\n\n"),
                    "{}",
                    o.label()
                );
                assert!(
                    names(o)
                        .iter()
                        .any(|n| v.missing.contains(&format!(" {n} "))),
                    "{}: {}",
                    o.label(),
                    v.missing
                );
                for n in names(o) {
                    assert_eq!(
                        parse_err(tool, &[&n]).unwrap(),
                        format!(
                            "{}\nUse '{} --help' to see usage.\n",
                            v.missing,
                            tool.name()
                        ),
                        "{} {n}",
                        tool.name()
                    );
                }
            }
        }
    }

    #[test]
    fn every_listed_choice_is_accepted() {
        let mut checked = 0;
        for tool in Tool::ALL {
            for o in of(tool) {
                let Kind::Value(v) = o.kind else { continue };
                for c in v.choices {
                    let mut w = vec![
                        names(o)[0].clone(),
                        (*c).to_owned(),
                        "-t".into(),
                        "t".into(),
                    ];
                    if tool == Tool::Pub {
                        w.extend(["-m".into(), "m".into()]);
                    }
                    let w: Vec<&str> = w.iter().map(String::as_str).collect();
                    assert_eq!(parse_err(tool, &w), None, "{} {w:?}", tool.name());
                    checked += 1;
                }
            }
        }
        assert!(checked >= 10);
    }

    #[test]
    fn the_pre_scan_skips_what_the_parser_reads() {
        let w = |s: &[&str]| -> Vec<OsString> { s.iter().map(OsString::from).collect() };
        for o in OPTIONS {
            for n in names(o) {
                let expected = match o.kind {
                    Kind::Switch(_) => 0,
                    Kind::Value(_) => 1,
                    Kind::Property(_) => 3,
                };
                assert_eq!(words_after(&n, &w(&["a", "b", "c", "d"])), expected, "{n}");
            }
        }
        assert_eq!(
            words_after("-D", &w(&["publish", "user-property", "k", "v"])),
            4
        );
        assert_eq!(words_after("-Z", &w(&["x"])), 0);
    }

    /// `--help` and `--version` end parsing whatever follows, for both tools.
    #[test]
    fn help_and_version_stop_the_parser() {
        let w: Vec<OsString> = ["--help", "--bogus"].iter().map(OsString::from).collect();
        let p = parse_sub_with(&w, None, &Environment::empty());
        assert!(matches!(p, Parsed::Help(_)));
    }
}
