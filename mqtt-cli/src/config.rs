//! The per-user options file (mosquitto's `~/.config/mosquitto_pub`), §1.6 of the reference.
//!
//! - Path: `$XDG_CONFIG_HOME/mqpub` if `XDG_CONFIG_HOME` is set (and then `~/.config` is not
//!   read), otherwise `$HOME/.config/mqpub`; `mqsub` likewise. A missing file is silently
//!   ignored. `-o FILE` (mosquitto 2.1) reads `FILE` instead; we never read
//!   `~/.config/mosquitto_pub`, but `-o ~/.config/mosquitto_pub` does.
//! - Format: one option per line, `-option value`. A line is split at the **first space**;
//!   the value is the rest of the line verbatim (spaces included, no quote processing).
//!   Lines whose first character is `#` are comments; trailing CR/LF are stripped; empty
//!   lines are skipped.
//! - The file is processed before the command line with the same parser, so scalar options
//!   given on the command line win, while `-t` (mqsub), `-T`, `-U` and `-D` accumulate. Each
//!   line is parsed on its own: an option that needs a value must have it on the same line,
//!   and an unknown option aborts with the usual error.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::cnum::bytes_to_os;
use crate::tool::Tool;

/// The parts of the process environment the parser reads. Tests build it by hand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    /// `$XDG_CONFIG_HOME`.
    pub xdg_config_home: Option<OsString>,
    /// `$HOME`.
    pub home: Option<OsString>,
    /// `$MQTT_PASSWORD`: the password when no `-P`/`--pw-file` is given (addition).
    pub mqtt_password: Option<OsString>,
}

impl Environment {
    /// Reads the variables from the running process.
    pub fn from_process() -> Self {
        Self {
            xdg_config_home: std::env::var_os("XDG_CONFIG_HOME"),
            home: std::env::var_os("HOME"),
            mqtt_password: std::env::var_os("MQTT_PASSWORD"),
        }
    }

    /// An environment with nothing set: no options file, no password.
    pub fn empty() -> Self {
        Self::default()
    }
}

/// The default options file of `tool`, if `XDG_CONFIG_HOME` or `HOME` is set.
pub fn default_path(tool: Tool, env: &Environment) -> Option<PathBuf> {
    if let Some(x) = &env.xdg_config_home {
        return Some(PathBuf::from(x).join(tool.name()));
    }
    env.home
        .as_ref()
        .map(|h| PathBuf::from(h).join(".config").join(tool.name()))
}

/// Splits an options file into lines of one or two words, as mosquitto does.
pub fn split_lines(contents: &[u8]) -> Vec<Vec<OsString>> {
    let mut lines = Vec::new();
    for mut line in contents.split(|b| *b == b'\n') {
        if line.first() == Some(&b'#') {
            continue;
        }
        while let [rest @ .., b'\r' | b'\n'] = line {
            line = rest;
        }
        // strtok(line, " "): leading spaces are skipped, the option ends at the next space,
        // and the value is everything after that one space (NULL if empty).
        let start = line.iter().position(|b| *b != b' ');
        let Some(start) = start else { continue };
        let line = &line[start..];
        match line.iter().position(|b| *b == b' ') {
            Some(sp) => {
                let mut words = vec![bytes_to_os(line[..sp].to_vec())];
                if sp + 1 < line.len() {
                    words.push(bytes_to_os(line[sp + 1..].to_vec()));
                }
                lines.push(words);
            }
            None => lines.push(vec![bytes_to_os(line.to_vec())]),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn xdg_config_home_wins_over_home() {
        let env = Environment {
            xdg_config_home: Some("/x".into()),
            home: Some("/h".into()),
            mqtt_password: None,
        };
        assert_eq!(
            default_path(Tool::Pub, &env),
            Some(PathBuf::from("/x/mqpub"))
        );
        let env = Environment {
            xdg_config_home: None,
            ..env
        };
        assert_eq!(
            default_path(Tool::Sub, &env),
            Some(PathBuf::from("/h/.config/mqsub"))
        );
        assert_eq!(default_path(Tool::Sub, &Environment::empty()), None);
    }

    #[test]
    fn lines_split_at_the_first_space_without_quoting() {
        let lines = split_lines(b"# comment\n-F \"%t %p\" quoted\r\n\n-c\n  -h  host \n-d \n   \n");
        let words: Vec<Vec<String>> = lines
            .iter()
            .map(|l| l.iter().map(|w| w.to_string_lossy().into_owned()).collect())
            .collect();
        assert_eq!(
            words,
            vec![
                vec!["-F".to_owned(), "\"%t %p\" quoted".to_owned()],
                vec!["-c".to_owned()],
                vec!["-h".to_owned(), " host ".to_owned()],
                vec!["-d".to_owned()],
            ]
        );
    }
}
