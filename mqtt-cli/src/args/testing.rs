//! Test helpers for the option definitions: parse a command line of string words through
//! the whole parser (no options file, an empty environment).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsString;

use super::model::{ParseError, Parsed, PubArgs, SubArgs};
use super::parse::{parse_pub_with, parse_sub_with};
use crate::config::Environment;

fn words(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// `mqpub ARGS -t t -m m` (topic and message added unless given), which must parse.
pub(crate) fn pub_ok(args: &[&str]) -> PubArgs {
    let mut w = words(args);
    if !args
        .iter()
        .any(|a| ["-t", "--topic", "-L", "--url"].contains(a))
    {
        w.extend(words(&["-t", "t"]));
    }
    let sources = [
        "-m",
        "--message",
        "-f",
        "--file",
        "-l",
        "--stdin-line",
        "-n",
    ];
    let sources = [&sources[..], &["--null-message", "-s", "--stdin-file"]].concat();
    if !args.iter().any(|a| sources.contains(a)) {
        w.extend(words(&["-m", "m"]));
    }
    match parse_pub_with(&w, None, &Environment::empty()) {
        Parsed::Run(a) => a,
        other => panic!("mqpub {args:?}: {other:?}"),
    }
}

/// `mqsub ARGS -t t` (a topic added unless `-t`, `-L` or `-U` is given), which must parse.
pub(crate) fn sub_ok(args: &[&str]) -> SubArgs {
    let mut w = words(args);
    let topics = ["-t", "--topic", "-L", "--url", "-U", "--unsubscribe"];
    if !args.iter().any(|a| topics.contains(a)) {
        w.extend(words(&["-t", "t"]));
    }
    match parse_sub_with(&w, None, &Environment::empty()) {
        Parsed::Run(a) => a,
        other => panic!("mqsub {args:?}: {other:?}"),
    }
}

/// The error of `mqpub ARGS`, exactly as given.
pub(crate) fn pub_err(args: &[&str]) -> ParseError {
    match parse_pub_with(&words(args), None, &Environment::empty()) {
        Parsed::Error(e) => e,
        other => panic!("mqpub {args:?} should fail: {other:?}"),
    }
}

/// The error of `mqsub ARGS`, exactly as given.
pub(crate) fn sub_err(args: &[&str]) -> ParseError {
    match parse_sub_with(&words(args), None, &Environment::empty()) {
        Parsed::Error(e) => e,
        other => panic!("mqsub {args:?} should fail: {other:?}"),
    }
}

/// The first line of `mqpub ARGS`'s error.
pub(crate) fn pub_says(args: &[&str]) -> String {
    first_line(pub_err(args))
}

/// The first line of `mqsub ARGS`'s error.
pub(crate) fn sub_says(args: &[&str]) -> String {
    first_line(sub_err(args))
}

fn first_line(e: ParseError) -> String {
    e.stderr.lines().next().unwrap_or_default().to_owned()
}
