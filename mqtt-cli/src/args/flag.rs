//! The shape of one option's definition ([`Opt`]), in the manner of ripgrep's `Flag`: its
//! names, which tools have it, what it reads, its `--help` text, a one-line summary, and the
//! function that applies it to the [`State`]. The definitions themselves are in
//! `args::defs`; the parser, the help text and the clap command read them from there.

use std::ffi::{OsStr, OsString};

use super::state::{Fail, State};
use crate::tool::Tool;

/// Which tools have an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum For {
    /// Both: listed in the common part of `--help`.
    Both,
    /// mqpub only: listed in mqpub's own part of `--help`.
    Pub,
    /// mqsub only: listed in mqsub's own part of `--help`.
    Sub,
}

impl For {
    pub(crate) fn has(self, tool: Tool) -> bool {
        match self {
            Self::Both => true,
            Self::Pub => tool == Tool::Pub,
            Self::Sub => tool == Tool::Sub,
        }
    }
}

/// What a switch does to the state.
pub(crate) type Switch = fn(&mut State) -> Result<(), Fail>;

/// What a value does to the state.
pub(crate) type Apply = fn(&mut State, &OsStr) -> Result<(), Fail>;

/// A check of the state before a value is looked for.
pub(crate) type Guard = fn(&State) -> Result<(), Fail>;

/// What `-D` does with the words after it; returns how many it used.
pub(crate) type Words = fn(&mut State, &[OsString]) -> Result<usize, Fail>;

/// An option that takes one value: the next argv word, verbatim (even `-5`).
#[derive(Clone, Copy)]
pub(crate) struct Value {
    /// What the value is, for completions and the man page (`FILE`, `SECONDS`).
    pub(crate) name: &'static str,
    /// mosquitto's complete message when the value is missing (`Error: -A argument given
    /// but no address specified.` and its blank line).
    pub(crate) missing: &'static str,
    /// The words accepted, when they are a fixed set (offered by completions).
    pub(crate) choices: &'static [&'static str],
    /// Whether giving it again adds (`-t` in mqsub, `-T`, `-U`) rather than replaces.
    pub(crate) repeats: bool,
    /// A check mosquitto makes before it looks for the value (`-m` after `-f`: "Only one
    /// type of message", even when `-m` is the last word).
    pub(crate) guard: Option<Guard>,
    /// Applies the value.
    pub(crate) apply: Apply,
}

/// What an option reads after its name, and how it is applied.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    /// Nothing: a switch.
    Switch(Switch),
    /// One word.
    Value(Value),
    /// `-D`: `COMMAND IDENTIFIER VALUE`, or `COMMAND user-property NAME VALUE`. The function
    /// gets every word after the name and returns how many it used.
    Property(Words),
}

impl Kind {
    /// A value-taking option whose value does not repeat and has no fixed set of words.
    pub(crate) const fn value(name: &'static str, missing: &'static str, apply: Apply) -> Self {
        Self::Value(Value {
            name,
            missing,
            choices: &[],
            repeats: false,
            guard: None,
            apply,
        })
    }

    /// The same value-taking option, with a fixed set of words.
    pub(crate) const fn choices(self, choices: &'static [&'static str]) -> Self {
        match self {
            Self::Value(v) => Self::Value(Value { choices, ..v }),
            other => other,
        }
    }

    /// The same value-taking option, with a check before its value is looked for.
    pub(crate) const fn guard(self, guard: Guard) -> Self {
        match self {
            Self::Value(v) => Self::Value(Value {
                guard: Some(guard),
                ..v
            }),
            other => other,
        }
    }

    /// The same value-taking option, accumulating when repeated.
    pub(crate) const fn repeats(self) -> Self {
        match self {
            Self::Value(v) => Self::Value(Value { repeats: true, ..v }),
            other => other,
        }
    }
}

/// One command-line option: everything about it, in one place.
pub(crate) struct Opt {
    /// `-x`, if it has a one-letter name.
    pub(crate) short: Option<char>,
    /// `--name`, if it has a long name.
    pub(crate) long: Option<&'static str>,
    /// Which tools have it.
    pub(crate) tools: For,
    /// What it reads and what it does.
    pub(crate) kind: Kind,
    /// One line for completions and the man page's option list.
    pub(crate) summary: &'static str,
    /// Its `--help` text, without the ` -x : ` label; lines after the first are written
    /// without indentation (the help indents them under the first).
    pub(crate) help: &'static str,
}

impl Opt {
    /// The name `--help` lists it under: `-x` if it has one, else `--name`.
    pub(crate) fn label(&self) -> String {
        match (self.short, self.long) {
            (Some(c), _) => format!("-{c}"),
            (None, Some(l)) => format!("--{l}"),
            (None, None) => String::new(),
        }
    }

    /// Whether `word` names this option (`-x` or `--name`, exactly).
    pub(crate) fn is_named(&self, word: &str) -> bool {
        match word.strip_prefix("--") {
            Some(long) => self.long == Some(long),
            None => {
                let mut chars = word.chars();
                chars.next() == Some('-')
                    && chars.next().is_some_and(|c| Some(c) == self.short)
                    && chars.next().is_none()
            }
        }
    }

    /// How many argv words after the name it uses, given those words (for the `-o`
    /// pre-scan, which must skip values without applying them).
    pub(crate) fn words_after(&self, rest: &[OsString]) -> usize {
        match self.kind {
            Kind::Switch(_) => 0,
            Kind::Value(_) => 1,
            // COMMAND IDENTIFIER VALUE, or COMMAND user-property NAME VALUE.
            Kind::Property(_) => {
                if rest.get(1).is_some_and(|p| p == "user-property") {
                    4
                } else {
                    3
                }
            }
        }
    }
}
