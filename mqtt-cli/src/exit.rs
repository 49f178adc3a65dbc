//! What both tools do when parsing ends the run before it connects: print the help, the
//! version or the error, and return the exit status. Shared by `pub_tool` and `sub_tool`,
//! which do not import each other.

use std::io::Write;

use crate::args::Parsed;

/// Print what parsing produced (help, version or an error) and return the exit status.
pub(crate) fn print_parsed<T>(p: Parsed<T>) -> u8 {
    match p {
        Parsed::Run(_) => 0,
        Parsed::Help(text) | Parsed::Version(text) => {
            let _ = std::io::stdout().write_all(text.as_bytes());
            0
        }
        Parsed::Error(e) => {
            let _ = std::io::stdout().write_all(e.stdout.as_bytes());
            let _ = std::io::stderr().write_all(e.stderr.as_bytes());
            e.exit_code
        }
    }
}
