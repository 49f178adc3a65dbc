//! The man pages of `mqpub` and `mqsub`, as `mqgen man` writes them.
//!
//! The OPTIONS section comes from the clap description in [`crate::cli`] (`clap_mangen`);
//! this module adds the sections `mosquitto_pub(1)` and `mosquitto_sub(1)` have around it:
//! ENCRYPTED CONNECTIONS, OUTPUT FORMAT (mqsub: every `-F` code), WILLS, PROPERTIES, EXIT
//! STATUS, ENVIRONMENT, FILES, EXAMPLES and SEE ALSO. The reason codes listed under EXIT
//! STATUS are taken from `mqtt_proto`, so the page cannot disagree with what the tools
//! return.
//!
//! ```
//! use mqtt_cli::args::Tool;
//!
//! let mut page = Vec::new();
//! mqtt_cli::man::render(Tool::Sub, &mut page).unwrap();
//! let page = String::from_utf8(page).unwrap();
//! assert!(page.contains(".SH \"OUTPUT FORMAT\""));
//! assert!(page.contains(".SH \"EXIT STATUS\""));
//! ```

use std::io::{self, Write};

use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};
use mqtt_proto::ConnectReason;

use crate::args::Tool;

/// Writes the man page (roff, section 1) of `tool`.
pub fn render(tool: Tool, out: &mut dyn Write) -> io::Result<()> {
    let cmd = crate::cli::command(tool).long_about(description(tool));
    let man = Man::new(cmd)
        .source(format!("mqtt-cli {}", env!("CARGO_PKG_VERSION")))
        .manual("mqtt-rs");
    let mut page = Vec::new();
    man.render(&mut page)?;
    let page = String::from_utf8_lossy(&page);
    // Our sections go after OPTIONS, before clap's VERSION section (as in mosquitto's pages).
    let extra = sections(tool).to_roff();
    match page.find("\n.SH VERSION") {
        Some(at) => {
            out.write_all(page[..=at].as_bytes())?;
            out.write_all(extra.as_bytes())?;
            out.write_all(page[at + 1..].as_bytes())
        }
        None => {
            out.write_all(page.as_bytes())?;
            out.write_all(extra.as_bytes())
        }
    }
}

fn description(tool: Tool) -> &'static str {
    match tool {
        Tool::Pub => {
            "mqpub is a simple MQTT 5.0, 3.1.1 and 3.1 client that publishes a single message \
             on a topic and exits: the message comes from -m, a file (-f), all of standard \
             input (-s), one message per line of standard input (-l) or is empty (-n). It \
             accepts the options of mosquitto_pub 2.0.11, prints the same messages and exits \
             with the same statuses, except for the deliberate differences listed in the \
             project's DIFFERENCES.md."
        }
        Tool::Sub => {
            "mqsub is a simple MQTT 5.0, 3.1.1 and 3.1 client that subscribes to one or more \
             topic filters (-t) and prints the messages it receives, as the payload alone, \
             with the topic (-v) or in a format of your own (-F, see OUTPUT FORMAT). It \
             accepts the options of mosquitto_sub 2.0.11, prints the same bytes and exits \
             with the same statuses, except for the deliberate differences listed in the \
             project's DIFFERENCES.md. Unlike mosquitto_sub it says on standard error when \
             the connection is lost and when it is made again."
        }
    }
}

/// A section title.
fn sh(r: &mut Roff, title: &str) {
    r.control("SH", [title]);
}

/// A subsection title.
fn ss(r: &mut Roff, title: &str) {
    r.control("SS", [title]);
}

/// A paragraph.
fn pp(r: &mut Roff, text: &str) {
    r.control("PP", []);
    r.text([roman(text)]);
}

/// A tagged paragraph: `term` in bold, then its description, indented.
fn tp(r: &mut Roff, term: &str, text: &str) {
    r.control("TP", []);
    r.text([bold(term)]);
    r.text([roman(text)]);
}

/// A literal example line.
fn example(r: &mut Roff, comment: &str, command: &str) {
    pp(r, comment);
    r.control("RS", ["4"]);
    r.control("nf", []);
    r.text([roman(command)]);
    r.control("fi", []);
    r.control("RE", []);
}

fn sections(tool: Tool) -> Roff {
    let name = tool.name();
    let mut r = Roff::new();

    sh(&mut r, "ENCRYPTED CONNECTIONS");
    pp(
        &mut r,
        "TLS (rustls, TLS 1.2 and 1.3) is used when --cafile, --capath or --tls-use-os-certs \
         is given, when the URL of -L starts with mqtts:// or wss://, or when the port is \
         8883. The server's certificate is verified against the given CAs under the host \
         name (--insecure skips the name check only). --cert and --key authenticate the \
         client with a certificate; --tls-alpn sets the ALPN protocol (for example \
         x-amzn-mqtt-ca for AWS IoT Core on port 443). Pre-shared keys (--psk), OpenSSL \
         engines, OpenSSL cipher lists and TLS 1.1 are not available in this build: those \
         options fail with \"Error: <option> is not supported by this build.\"",
    );

    if tool == Tool::Sub {
        output_format(&mut r);
    }

    sh(&mut r, "WILLS");
    pp(
        &mut r,
        &format!(
            "{name} can register a will with the broker: a message the broker publishes for \
             the client if it disconnects without sending DISCONNECT (a network failure, a \
             crash). --will-topic sets the topic and turns the will on; --will-payload (empty \
             by default), --will-qos and --will-retain complete it, and -D will ... sets its \
             MQTT v5 properties."
        ),
    );

    properties(&mut r, tool);
    exit_status(&mut r, tool);

    sh(&mut r, "ENVIRONMENT");
    tp(
        &mut r,
        "XDG_CONFIG_HOME",
        &format!(
            "When set, the options file is $XDG_CONFIG_HOME/{name} (and ~/.config is not \
             read); see FILES."
        ),
    );
    tp(
        &mut r,
        "HOME",
        &format!("When XDG_CONFIG_HOME is not set, the options file is $HOME/.config/{name}."),
    );
    tp(
        &mut r,
        "MQTT_PASSWORD",
        "The password, when none is given with -P, in the -L URL, with --pw-prompt or with \
         --pw-file. Safer than -P, which other users can see in the process list.",
    );
    if tool == Tool::Sub {
        tp(
            &mut r,
            "TZ",
            "The time zone of the times -F prints (@ codes, %I, and the tst field of %j and \
             %J), as with the C library: a zone name (Europe/Paris), a path to a TZif file or \
             a POSIX rule (CET-1CEST,M3.5.0,M10.5.0/3). When unset, /etc/localtime is read; \
             when that is missing too, times are printed in UTC.",
        );
        tp(
            &mut r,
            "COLUMNS",
            "With -w (--watch), lines of the table are cut to this many characters.",
        );
    }

    sh(&mut r, "FILES");
    tp(
        &mut r,
        &format!("$XDG_CONFIG_HOME/{name}, $HOME/.config/{name}"),
        &format!(
            "The options file, read before the command line (mosquitto reads \
             ~/.config/mosquitto_{rest}; {name} never does, but -o \
             ~/.config/mosquitto_{rest} reads it). A missing file is ignored; -o FILE reads \
             FILE instead and fails if it cannot be opened. One option per line, as \
             \"-option value\": the line is split at the first space and the value is the \
             rest of the line verbatim (no quotes); lines starting with # are comments. \
             Options on the command line win over single-valued ones from the file; -t, -T, \
             -U and -D add to them.",
            rest = &name[2..],
        ),
    );
    if tool == Tool::Sub {
        tp(
            &mut r,
            "/etc/localtime",
            "The local time zone, when TZ is not set (see ENVIRONMENT).",
        );
    }

    examples(&mut r, tool);

    sh(&mut r, "SEE ALSO");
    let other = match tool {
        Tool::Pub => "mqsub",
        Tool::Sub => "mqpub",
    };
    r.text([
        bold(other),
        roman("(1), "),
        bold(format!("mosquitto_{}", &name[2..])),
        roman("(1), "),
        bold("mosquitto"),
        roman("(8), "),
        bold("mqtt"),
        roman("(7); the mqbroker reference broker and DIFFERENCES.md in the mqtt-rs sources."),
    ]);
    r
}

/// mqsub's OUTPUT FORMAT section: every `-F` code.
fn output_format(r: &mut Roff) {
    sh(r, "OUTPUT FORMAT");
    pp(
        r,
        "By default mqsub prints the payload of each message as received. -v prints the \
         topic, a space and the payload (\"(null)\" for an empty payload). -F prints a \
         format of your own, described below. In every mode a newline follows each message \
         unless -N is given. --json is -F %j; --pretty indents %j and %J; --payload-format \
         hex, base64 or text changes how the payload is shown in the default and -v modes.",
    );
    pp(
        r,
        "A format string is text in which sequences starting with %, @ and \\ are replaced: \
         % sequences by the message's fields, @ sequences by the time the message was \
         printed (strftime), and \\ escapes by characters hard to type.",
    );
    ss(r, "Flags, field width and precision");
    pp(
        r,
        "A % code may carry flags, a minimum field width and a precision, in this order, as \
         %[-][0][width][.precision]code. The flag - aligns left (padded with blanks), the \
         flag 0 pads numbers with zeros; the default is right alignment with blanks. For \
         %p the precision is the most bytes printed; for %t, %C, %R and %I the most \
         characters; for %x and %X a precision N puts a space after every N hex digits, \
         and %.N:x a colon (2.1 syntax: %.2:x prints 01:ab:cd); for %d and %f it is the \
         number of decimals (6 by default).",
    );
    ss(r, "MQTT related parameters");
    let codes: &[(&str, &str)] = &[
        ("%%", "a literal %."),
        ("%t", "the message topic."),
        (
            "%p",
            "the payload, raw bytes (may produce non-printable characters).",
        ),
        (
            "%x",
            "the payload, each byte as a hexadecimal number (lower case).",
        ),
        (
            "%X",
            "the payload, each byte as a hexadecimal number (upper case).",
        ),
        ("%l", "the length of the payload in bytes."),
        ("%m", "the message id (0 for QoS 0 messages)."),
        ("%q", "the QoS of the message."),
        ("%r", "the retained flag of the message (0 or 1)."),
        (
            "%d",
            "the payload as an IEEE-754 double (exactly 8 bytes, native byte order), \
             printed as a decimal number; another length is an error.",
        ),
        (
            "%f",
            "the payload as an IEEE-754 float (exactly 4 bytes, native byte order).",
        ),
        ("%A", "the MQTT v5 topic alias, if present."),
        ("%C", "the MQTT v5 content type, if present."),
        (
            "%D",
            "the MQTT v5 correlation data, if present (binary: may produce non-printable \
             characters).",
        ),
        ("%E", "the MQTT v5 message expiry interval, if present."),
        ("%F", "the MQTT v5 payload format indicator, if present."),
        (
            "%P",
            "the MQTT v5 user properties, if present, as key:value pairs separated by \
             spaces (keys may repeat).",
        ),
        ("%R", "the MQTT v5 response topic, if present."),
        (
            "%S",
            "the MQTT v5 subscription identifier, if present (the first one).",
        ),
    ];
    for (code, text) in codes {
        tp(r, code, text);
    }
    ss(r, "Helpers");
    let helpers: &[(&str, &str)] = &[
        (
            "%I",
            "the time as ISO 8601, for example 2016-08-10T09:47:38+0100.",
        ),
        (
            "%U",
            "the time as a Unix timestamp with nanoseconds, for example \
             1470818943.786368637.",
        ),
        (
            "%j",
            "the message as one JSON object: tst (the time, with microseconds), topic, qos, \
             retain, payloadlen, payload (a JSON string; a payload that is not UTF-8 is given as \
             payload_b64 instead), mid when QoS > 0, and the MQTT v5 properties when present \
             (always with --json-props). For example \
             {\"tst\":\"2020-05-06T22:12:00.000000+0100\",\"topic\":\"greeting\",\"qos\":0,\
             \"retain\":0,\"payloadlen\":11,\"payload\":\"hello world\"}.",
        ),
        (
            "%J",
            "like %j, with the payload inserted as JSON (it must be valid JSON, otherwise \
             \"Error: Message payload is not valid JSON on topic <topic>.\" is printed on \
             standard error and the message is skipped).",
        ),
    ];
    for (code, text) in helpers {
        tp(r, code, text);
    }
    ss(r, "Time related parameters");
    tp(r, "@@", "a literal @.");
    tp(
        r,
        "@X",
        "the time as strftime(3) prints %X, in the local time zone (see TZ): @Y, @m, @d, \
         @H, @M, @S, @z, @F, @T, @s and the other POSIX conversions (a, A, b, B, c, C, d, \
         D, e, F, G, g, h, H, I, j, k, l, m, M, n, p, P, r, R, s, S, t, T, u, U, V, w, W, \
         x, X, y, Y, z, Z, %). For example @Y-@m-@dT@H:@M:@S@z.",
    );
    tp(
        r,
        "@N",
        "the nanoseconds within the current second (9 digits).",
    );
    ss(r, "Escape characters");
    let escapes: &[(&str, &str)] = &[
        ("\\\\", "a literal \\."),
        (
            "\\0",
            "a NUL character, to separate fields that may contain spaces for xargs -0.",
        ),
        ("\\a", "alert (bell)."),
        (
            "\\e",
            "the escape character, to start ANSI colour sequences for example.",
        ),
        ("\\n", "end of line."),
        ("\\r", "carriage return."),
        ("\\t", "horizontal tab."),
        ("\\v", "vertical tab."),
    ];
    for (code, text) in escapes {
        tp(r, code, text);
    }
}

/// The PROPERTIES section: which `-D` properties each packet takes.
fn properties(r: &mut Roff, tool: Tool) {
    sh(r, "PROPERTIES");
    pp(
        r,
        "-D (--property) adds an MQTT v5 property to a packet, as -D command identifier \
         value, or -D command user-property name value; it switches the connection to MQTT \
         v5. Identifiers are the specification's names in lower case with - between words. \
         A property may be given once, except user-property.",
    );
    let mut lists: Vec<(&str, &str)> = vec![
        (
            "connect",
            "authentication-data, authentication-method, maximum-packet-size, \
             receive-maximum, request-problem-information, request-response-information, \
             session-expiry-interval (also -x), topic-alias-maximum, user-property",
        ),
        (
            "will",
            "content-type, correlation-data, message-expiry-interval, \
             payload-format-indicator, response-topic, user-property, will-delay-interval",
        ),
        (
            "disconnect",
            "reason-string, server-reference, session-expiry-interval, user-property",
        ),
    ];
    match tool {
        Tool::Pub => lists.insert(
            1,
            (
                "publish",
                "content-type, correlation-data, message-expiry-interval, \
                 payload-format-indicator, response-topic, topic-alias, user-property",
            ),
        ),
        Tool::Sub => {
            lists.insert(1, ("subscribe", "subscription-identifier, user-property"));
            lists.insert(2, ("unsubscribe", "user-property"));
        }
    }
    for (command, names) in lists {
        tp(r, command, names);
    }
}

/// The EXIT STATUS section; the refusal codes come from `mqtt_proto`.
fn exit_status(r: &mut Roff, tool: Tool) {
    sh(r, "EXIT STATUS");
    pp(
        r,
        "0 on success, otherwise a non-zero status. When the broker refuses the connection, \
         the status is the CONNACK code (MQTT 3.1.1: the return code; MQTT v5: the reason \
         code); other failures have libmosquitto's numbers.",
    );
    tp(r, "0", "Success.");
    tp(
        r,
        "1",
        "A usage error (unknown option, missing or invalid value: the message is followed \
         by a hint to --help), a file that cannot be read, a broker that cannot be reached \
         or any other error.",
    );
    tp(
        r,
        "7",
        "The connection was lost (\"Error: The connection was lost.\").",
    );
    tp(
        r,
        "8",
        "A TLS error (\"Error: A TLS error occurred.\", then the reason).",
    );
    tp(
        r,
        "14",
        "The server did not speak MQTT (\"Error: Protocol error: server did not speak \
         MQTT.\").",
    );
    tp(
        r,
        "19",
        "No CONNACK came within the keep alive (or --connect-timeout).",
    );
    if tool == Tool::Sub {
        tp(
            r,
            "27",
            "-W: the time ran out (\"Timed out\"), before or after the connection was made.",
        );
    }
    let signals = match tool {
        Tool::Pub => {
            "Interrupted: SIGINT ends mqpub at once (the shell shows 128 + 2), whatever it was \
             doing; messages not yet acknowledged may be lost."
        }
        Tool::Sub => {
            "Interrupted (SIGINT) before the connection was made (the shell shows 128 + 2). \
             From CONNACK on, SIGINT and SIGTERM end mqsub cleanly (DISCONNECT sent) with \
             status 0."
        }
    };
    tp(r, "130", signals);
    let strict = match tool {
        Tool::Pub => {
            "With --strict-exit (MQTT v5), a publish the broker refuses ends the tool with \
             the PUBACK or PUBREC reason code (128 or more); without it the status is 0, as \
             with mosquitto_pub."
        }
        Tool::Sub => {
            "With --strict-exit, 128 when the broker denies every subscription; without it \
             the status is 0, as with mosquitto_sub."
        }
    };
    tp(r, "--strict-exit", strict);

    ss(r, "MQTT 3.1.1 CONNACK return codes");
    let v3: &[(&str, &str)] = &[
        ("1", "Connection refused: unacceptable protocol version"),
        ("2", "Connection refused: identifier rejected"),
        ("3", "Connection refused: server unavailable"),
        ("4", "Connection refused: bad user name or password"),
        ("5", "Connection refused: not authorised"),
    ];
    for (code, text) in v3 {
        tp(r, code, text);
    }
    ss(r, "MQTT v5 CONNACK reason codes");
    for reason in ConnectReason::ALL.iter().filter(|c| c.is_error()) {
        tp(r, &reason.code().to_string(), reason.description());
    }
}

fn examples(r: &mut Roff, tool: Tool) {
    sh(r, "EXAMPLES");
    match tool {
        Tool::Pub => {
            example(
                r,
                "Publish a temperature, retained, with QoS 1:",
                "mqpub -t sensors/kitchen/temp -m 21.5 -q 1 -r",
            );
            example(
                r,
                "Publish each line of a log as its own message:",
                "tail -f app.log | mqpub -t logs/app -l",
            );
            example(
                r,
                "Publish a file over TLS with a client certificate:",
                "mqpub -L mqtts://broker.example/firmware/v2 --cafile ca.pem --cert \
                 client.pem --key client.key -f firmware.bin -q 1",
            );
            example(
                r,
                "Clear a retained message:",
                "mqpub -t sensors/kitchen/temp -r -n",
            );
            example(
                r,
                "MQTT v5 with a message expiry and a user property:",
                "mqpub -t jobs/1 -m go -D publish message-expiry-interval 60 -D publish \
                 user-property origin cli",
            );
        }
        Tool::Sub => {
            example(
                r,
                "Print every message under sensors/ with its topic:",
                "mqsub -t 'sensors/#' -v",
            );
            example(
                r,
                "Print one JSON object per message, with a time stamp:",
                "mqsub -t 'sensors/#' -F %j",
            );
            example(
                r,
                "Print time, topic, QoS and the payload in hex:",
                "mqsub -t '#' -F '@H:@M:@S %t q%q %x'",
            );
            example(
                r,
                "Wait at most 10 seconds for one message, then exit:",
                "mqsub -t status/ready -C 1 -W 10",
            );
            example(
                r,
                "Show the retained messages of a tree, then exit:",
                "mqsub -t 'config/#' -v --retained-only",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn page(tool: Tool) -> String {
        let mut out = Vec::new();
        render(tool, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn sections_come_in_mosquittos_order() {
        for tool in [Tool::Pub, Tool::Sub] {
            let page = page(tool);
            let mut at = 0;
            for section in [
                ".SH NAME",
                ".SH SYNOPSIS",
                ".SH DESCRIPTION",
                ".SH OPTIONS",
                ".SH \"ENCRYPTED CONNECTIONS\"",
                ".SH WILLS",
                ".SH PROPERTIES",
                ".SH \"EXIT STATUS\"",
                ".SH ENVIRONMENT",
                ".SH FILES",
                ".SH EXAMPLES",
                ".SH \"SEE ALSO\"",
                ".SH VERSION",
            ] {
                let found = page[at..].find(section);
                assert!(
                    found.is_some(),
                    "{}: {section} missing or out of order",
                    tool.name()
                );
                at += found.unwrap_or_default();
            }
        }
    }

    /// Every code `-F` accepts is documented, and nothing else.
    #[test]
    fn every_format_code_is_documented() {
        let sub = page(Tool::Sub);
        for code in "%ACDEFIlmPpqRSrtjJUxXdf".chars() {
            let term = format!("\\fB%{code}\\fR");
            assert!(sub.contains(&term), "%{code} missing");
            let format = format!("%{code}");
            assert!(crate::format::Format::parse(format.as_bytes()).is_ok());
        }
        assert!(!page(Tool::Pub).contains("OUTPUT FORMAT"));
    }

    /// The properties listed for each command are the ones `-D` accepts.
    #[test]
    fn listed_properties_are_accepted() {
        use crate::args::{parse_pub_with, parse_sub_with};
        use crate::config::Environment;
        use std::ffi::OsString;

        for tool in [Tool::Pub, Tool::Sub] {
            let page = page(tool);
            let section = &page[page.find(".SH PROPERTIES").unwrap()..];
            let section = &section[..section.find(".SH \"EXIT STATUS\"").unwrap()];
            let mut lines = section.lines();
            let mut checked = 0;
            while let Some(line) = lines.next() {
                let Some(command) = line
                    .strip_prefix("\\fB")
                    .and_then(|l| l.strip_suffix("\\fR"))
                else {
                    continue;
                };
                let names = lines.next().unwrap();
                for name in names.split(", ") {
                    let name = name.split(' ').next().unwrap().replace("\\-", "-");
                    let mut argv = match tool {
                        Tool::Pub => vec!["-t", "a", "-m", "1", "-D", command, &name],
                        Tool::Sub => vec!["-t", "a", "-D", command, &name],
                    };
                    if name == "user-property" {
                        argv.push("k");
                    }
                    argv.push("1");
                    let argv: Vec<OsString> = argv.into_iter().map(OsString::from).collect();
                    let env = Environment::empty();
                    let err = match tool {
                        Tool::Pub => parse_pub_with(&argv, None, &env).error(),
                        Tool::Sub => parse_sub_with(&argv, None, &env).error(),
                    };
                    if let Some(e) = err {
                        // A value may be out of place (a 0 where 1 is refused), but the
                        // property itself must be known and allowed for the command.
                        assert!(
                            !e.stderr.contains("not allowed")
                                && !e.stderr.contains("not supported")
                                && !e.stderr.contains("Invalid property")
                                && !e.stderr.contains("Invalid command"),
                            "{} -D {command} {name}: {}",
                            tool.name(),
                            e.stderr
                        );
                    }
                    checked += 1;
                }
            }
            assert!(checked > 10, "{}: only {checked} properties", tool.name());
        }
    }
}
