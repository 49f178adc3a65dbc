//! `mqgen` produces completions and man pages from the clap definition of mqpub / mqsub.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;

fn mqgen(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mqgen"))
        .args(args)
        .output()
        .expect("mqgen runs")
}

#[test]
fn completions_for_every_shell_name_the_options() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        for tool in ["mqpub", "mqsub"] {
            let out = mqgen(&["completions", shell, tool]);
            assert!(out.status.success(), "{shell} {tool}");
            let text = String::from_utf8(out.stdout).unwrap();
            assert!(text.contains("topic"), "{shell} {tool}: {text}");
            assert!(text.contains(tool), "{shell} {tool}");
        }
    }
}

#[test]
fn man_pages_are_roff() {
    for tool in ["mqpub", "mqsub"] {
        let out = mqgen(&["man", tool]);
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains(&format!(".TH {tool} 1")), "{text}");
        assert!(text.contains("\\-\\-topic") || text.contains("topic"));
    }
}

#[test]
fn bad_arguments_exit_1_with_usage() {
    let out = mqgen(&["completions", "tcsh", "mqpub"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("Usage: mqgen"));
}
