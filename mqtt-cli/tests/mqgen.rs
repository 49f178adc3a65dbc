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

/// The man pages carry what mosquitto_pub(1) and mosquitto_sub(1) document besides the
/// options: output format (mqsub), exit status, environment and files.
#[test]
fn man_pages_carry_mosquittos_sections() {
    for tool in ["mqpub", "mqsub"] {
        let out = mqgen(&["man", tool]);
        assert!(out.status.success());
        let page = String::from_utf8(out.stdout).unwrap();
        for section in [
            ".SH OPTIONS",
            ".SH \"ENCRYPTED CONNECTIONS\"",
            ".SH WILLS",
            ".SH PROPERTIES",
            ".SH \"EXIT STATUS\"",
            ".SH ENVIRONMENT",
            ".SH FILES",
            ".SH EXAMPLES",
            ".SH \"SEE ALSO\"",
        ] {
            assert!(page.contains(section), "{tool}: no {section}");
        }
        // The options file, where the code looks for it.
        assert!(page.contains(&format!("$XDG_CONFIG_HOME/{tool}, $HOME/.config/{tool}")));
        for variable in ["XDG_CONFIG_HOME", "HOME", "MQTT_PASSWORD"] {
            assert!(
                page.contains(&format!(".TP\n\\fB{variable}\\fR")),
                "{tool}: {variable}"
            );
        }
        // Exit statuses: libmosquitto's numbers and the CONNACK codes of both versions.
        for status in ["7", "8", "14", "19", "135"] {
            assert!(
                page.contains(&format!(".TP\n\\fB{status}\\fR")),
                "{tool}: {status}"
            );
        }
        assert!(page.contains("Not authorized"));
    }
    let sub = String::from_utf8(mqgen(&["man", "mqsub"]).stdout).unwrap();
    assert!(sub.contains(".SH \"OUTPUT FORMAT\""));
    for code in ["%t", "%p", "%x", "%j", "%J", "%I", "%U", "%P", "@N", "@@"] {
        assert!(
            sub.contains(&format!(".TP\n\\fB{code}\\fR")),
            "mqsub: {code}"
        );
    }
    // -W's time-out and the time zone of the -F times.
    assert!(sub.contains(".TP\n\\fB27\\fR"));
    assert!(sub.contains(".TP\n\\fBTZ\\fR"));
    let pubpage = String::from_utf8(mqgen(&["man", "mqpub"]).stdout).unwrap();
    assert!(!pubpage.contains("OUTPUT FORMAT"));
}
