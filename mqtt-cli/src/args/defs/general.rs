//! Options about the run itself, for both tools: help, version, the options file, debug
//! output, quiet, and the exit status.

use crate::args::flag::{For, Kind, Opt};
use crate::args::state::Stop;

pub(crate) const DEBUG: Opt = Opt {
    short: Some('d'),
    long: Some("debug"),
    tools: For::Both,
    summary: "Print debug messages",
    help: "enable debug messages.",
    kind: Kind::Switch(|st| {
        st.debug = true;
        Ok(())
    }),
};

/// An addition (mosquitto 2.1): the file is read before anything else (see
/// `args::parse`); here its value is only stepped over.
pub(crate) const OPTIONS_FILE: Opt = Opt {
    short: Some('o'),
    long: None,
    tools: For::Both,
    summary: "Read options from this file",
    help: "read options from this file instead of the default options file.",
    kind: Kind::value(
        "FILE",
        "Error: -o argument given but no options file specified.\n\n",
        |_, _| Ok(()),
    ),
};

/// **D13**: exits with status 0.
pub(crate) const HELP: Opt = Opt {
    short: None,
    long: Some("help"),
    tools: For::Both,
    summary: "Print help",
    help: "display this message.",
    kind: Kind::Switch(|st| {
        st.stop = Some(Stop::Help);
        Ok(())
    }),
};

/// **D13**: exits with status 0.
pub(crate) const VERSION: Opt = Opt {
    short: None,
    long: Some("version"),
    tools: For::Both,
    summary: "Print the version",
    help: "display the version and exit.",
    kind: Kind::Switch(|st| {
        st.stop = Some(Stop::Version);
        Ok(())
    }),
};

pub(crate) const QUIET: Opt = Opt {
    short: None,
    long: Some("quiet"),
    tools: For::Both,
    summary: "Do not print error messages",
    help: "don't print error messages.",
    kind: Kind::Switch(|st| {
        st.quiet = true;
        Ok(())
    }),
};

/// **D8**.
pub(crate) const STRICT_EXIT: Opt = Opt {
    short: None,
    long: Some("strict-exit"),
    tools: For::Both,
    summary: "Exit with the v5 reason code on refusal",
    help: "exit with the MQTT v5 reason code when the broker refuses a message or\n\
           every subscription.",
    kind: Kind::Switch(|st| {
        st.strict_exit = true;
        Ok(())
    }),
};

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::ffi::OsString;

    use crate::args::model::Parsed;
    use crate::args::parse::{parse_pub_with, parse_sub_with};
    use crate::args::testing::{pub_ok, pub_says, sub_ok};
    use crate::config::Environment;
    use crate::tool::Tool;

    fn words(w: &[&str]) -> Vec<OsString> {
        w.iter().map(OsString::from).collect()
    }

    #[test]
    fn debug() {
        assert!(!pub_ok(&[]).conn.debug);
        assert!(pub_ok(&["-d"]).conn.debug);
        assert!(sub_ok(&["--debug"]).conn.debug);
    }

    #[test]
    fn options_file() {
        // The value is stepped over here (the file itself is read by `parse_pub`).
        assert!(pub_ok(&["-o", "/nonexistent", "-r"]).retain);
        assert_eq!(
            pub_says(&["-o"]),
            "Error: -o argument given but no options file specified."
        );
    }

    #[test]
    fn help() {
        // Stops at --help: what follows is not read.
        let p = parse_pub_with(&words(&["--help", "-q", "9"]), None, &Environment::empty());
        assert_eq!(p, Parsed::Help(Tool::Pub.usage()));
    }

    #[test]
    fn version() {
        let p = parse_sub_with(
            &words(&["--version", "-bogus"]),
            None,
            &Environment::empty(),
        );
        assert_eq!(p, Parsed::Version(Tool::Sub.version()));
    }

    #[test]
    fn quiet() {
        assert!(!sub_ok(&[]).conn.quiet);
        assert!(sub_ok(&["--quiet"]).conn.quiet);
    }

    #[test]
    fn strict_exit() {
        assert!(!pub_ok(&[]).conn.strict_exit);
        assert!(pub_ok(&["--strict-exit"]).conn.strict_exit);
    }
}
