//! `mqpub --help` and `mqsub --help` print exactly the text they printed before the option
//! table (issue 14): the option lines are now made from the table, and these files, taken
//! from the hand-written text, hold them to it byte for byte (`{version}` stands for the
//! package version).

#![allow(clippy::expect_used, missing_docs)]

use std::process::Command;

fn help(bin: &str, expected: &str) {
    let out = Command::new(bin)
        .arg("--help")
        .output()
        .expect("the tool runs");
    // D13: on stdout, exit status 0.
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty());
    let expected = expected.replace("{version}", env!("CARGO_PKG_VERSION"));
    let got = String::from_utf8_lossy(&out.stdout);
    if got != expected {
        let line = got
            .lines()
            .zip(expected.lines())
            .position(|(a, b)| a != b)
            .map_or_else(|| "the end".to_owned(), |n| format!("line {}", n + 1));
        panic!("{bin} --help differs at {line}:\n{got}");
    }
}

#[test]
fn mqpub_help_is_unchanged() {
    help(env!("CARGO_BIN_EXE_mqpub"), include_str!("help/mqpub.txt"));
}

#[test]
fn mqsub_help_is_unchanged() {
    help(env!("CARGO_BIN_EXE_mqsub"), include_str!("help/mqsub.txt"));
}
