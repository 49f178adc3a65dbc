//! mqsub's command line: values, defaults, and every error message and exit status.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsString;
use std::num::NonZeroU16;

use mqtt_cli::args::{Parsed, Reconnect, SubArgs, parse_sub_with};
use mqtt_cli::config::Environment;
use mqtt_cli::format::{Format, MessageView, format_message};
use mqtt_cli::time::SystemClock;
use mqtt_proto::{ProtocolVersion, QoS, RetainHandling};

const HELPS: &str = "\nUse 'mqsub --help' to see usage.\n";

fn parse(args: &[&str]) -> Parsed<SubArgs> {
    let args: Vec<OsString> = args.iter().map(OsString::from).collect();
    parse_sub_with(&args, None, &Environment::empty())
}

fn ok(args: &[&str]) -> SubArgs {
    match parse(args) {
        Parsed::Run(a) => a,
        other => panic!("{args:?}: {other:?}"),
    }
}

fn stderr(args: &[&str]) -> String {
    match parse(args) {
        Parsed::Error(e) => {
            assert_eq!(e.exit_code, 1);
            assert_eq!(e.stdout, "");
            e.stderr
        }
        other => panic!("{args:?}: {other:?}"),
    }
}

fn filters(v: &[mqtt_proto::TopicFilter]) -> Vec<&str> {
    v.iter().map(|f| f.as_str()).collect()
}

#[test]
fn defaults() {
    let a = ok(&["-t", "#"]);
    assert_eq!(filters(&a.topics), ["#"]);
    assert_eq!(a.qos, QoS::AtMostOnce);
    assert!(a.output.format.is_none() && !a.output.verbose && a.output.eol && !a.output.pretty);
    assert_eq!(a.msg_count, None);
    assert_eq!(a.timeout, None);
    assert!(!a.exit_after_sub && !a.no_retained && !a.retained_only && !a.remove_retained);
    assert_eq!(a.retain_handling, RetainHandling::SendAtSubscribe);
    assert_eq!(a.random_filter, None);
    assert_eq!(a.reconnect, Reconnect::Forever);
    assert_eq!(a.conn.protocol, ProtocolVersion::V3_1_1);
}

#[test]
fn topics_filters_and_unsubscribes_accumulate() {
    let a = ok(&[
        "-t", "a/#", "-t", "b/+", "-T", "a/x", "-T", "a/y", "-U", "old/#", "-q", "2",
    ]);
    assert_eq!(filters(&a.topics), ["a/#", "b/+"]);
    assert_eq!(filters(&a.filter_out), ["a/x", "a/y"]);
    assert_eq!(filters(&a.unsubscribe), ["old/#"]);
    assert_eq!(a.qos, QoS::ExactlyOnce);
    // -L adds to -t.
    let a = ok(&["-t", "x", "-L", "mqtt://h/url/a/b"]);
    assert_eq!(filters(&a.topics), ["x", "url/a/b"]);
    // 2.1: -U alone is enough.
    assert!(parse(&["-U", "x"]).run().is_some());
}

#[test]
fn output_options() {
    let a = ok(&["-t", "t", "-v", "-N", "--pretty", "-F", "%t %p"]);
    assert!(a.output.verbose && !a.output.eol && a.output.pretty);
    assert_eq!(a.output.format, Some(Format::parse(b"%t %p").unwrap()));
    let out = format_message(
        &a.output,
        &MessageView::new("t", b"p"),
        &SystemClock::default(),
    )
    .0;
    assert_eq!(out, b"t p");
    // -F takes the next word even when it starts with '-'.
    let a = ok(&["-t", "t", "-F", "-%t"]);
    let out = format_message(
        &a.output,
        &MessageView::new("t", b"p"),
        &SystemClock::default(),
    )
    .0;
    assert_eq!(out, b"-t\n");
    let a = ok(&["-t", "t", "--json"]);
    assert_eq!(a.output.format, Some(Format::parse(b"%j").unwrap()));
}

#[test]
fn control_options() {
    let a = ok(&[
        "-t",
        "t",
        "-C",
        "5",
        "-W",
        "10",
        "-E",
        "-R",
        "--remove-retained",
        "--retain-as-published",
        "--random-filter",
        "50",
    ]);
    assert_eq!(a.msg_count, Some(5));
    assert_eq!(a.timeout, Some(10));
    assert!(a.exit_after_sub && a.no_retained && a.remove_retained && a.retain_as_published);
    assert_eq!(a.retain_handling, RetainHandling::DoNotSend);
    assert_eq!(a.random_filter, Some(50.0));
    assert!(ok(&["-t", "t", "--retained-only"]).retained_only);
    assert_eq!(
        ok(&["-t", "t", "--retain-handling", "new"]).retain_handling,
        RetainHandling::SendAtSubscribeIfNew
    );
    assert_eq!(
        ok(&["-t", "t", "-R", "--retain-handling", "always"]).retain_handling,
        RetainHandling::SendAtSubscribe
    );
    assert_eq!(
        ok(&["-t", "t", "--no-reconnect"]).reconnect,
        Reconnect::Never
    );
    assert_eq!(
        ok(&["-t", "t", "--reconnect-max", "3"]).reconnect,
        Reconnect::Max(3)
    );
}

#[test]
fn small_message_count_sets_receive_maximum_on_v5() {
    let a = ok(&["-t", "t", "-C", "3", "-V", "5"]);
    assert_eq!(
        a.conn.properties.connect.receive_maximum,
        NonZeroU16::new(3)
    );
    let a = ok(&["-t", "t", "-C", "30", "-V", "5"]);
    assert_eq!(a.conn.properties.connect.receive_maximum, None);
    let a = ok(&["-t", "t", "-C", "3"]);
    assert_eq!(a.conn.properties.connect.receive_maximum, None);
    let a = ok(&[
        "-t",
        "t",
        "-C",
        "3",
        "-D",
        "connect",
        "receive-maximum",
        "7",
    ]);
    assert_eq!(
        a.conn.properties.connect.receive_maximum,
        NonZeroU16::new(7)
    );
}

#[test]
fn subscribe_and_unsubscribe_properties() {
    let a = ok(&[
        "-t",
        "t",
        "-D",
        "subscribe",
        "subscription-identifier",
        "7",
        "-D",
        "unsubscribe",
        "user-property",
        "a",
        "b",
    ]);
    assert_eq!(a.conn.protocol, ProtocolVersion::V5);
    assert_eq!(
        a.conn
            .properties
            .subscribe
            .subscription_identifier
            .unwrap()
            .get(),
        7
    );
    assert_eq!(a.conn.properties.unsubscribe.user_properties.len(), 1);
    assert_eq!(
        stderr(&["-t", "t", "-D", "subscribe", "user-property", "a"]),
        format!("Error: --property argument given but not enough arguments specified.\n\n{HELPS}")
    );
}

#[test]
fn errors() {
    let cases: &[(&[&str], &str)] = &[
        (&[], "Error: You must specify a topic to subscribe to.\n"),
        (
            &["-v"],
            "Error: You must specify a topic to subscribe to.\n",
        ),
        (&["-C", "0"], "Error: Invalid message count \"0\".\n\n"),
        (&["-C", "abc"], "Error: Invalid message count \"0\".\n\n"),
        (&["-W", "0"], "Error: Invalid timeout \"0\".\n\n"),
        (&["-W", "-3"], "Error: Invalid timeout \"-3\".\n\n"),
        (
            &["-t", "a/#/b"],
            "Error: Invalid subscription topic 'a/#/b', are all '+' and '#' wildcards correct?\n",
        ),
        (
            &["-t", "a+"],
            "Error: Invalid subscription topic 'a+', are all '+' and '#' wildcards correct?\n",
        ),
        (
            &["-t", ""],
            "Error: Invalid subscription topic '', are all '+' and '#' wildcards correct?\n",
        ),
        (
            &["-T", "x/#/y"],
            "Error: Invalid filter topic 'x/#/y', are all '+' and '#' wildcards correct?\n",
        ),
        (
            &["-U", "x+"],
            "Error: Invalid unsubscribe topic 'x+', are all '+' and '#' wildcards correct?\n",
        ),
        (&["-F", "%z"], "Error: Invalid format specifier 'z'.\n"),
        (&["-F", "%"], "Error: Incomplete format specifier.\n"),
        (&["-F", "\\q"], "Error: Invalid escape specifier 'q'.\n"),
        (&["-F", "x\\"], "Error: Incomplete escape specifier.\n"),
        (
            &["--random-filter", "0"],
            "Error: --random-filter chance must be between 0.1-100.0\n\n",
        ),
        (
            &["--random-filter", "100.5"],
            "Error: --random-filter chance must be between 0.1-100.0\n\n",
        ),
        (
            &["--retain-handling", "sometimes"],
            "Error: Invalid --retain-handling value 'sometimes', it must be one of 'always', 'new' or 'never'.\n\n",
        ),
        (
            &["--reconnect-max", "-1"],
            "Error: Invalid reconnect count \"-1\".\n\n",
        ),
        (
            &["-C"],
            "Error: -C argument given but no count specified.\n\n",
        ),
        (
            &["-F"],
            "Error: -F argument given but no format specified.\n\n",
        ),
        (
            &["-T"],
            "Error: -T argument given but no topic filter specified.\n\n",
        ),
        (
            &["-U"],
            "Error: -U argument given but no unsubscribe topic specified.\n\n",
        ),
        (
            &["-W"],
            "Error: -W argument given but no timeout specified.\n\n",
        ),
        (
            &["--random-filter"],
            "Error: --random-filter argument given but no chance specified.\n\n",
        ),
        (&["-q", "3"], "Error: Invalid QoS given: 3\n"),
    ];
    for (args, msg) in cases {
        assert_eq!(stderr(args), format!("{msg}{HELPS}"), "{args:?}");
    }
}

#[test]
fn combining_r_and_retained_only_has_no_usage_line() {
    assert_eq!(
        stderr(&["-t", "t", "-R", "--retained-only"]),
        "\nError: Combining '-R' and '--retained-only' makes no sense.\n"
    );
}

#[test]
fn pub_only_options_are_unknown() {
    for opt in [
        "-r",
        "--retain",
        "-m",
        "-f",
        "-l",
        "-n",
        "-s",
        "--repeat",
        "--repeat-delay",
        "-e",
        "-S",
    ] {
        assert_eq!(
            stderr(&[opt, "x"]),
            format!("Error: Unknown option '{opt}'.\n{HELPS}"),
            "{opt}"
        );
    }
}

#[test]
fn help_mentions_format_codes() {
    let Parsed::Help(h) = parse(&["--help"]) else {
        panic!()
    };
    assert!(h.starts_with("mqsub is a simple mqtt client"));
    assert!(h.contains("Output format (-F):"));
    assert!(h.contains("mqsub- followed by 8 random"));
}

#[test]
fn additions_color_payload_format_json_props() {
    use mqtt_cli::format::{ColorChoice, PayloadFormat};

    let a = ok(&["-t", "t"]);
    assert_eq!(a.output.color, ColorChoice::Auto);
    assert_eq!(a.output.payload_format, PayloadFormat::Raw);
    assert!(!a.output.json_props);
    let a = ok(&[
        "-t",
        "t",
        "--color",
        "always",
        "--payload-format",
        "base64",
        "--json-props",
    ]);
    assert_eq!(a.output.color, ColorChoice::Always);
    assert_eq!(a.output.payload_format, PayloadFormat::Base64);
    assert!(a.output.json_props);
    // Later wins.
    let a = ok(&["-t", "t", "--color", "always", "--color", "never"]);
    assert_eq!(a.output.color, ColorChoice::Never);
    for (v, want) in [
        ("raw", PayloadFormat::Raw),
        ("hex", PayloadFormat::Hex),
        ("base64", PayloadFormat::Base64),
        ("text", PayloadFormat::Text),
    ] {
        assert_eq!(
            ok(&["-t", "t", "--payload-format", v])
                .output
                .payload_format,
            want
        );
    }
    assert_eq!(
        stderr(&["-t", "t", "--color", "sometimes"]),
        format!(
            "Error: Invalid --color value 'sometimes', it must be one of 'auto', 'always' or 'never'.\n\n{HELPS}"
        )
    );
    assert_eq!(
        stderr(&["-t", "t", "--payload-format", "HEX"]),
        format!(
            "Error: Invalid --payload-format value 'HEX', it must be one of 'raw', 'hex', 'base64' or 'text'.\n\n{HELPS}"
        )
    );
    assert_eq!(
        stderr(&["-t", "t", "--color"]),
        format!("Error: --color argument given but no value specified.\n\n{HELPS}")
    );
    assert_eq!(
        stderr(&["-t", "t", "--payload-format"]),
        format!("Error: --payload-format argument given but no format specified.\n\n{HELPS}")
    );
    // The value is the next word, verbatim (so `--color -v` is an invalid colour).
    assert!(stderr(&["-t", "t", "--color", "-v"]).starts_with("Error: Invalid --color value '-v'"));
}

#[test]
fn additions_output_and_message_rate() {
    let a = ok(&["-t", "t"]);
    assert_eq!(a.output_file, None);
    assert_eq!(a.output_dir, None);
    assert!(!a.message_rate);
    let a = ok(&["-t", "t", "--output", "-v", "--message-rate"]);
    assert_eq!(a.output_file.as_deref(), Some(std::path::Path::new("-v")));
    assert!(!a.output.verbose);
    assert!(a.message_rate);
    let a = ok(&["-t", "t", "--output-dir", "dir"]);
    assert_eq!(a.output_dir.as_deref(), Some(std::path::Path::new("dir")));
    assert_eq!(
        stderr(&["-t", "t", "--output"]),
        format!("Error: --output argument given but no file specified.\n\n{HELPS}")
    );
    assert_eq!(
        stderr(&["-t", "t", "--output-dir"]),
        format!("Error: --output-dir argument given but no directory specified.\n\n{HELPS}")
    );
    assert_eq!(
        stderr(&["-t", "t", "--output", "f", "--output-dir", "d"]),
        format!("Error: --output and --output-dir cannot be used together.\n{HELPS}")
    );
}

#[test]
fn additions_are_mqsub_only_except_pw_prompt() {
    let a = ok(&["-t", "t", "-u", "me", "--pw-prompt"]);
    assert!(a.conn.password_prompt);
    assert_eq!(a.conn.password, None);
    for opt in [
        "--color",
        "--payload-format",
        "--json-props",
        "--output",
        "--output-dir",
        "--message-rate",
        "-w",
        "--watch",
    ] {
        let e = mqtt_cli::args::parse_pub_with(
            &[opt.into(), "x".into(), "-t".into(), "t".into(), "-n".into()],
            None,
            &Environment::empty(),
        )
        .error()
        .unwrap();
        assert_eq!(
            e.stderr,
            format!("Error: Unknown option '{opt}'.\n\nUse 'mqpub --help' to see usage.\n")
        );
    }
}

#[test]
fn message_file_names() {
    use mqtt_cli::args::message_file_name;

    assert_eq!(message_file_name("a/b", 1), "a_b-1");
    assert_eq!(message_file_name("/a//b/", 12), "_a__b_-12");
    assert_eq!(message_file_name("..", 3), "_..-3");
    assert_eq!(message_file_name(".hidden/x", 4), "_.hidden_x-4");
    assert_eq!(message_file_name("sensors/temp °C", 5), "sensors_temp °C-5");
}

#[test]
fn watch_option() {
    assert!(!ok(&["-t", "t"]).watch);
    assert!(ok(&["-t", "t", "-w"]).watch);
    assert!(ok(&["-t", "t", "--watch", "-v"]).watch);
    for other in [
        &["--output", "f"][..],
        &["--output-dir", "d"],
        &["--message-rate"],
    ] {
        let mut args = vec!["-t", "t", "-w"];
        args.extend_from_slice(other);
        assert_eq!(
            stderr(&args),
            format!(
                "Error: --watch cannot be used with --output, --output-dir or --message-rate.\n{HELPS}"
            )
        );
    }
}
