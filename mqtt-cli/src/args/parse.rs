//! The parser: the options file, then argv, word by word through the option table
//! (mosquitto's `client_config_line_proc`), then the checks of the end
//! (`args::state`). Entry points are re-exported by `args`.

use std::ffi::{OsStr, OsString};

use super::defs;
use super::flag::Kind;
use super::model::{ParseError, Parsed, PubArgs, SubArgs};
use super::state::{Fail, State, Stop, io_reason, plain, with_use};
use crate::config::{self, Environment};
use crate::tool::Tool;

/// Parses `mqpub`'s arguments (without the program name), reading the options file named
/// by `-o` or found through `env`, and `--pw-file`.
pub fn parse_pub<I, S>(args: I, env: &Environment) -> Parsed<PubArgs>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    with_file(Tool::Pub, &args, env, |config| {
        parse_pub_with(&args, config, env)
    })
}

/// Parses `mqsub`'s arguments; see [`parse_pub`].
pub fn parse_sub<I, S>(args: I, env: &Environment) -> Parsed<SubArgs>
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    with_file(Tool::Sub, &args, env, |config| {
        parse_sub_with(&args, config, env)
    })
}

/// Parses `mqpub`'s arguments with the options file's contents given directly (no file
/// system access except `--pw-file`). `env` supplies `$MQTT_PASSWORD`.
pub fn parse_pub_with(
    args: &[OsString],
    config: Option<&[u8]>,
    env: &Environment,
) -> Parsed<PubArgs> {
    match read(Tool::Pub, args, config) {
        Ok(st) => st
            .finish_pub(env, || Tool::Pub.usage())
            .unwrap_or_else(Parsed::Error),
        Err(end) => end.into(),
    }
}

/// Parses `mqsub`'s arguments with the options file's contents given directly.
pub fn parse_sub_with(
    args: &[OsString],
    config: Option<&[u8]>,
    env: &Environment,
) -> Parsed<SubArgs> {
    match read(Tool::Sub, args, config) {
        Ok(st) => st.finish_sub(env).unwrap_or_else(Parsed::Error),
        Err(end) => end.into(),
    }
}

/// Why reading stopped before the end: help, version or an error.
enum End {
    Stop(Tool, Stop),
    Error(ParseError),
}

impl<T> From<End> for Parsed<T> {
    fn from(end: End) -> Self {
        match end {
            End::Stop(tool, Stop::Help) => Parsed::Help(tool.usage()),
            End::Stop(tool, Stop::Version) => Parsed::Version(tool.version()),
            End::Error(e) => Parsed::Error(e),
        }
    }
}

/// The options file's lines, then argv, into a state; then the checks mosquitto makes in
/// `client_config_load`.
fn read(tool: Tool, args: &[OsString], config: Option<&[u8]>) -> Result<State, End> {
    let mut st = State::new(tool);
    let lines = config.map(config::split_lines).unwrap_or_default();
    for words in lines.iter().map(Vec::as_slice).chain(std::iter::once(args)) {
        process(&mut st, words).map_err(|msg| End::Error(with_use(tool, &msg)))?;
        if let Some(stop) = st.stop {
            return Err(End::Stop(tool, stop));
        }
    }
    st.load_checks()
        .map_err(|msg| End::Error(with_use(tool, &msg)))?;
    Ok(st)
}

/// One line of the options file, or argv: each word names an option of the table, whose
/// value is the next word, verbatim.
fn process(st: &mut State, words: &[OsString]) -> Result<(), Fail> {
    let mut i = 0;
    while i < words.len() {
        let word = &words[i];
        let opt = defs::find(st.tool, &word.to_string_lossy()).ok_or_else(|| unknown(word))?;
        let rest = &words[i + 1..];
        let used = match opt.kind {
            Kind::Switch(apply) => {
                apply(st)?;
                0
            }
            Kind::Value(v) => {
                if let Some(guard) = v.guard {
                    guard(st)?;
                }
                let value = rest.first().ok_or_else(|| v.missing.to_owned())?;
                (v.apply)(st, value)?;
                1
            }
            Kind::Property(apply) => apply(st, rest)?,
        };
        if st.stop.is_some() {
            return Ok(());
        }
        i += 1 + used;
    }
    Ok(())
}

fn unknown(word: &OsStr) -> Fail {
    format!("Error: Unknown option '{}'.\n", word.to_string_lossy())
}

fn with_file<T>(
    tool: Tool,
    args: &[OsString],
    env: &Environment,
    f: impl FnOnce(Option<&[u8]>) -> Parsed<T>,
) -> Parsed<T> {
    let explicit = match options_file_arg(tool, args) {
        Ok(p) => p,
        Err(e) => return Parsed::Error(e),
    };
    let contents = match explicit {
        Some(path) => match std::fs::read(&path) {
            Ok(c) => Some(c),
            // Deviation: 2.1 silently ignores an -o file it cannot open.
            Err(e) => {
                return Parsed::Error(plain(format!(
                    "Error: Unable to open options file \"{}\": {}.\n",
                    path.to_string_lossy(),
                    io_reason(&e)
                )));
            }
        },
        None => config::default_path(tool, env).and_then(|p| std::fs::read(p).ok()),
    };
    f(contents.as_deref())
}

/// Finds `-o FILE` in argv (mosquitto 2.1 looks for it before anything else), stepping
/// over the values of the other options as the table says.
fn options_file_arg(tool: Tool, args: &[OsString]) -> Result<Option<OsString>, ParseError> {
    let mut found = None;
    let mut i = 0;
    while i < args.len() {
        let w = args[i].to_string_lossy();
        if w == "-o" {
            if found.is_some() {
                return Err(with_use(tool, "Error: Duplicate -o argument given.\n\n"));
            }
            match args.get(i + 1) {
                Some(v) => found = Some(v.clone()),
                None => {
                    return Err(with_use(
                        tool,
                        "Error: -o argument given but no options file specified.\n\n",
                    ));
                }
            }
            i += 2;
        } else {
            i += 1 + defs::words_after(&w, &args[i + 1..]);
        }
    }
    Ok(found)
}
