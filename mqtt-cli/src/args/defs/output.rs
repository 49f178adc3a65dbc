//! mqsub's options about how messages are printed and where: `-v -F -N --json --pretty`,
//! the payload format and colour, files, the rate and the watch table.

use crate::args::flag::{For, Kind, Opt};
use crate::cnum::os_to_bytes;
use crate::format::{ColorChoice, Format, PayloadFormat};

pub(crate) const FORMAT: Opt = Opt {
    short: Some('F'),
    long: None,
    tools: For::Sub,
    summary: "Output format",
    help: "output format.",
    kind: Kind::value(
        "FORMAT",
        "Error: -F argument given but no format specified.\n\n",
        |st, v| {
            let f = Format::parse(&os_to_bytes(v)).map_err(|e| format!("{e}\n"))?;
            st.print.format = Some(f);
            Ok(())
        },
    ),
};

pub(crate) const NO_EOL: Opt = Opt {
    short: Some('N'),
    long: None,
    tools: For::Sub,
    summary: "No newline after each message",
    help: "do not add an end of line character when printing the payload.",
    kind: Kind::Switch(|st| {
        st.print.eol = false;
        Ok(())
    }),
};

pub(crate) const VERBOSE: Opt = Opt {
    short: Some('v'),
    long: Some("verbose"),
    tools: For::Sub,
    summary: "Print the topic before the payload",
    help: "print published messages verbosely.",
    kind: Kind::Switch(|st| {
        st.print.verbose = true;
        Ok(())
    }),
};

/// An addition (a mosquitto 2.1 name).
pub(crate) const WATCH: Opt = Opt {
    short: Some('w'),
    long: Some("watch"),
    tools: For::Sub,
    summary: "Show the latest message of every topic in a redrawn table",
    help: "watch: instead of printing each message, keep redrawing a table of the latest\n\
           message of every topic (also --watch).",
    kind: Kind::Switch(|st| {
        st.output.watch = true;
        Ok(())
    }),
};

pub(crate) const COLOR: Opt = Opt {
    short: None,
    long: Some("color"),
    tools: For::Sub,
    summary: "Colour the topic: auto, always or never",
    help: "colour the topic with -v: auto (when stdout is a terminal, the default),\n\
           always or never.",
    kind: Kind::value(
        "WHEN",
        "Error: --color argument given but no value specified.\n\n",
        |st, v| {
            let v = v.to_string_lossy();
            st.print.color = ColorChoice::parse(&v).ok_or_else(|| {
                format!(
                    "Error: Invalid --color value '{v}', it must be one of 'auto', 'always' or 'never'.\n\n"
                )
            })?;
            Ok(())
        },
    )
    .choices(&["auto", "always", "never"]),
};

pub(crate) const JSON: Opt = Opt {
    short: None,
    long: Some("json"),
    tools: For::Sub,
    summary: "One JSON object per message (-F %j)",
    help: "print each message as one JSON object per line (same as -F %j).",
    kind: Kind::Switch(|st| {
        st.print.format = Some(Format::parse(b"%j").map_err(|e| format!("{e}\n"))?);
        Ok(())
    }),
};

pub(crate) const JSON_PROPS: Opt = Opt {
    short: None,
    long: Some("json-props"),
    tools: For::Sub,
    summary: "Always include properties in JSON output",
    help: "always include \"properties\" in %j/%J JSON output.",
    kind: Kind::Switch(|st| {
        st.print.json_props = true;
        Ok(())
    }),
};

/// An addition (a mosquitto 2.1 name).
pub(crate) const MESSAGE_RATE: Opt = Opt {
    short: None,
    long: Some("message-rate"),
    tools: For::Sub,
    summary: "Print messages per second on stderr instead of the messages",
    help: "print the number of messages received per second on stderr, once a\n\
           second, instead of the messages.",
    kind: Kind::Switch(|st| {
        st.output.message_rate = true;
        Ok(())
    }),
};

pub(crate) const OUTPUT: Opt = Opt {
    short: None,
    long: Some("output"),
    tools: For::Sub,
    summary: "Append the messages to FILE instead of stdout",
    help: "append the messages to this file instead of printing them on stdout.",
    kind: Kind::value(
        "FILE",
        "Error: --output argument given but no file specified.\n\n",
        |st, v| {
            st.output.file = Some(v.into());
            Ok(())
        },
    ),
};

pub(crate) const OUTPUT_DIR: Opt = Opt {
    short: None,
    long: Some("output-dir"),
    tools: For::Sub,
    summary: "Write each message to its own file in DIR",
    help: "write each message to its own file in this directory, named after the\n\
           topic with / replaced by _, a dash and a counter (a/b gives a_b-1).",
    kind: Kind::value(
        "DIR",
        "Error: --output-dir argument given but no directory specified.\n\n",
        |st, v| {
            st.output.dir = Some(v.into());
            Ok(())
        },
    ),
};

pub(crate) const PAYLOAD_FORMAT: Opt = Opt {
    short: None,
    long: Some("payload-format"),
    tools: For::Sub,
    summary: "Payload in -v/default mode: raw, hex, base64 or text",
    help: "payload in -v and default mode: raw (the default), hex, base64, or\n\
           text (non-printable characters escaped).",
    kind: Kind::value(
        "FORMAT",
        "Error: --payload-format argument given but no format specified.\n\n",
        |st, v| {
            let v = v.to_string_lossy();
            st.print.payload_format = PayloadFormat::parse(&v).ok_or_else(|| {
                format!(
                    "Error: Invalid --payload-format value '{v}', it must be one of 'raw', 'hex', 'base64' or 'text'.\n\n"
                )
            })?;
            Ok(())
        },
    )
    .choices(&["raw", "hex", "base64", "text"]),
};

pub(crate) const PRETTY: Opt = Opt {
    short: None,
    long: Some("pretty"),
    tools: For::Sub,
    summary: "Pretty-print JSON output",
    help: "print formatted output rather than minimised output when using the\n\
           JSON output format option.",
    kind: Kind::Switch(|st| {
        st.print.pretty = true;
        Ok(())
    }),
};

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::args::testing::{pub_says, sub_err, sub_ok, sub_says};
    use crate::format::{ColorChoice, Format, PayloadFormat};

    #[test]
    fn format() {
        let a = sub_ok(&["-F", "%t %p"]);
        assert_eq!(a.output.format, Some(Format::parse(b"%t %p").unwrap()));
        assert!(sub_says(&["-F", "%"]).starts_with("Error: "));
        assert_eq!(pub_says(&["-F", "%t"]), "Error: Unknown option '-F'.");
    }

    #[test]
    fn no_eol() {
        assert!(sub_ok(&[]).output.eol);
        assert!(!sub_ok(&["-N"]).output.eol);
    }

    #[test]
    fn verbose() {
        assert!(!sub_ok(&[]).output.verbose);
        assert!(sub_ok(&["-v"]).output.verbose);
        assert!(sub_ok(&["--verbose"]).output.verbose);
    }

    #[test]
    fn watch() {
        assert!(sub_ok(&["-w"]).watch);
        assert!(sub_ok(&["--watch"]).watch);
        let e = sub_err(&["-w", "--message-rate", "-t", "a"]);
        assert_eq!(
            e.stderr,
            "Error: --watch cannot be used with --output, --output-dir or --message-rate.\n\n\
             Use 'mqsub --help' to see usage.\n"
        );
    }

    #[test]
    fn color() {
        assert_eq!(sub_ok(&[]).output.color, ColorChoice::Auto);
        assert_eq!(
            sub_ok(&["--color", "never"]).output.color,
            ColorChoice::Never
        );
        assert_eq!(
            sub_says(&["--color", "red"]),
            "Error: Invalid --color value 'red', it must be one of 'auto', 'always' or 'never'."
        );
    }

    #[test]
    fn json() {
        let a = sub_ok(&["--json"]);
        assert_eq!(a.output.format, Some(Format::parse(b"%j").unwrap()));
    }

    #[test]
    fn json_props() {
        assert!(sub_ok(&["--json-props"]).output.json_props);
    }

    #[test]
    fn message_rate() {
        assert!(sub_ok(&["--message-rate"]).message_rate);
    }

    #[test]
    fn output() {
        let a = sub_ok(&["--output", "/tmp/x"]);
        assert_eq!(a.output_file.as_deref(), Some("/tmp/x".as_ref()));
        assert_eq!(
            sub_says(&["--output", "a", "--output-dir", "b", "-t", "t"]),
            "Error: --output and --output-dir cannot be used together."
        );
    }

    #[test]
    fn output_dir() {
        let a = sub_ok(&["--output-dir", "/tmp/d"]);
        assert_eq!(a.output_dir.as_deref(), Some("/tmp/d".as_ref()));
    }

    #[test]
    fn payload_format() {
        assert_eq!(sub_ok(&[]).output.payload_format, PayloadFormat::Raw);
        assert_eq!(
            sub_ok(&["--payload-format", "base64"])
                .output
                .payload_format,
            PayloadFormat::Base64
        );
        assert_eq!(
            sub_says(&["--payload-format", "b64"]),
            "Error: Invalid --payload-format value 'b64', it must be one of 'raw', 'hex', 'base64' or 'text'."
        );
    }

    #[test]
    fn pretty() {
        assert!(sub_ok(&["--pretty"]).output.pretty);
    }
}
