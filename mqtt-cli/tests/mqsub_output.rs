//! mqsub output bytes: plain, -v, -N, every -F code, JSON and --pretty.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::num::NonZeroU16;

use mqtt_cli::format::{Format, FormatError, MessageView, OutputOptions, format_message};
use mqtt_cli::time::{FixedClock, Timestamp};
use mqtt_proto::{PublishProperties, SubscriptionId, TopicName, UserProperty};

/// 2026-11-22T02:06:45.294279165Z
const T: Timestamp = Timestamp {
    unix_secs: 1_795_313_205,
    nanos: 294_279_165,
    utc_offset_secs: 0,
};

fn fmt(f: &str, msg: &MessageView<'_>) -> String {
    let opts = OutputOptions {
        format: Some(Format::parse(f.as_bytes()).unwrap()),
        ..OutputOptions::default()
    };
    let (out, err) = format_message(&opts, msg, &FixedClock(T));
    assert!(err.is_empty(), "{}", String::from_utf8_lossy(&err));
    String::from_utf8(out).unwrap()
}

fn mode(verbose: bool, eol: bool, msg: &MessageView<'_>) -> Vec<u8> {
    let opts = OutputOptions {
        verbose,
        eol,
        ..OutputOptions::default()
    };
    format_message(&opts, msg, &FixedClock(T)).0
}

fn full_props() -> PublishProperties {
    let mut p = PublishProperties::default();
    p.user_properties = vec![UserProperty::new("k1", "v1"), UserProperty::new("k2", "v2")];
    p.content_type = Some("text/plain".into());
    p.message_expiry_interval = Some(60);
    p.response_topic = Some(TopicName::new("reply/here").unwrap());
    p.correlation_data = Some(b"abc123".to_vec().into());
    p.payload_format_indicator = Some(true);
    p.subscription_identifiers = vec![SubscriptionId::new(7).unwrap()];
    p
}

#[test]
fn default_mode_prints_payload_and_newline() {
    assert_eq!(
        mode(false, true, &MessageView::new("t", b"hello")),
        b"hello\n"
    );
}

#[test]
fn default_mode_prints_nothing_for_empty_payload() {
    assert_eq!(mode(false, true, &MessageView::new("t", b"")), b"");
}

#[test]
fn verbose_prints_topic_space_payload() {
    assert_eq!(
        mode(true, true, &MessageView::new("a/b", b"x y")),
        b"a/b x y\n"
    );
}

#[test]
fn verbose_empty_payload_prints_null_marker() {
    assert_eq!(
        mode(true, true, &MessageView::new("a/b", b"")),
        b"a/b (null)\n"
    );
}

#[test]
fn no_eol_modes() {
    assert_eq!(mode(false, false, &MessageView::new("t", b"p")), b"p");
    assert_eq!(mode(true, false, &MessageView::new("t", b"p")), b"t p");
    // -v -N with an empty payload prints nothing at all.
    assert_eq!(mode(true, false, &MessageView::new("t", b"")), b"");
}

#[test]
fn binary_payloads_are_written_raw() {
    let p = [0u8, 0xff, b'\n', 0x80];
    let mut expected = p.to_vec();
    expected.push(b'\n');
    assert_eq!(mode(false, true, &MessageView::new("t", &p)), expected);
}

#[test]
fn format_overrides_verbose_and_honours_no_eol() {
    let opts = OutputOptions {
        format: Some(Format::parse(b"%t|%p").unwrap()),
        verbose: true,
        eol: false,
        pretty: false,
        ..OutputOptions::default()
    };
    assert_eq!(
        format_message(&opts, &MessageView::new("t", b"p"), &FixedClock(T)).0,
        b"t|p"
    );
}

#[test]
fn width_precision_and_flags_as_observed() {
    let msg = MessageView::new("w/ab", b"xyz");
    // [17], with D2 for %08x (2.0.11 printed 00000078).
    assert_eq!(
        fmt(
            "[%10t] [%-10t] [%.3t] [%5.2t] [%05l] [%-5l] [%8p] [%-8p] [%08x]",
            &msg
        ),
        "[      w/ab] [w/ab      ] [w/a] [   w/] [00003] [3    ] [     xyz] [xyz     ] [0078797a]\n"
    );
}

#[test]
fn d2_payload_width_is_a_minimum_and_precision_a_maximum() {
    let msg = MessageView::new("t", b"0123456789");
    // 2.0.11 printed 01234567 for %8p.
    assert_eq!(fmt("%8p", &msg), "0123456789\n");
    assert_eq!(fmt("%.4p", &msg), "0123\n");
    assert_eq!(fmt("[%6.3p]", &msg), "[   012]\n");
    assert_eq!(fmt("[%-6.3p]", &msg), "[012   ]\n");
    assert_eq!(fmt("[%06.3p]", &msg), "[000012]\n");
}

#[test]
fn hex_codes() {
    let msg = MessageView::new("t", b"\x01\xab\xcd\xef");
    assert_eq!(fmt("%x %X", &msg), "01abcdef 01ABCDEF\n");
    assert_eq!(fmt("[%10x]", &msg), "[  01abcdef]\n");
    assert_eq!(fmt("[%-10X]", &msg), "[01ABCDEF  ]\n");
    // D2: 2.1's split hex (a separator every N hex digits).
    assert_eq!(fmt("%.2x", &msg), "01 ab cd ef\n");
    assert_eq!(fmt("%.4x", &msg), "01ab cdef\n");
    assert_eq!(fmt("%.2:X", &msg), "01:AB:CD:EF\n");
    assert_eq!(fmt("[%14.2:x]", &msg), "[   01:ab:cd:ef]\n");
}

#[test]
fn float_and_double_payloads() {
    let d = 27.5f64.to_ne_bytes();
    let msg = MessageView::new("t", &d);
    assert_eq!(
        fmt("%d|%.1d|%8.2d|%-8.2d|%08.2d", &msg),
        "27.500000|27.5|   27.50|27.50   |00027.50\n"
    );
    let neg = (-1.5f64).to_ne_bytes();
    assert_eq!(fmt("%08.2d", &MessageView::new("t", &neg)), "-0001.50\n");
    let f = 0.25f32.to_ne_bytes();
    assert_eq!(fmt("%f %.0f", &MessageView::new("t", &f)), "0.250000 0\n");
    let opts = OutputOptions {
        format: Some(Format::parse(b"[%f]").unwrap()),
        ..OutputOptions::default()
    };
    let (out, err) = format_message(&opts, &MessageView::new("t", b"abc"), &FixedClock(T));
    assert_eq!(out, b"[]\n");
    assert_eq!(
        err,
        b"requested float printing, but non-float data received"
    );
}

#[test]
fn message_fields() {
    let msg = MessageView {
        topic: "a/b",
        payload: b"hello",
        qos: 2,
        retain: true,
        mid: Some(42),
        properties: None,
    };
    assert_eq!(fmt("%t %p %l %q %r %m %%", &msg), "a/b hello 5 2 1 42 %\n");
    assert_eq!(
        fmt("[%5m] [%05m] [%-5m]", &msg),
        "[   42] [00042] [42   ]\n"
    );
    // %q and %r ignore widths.
    assert_eq!(fmt("[%5q] [%5r]", &msg), "[2] [1]\n");
    let qos0 = MessageView::new("t", b"");
    assert_eq!(fmt("%m %l %r [%p]", &qos0), "0 0 0 []\n");
}

#[test]
fn v5_property_codes_with_everything_filled_in() {
    let props = full_props();
    let msg = MessageView {
        properties: Some(&props),
        ..MessageView::new("p5/full", b"hello")
    };
    // [47]
    assert_eq!(
        fmt(
            "topic=%t payload=%p | P=[%P] C=[%C] E=[%E] R=[%R] D=[%D] F=[%F] A=[%A] S=[%S]",
            &msg
        ),
        "topic=p5/full payload=hello | P=[k1:v1 k2:v2] C=[text/plain] E=[60] R=[reply/here] D=[abc123] F=[1] A=[] S=[7]\n"
    );
    let mut props2 = props.clone();
    props2.topic_alias = NonZeroU16::new(3);
    let msg = MessageView {
        properties: Some(&props2),
        ..msg
    };
    assert_eq!(
        fmt("[%A] [%4A] [%-4E] [%04S] [%.4C] [%12C] [%.5R]", &msg),
        "[3] [   3] [60  ] [0007] [text] [  text/plain] [reply]\n"
    );
}

#[test]
fn absent_v5_properties() {
    let msg = MessageView::new("t", b"p");
    // %A %E %F %S: width blanks (the pad character); %C: spaces; %D %P %R: nothing.
    assert_eq!(
        fmt("[%A][%3A][%03E][%2F][%3S][%4C][%D][%P][%5R]", &msg),
        "[][   ][000][  ][   ][    ][][][]\n"
    );
    let empty = PublishProperties::default();
    let msg = MessageView {
        properties: Some(&empty),
        ..msg
    };
    assert_eq!(fmt("[%C][%P][%3E]", &msg), "[][][   ]\n");
}

#[test]
fn time_helpers() {
    let msg = MessageView::new("t", b"p");
    assert_eq!(fmt("%I", &msg), "2026-11-22T02:06:45+0000\n");
    assert_eq!(fmt("%U", &msg), "1795313205.294279165\n");
    assert_eq!(
        fmt("[%.10I] [%26I] [%-26I]", &msg),
        "[2026-11-22] [  2026-11-22T02:06:45+0000] [2026-11-22T02:06:45+0000  ]\n"
    );
}

#[test]
fn at_codes_use_strftime() {
    let msg = MessageView::new("t", b"p");
    assert_eq!(
        fmt("@Y-@m-@dT@H:@M:@S@z", &msg),
        "2026-11-22T02:06:45+0000\n"
    );
    assert_eq!(fmt("@s.@N", &msg), "1795313205.294279165\n");
    assert_eq!(fmt("@@ @a @j", &msg), "@ Sun 326\n");
}

#[test]
fn local_offset_is_applied() {
    let t = Timestamp {
        utc_offset_secs: 3600,
        ..T
    };
    let opts = OutputOptions {
        format: Some(Format::parse(b"%I @H").unwrap()),
        ..OutputOptions::default()
    };
    let out = format_message(&opts, &MessageView::new("t", b"p"), &FixedClock(t)).0;
    assert_eq!(out, b"2026-11-22T03:06:45+0100 03\n");
}

#[test]
fn escapes() {
    let msg = MessageView::new("t", b"p");
    assert_eq!(
        fmt(r"a\\b\0c\ad\ee\nf\rg\th\vi", &msg),
        "a\\b\0c\x07d\x1be\nf\rg\th\x0bi\n"
    );
    assert_eq!(
        fmt(r"\e[92m%t \e[96m%p\e[0m", &msg),
        "\x1b[92mt \x1b[96mp\x1b[0m\n"
    );
}

#[test]
fn format_errors_match_mosquitto() {
    let e = |f: &str| Format::parse(f.as_bytes()).unwrap_err().to_string();
    assert_eq!(e("%z"), "Error: Invalid format specifier 'z'.");
    assert_eq!(e("abc%"), "Error: Incomplete format specifier.");
    assert_eq!(e("%-"), "Error: Incomplete format specifier.");
    assert_eq!(e("%0"), "Error: Incomplete format specifier.");
    assert_eq!(e("%10"), "Error: Incomplete format specifier.");
    assert_eq!(e("%5."), "Error: Incomplete format specifier.");
    assert_eq!(e("%5.3"), "Error: Incomplete format specifier.");
    assert_eq!(e("x@"), "Error: Incomplete format specifier.");
    assert_eq!(e(r"\z"), "Error: Invalid escape specifier 'z'.");
    assert_eq!(e("\\"), "Error: Incomplete escape specifier.");
    assert_eq!(
        Format::parse(b"%.2:p"),
        Err(FormatError::InvalidSpecifier(b':'))
    );
    // Unknown @ letters are not checked.
    assert!(Format::parse(b"@q").is_ok());
}

fn json(f: &str, pretty: bool, msg: &MessageView<'_>) -> (String, String) {
    let opts = OutputOptions {
        format: Some(Format::parse(f.as_bytes()).unwrap()),
        pretty,
        ..OutputOptions::default()
    };
    let (out, err) = format_message(&opts, msg, &FixedClock(T));
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn json_escaped_payload_key_order_and_d1_timestamp() {
    let msg = MessageView {
        topic: "j/json",
        payload: br#"{"temperature":27.0,"humidity":57}"#,
        qos: 1,
        retain: false,
        mid: Some(1),
        properties: None,
    };
    let (out, _) = json("%j", false, &msg);
    assert_eq!(
        out,
        "{\"tst\":\"2026-11-22T02:06:45.294279+0000\",\"topic\":\"j/json\",\"qos\":1,\"retain\":0,\"payloadlen\":34,\"mid\":1,\"payload\":\"{\\\"temperature\\\":27.0,\\\"humidity\\\":57}\"}\n"
    );
}

#[test]
fn json_parsed_payload_is_reserialised() {
    let msg = MessageView::new("j/json", br#"{"temperature":27.0,"humidity":57}"#);
    let (out, _) = json("%J", false, &msg);
    assert_eq!(
        out,
        "{\"tst\":\"2026-11-22T02:06:45.294279+0000\",\"topic\":\"j/json\",\"qos\":0,\"retain\":0,\"payloadlen\":34,\"payload\":{\"temperature\":27,\"humidity\":57}}\n"
    );
}

#[test]
fn json_invalid_payload_for_percent_capital_j() {
    let msg = MessageView::new("J/notjson", b"not json");
    let (out, err) = json("%J", false, &msg);
    assert_eq!(out, "\n");
    assert_eq!(
        err,
        "Error: Message payload is not valid JSON on topic J/notjson.\n"
    );
    // The rest of the format is still printed.
    let (out, _) = json("<%J>", false, &msg);
    assert_eq!(out, "<>\n");
}

#[test]
fn json_empty_payload_is_null() {
    let msg = MessageView::new("t", b"");
    let (out, _) = json("%j", false, &msg);
    assert!(
        out.ends_with("\"payloadlen\":0,\"payload\":null}\n"),
        "{out}"
    );
    let (out, _) = json("%J", false, &msg);
    assert!(out.ends_with("\"payload\":null}\n"), "{out}");
}

#[test]
fn d7_json_is_valid_for_binary_payloads() {
    let msg = MessageView::new("t", b"a\0b\x01\"");
    let (out, _) = json("%j", false, &msg);
    assert!(
        out.ends_with("\"payloadlen\":5,\"payload\":\"a\\u0000b\\u0001\\\"\"}\n"),
        "{out}"
    );
    let msg = MessageView::new("t", b"\xff\xfe\x00");
    let (out, _) = json("%j", false, &msg);
    assert!(
        out.ends_with("\"payload\":null,\"payload_b64\":\"//4A\"}\n"),
        "{out}"
    );
    serde_json::from_str::<serde_json::Value>(out.trim_end()).unwrap();
}

#[test]
fn json_properties_object() {
    let mut props = full_props();
    props.topic_alias = NonZeroU16::new(5);
    props.user_properties.push(UserProperty::new("k1", "again"));
    let msg = MessageView {
        properties: Some(&props),
        ..MessageView::new("p", b"x")
    };
    let (out, _) = json("%j", false, &msg);
    assert_eq!(
        out,
        "{\"tst\":\"2026-11-22T02:06:45.294279+0000\",\"topic\":\"p\",\"qos\":0,\"retain\":0,\"payloadlen\":1,\"properties\":{\"payload-format-indicator\":1,\"message-expiry-interval\":60,\"content-type\":\"text/plain\",\"response-topic\":\"reply/here\",\"correlation-data\":\"abc123\",\"subscription-identifier\":7,\"topic-alias\":5,\"user-properties\":{\"k1\":\"again\",\"k2\":\"v2\"}},\"payload\":\"x\"}\n"
    );
}

#[test]
fn pretty_json_uses_cjson_layout() {
    let msg = MessageView::new("j", br#"{"a":[1,2],"b":{"c":true}}"#);
    let (out, _) = json("%J", true, &msg);
    assert_eq!(
        out,
        "{\n\t\"tst\":\t\"2026-11-22T02:06:45.294279+0000\",\n\t\"topic\":\t\"j\",\n\t\"qos\":\t0,\n\t\"retain\":\t0,\n\t\"payloadlen\":\t26,\n\t\"payload\":\t{\n\t\t\"a\":\t[1, 2],\n\t\t\"b\":\t{\n\t\t\t\"c\":\ttrue\n\t\t}\n\t}\n}\n"
    );
    // --pretty has no effect on other codes.
    let (out, _) = json("%t", true, &msg);
    assert_eq!(out, "j\n");
}

#[test]
fn clock_is_read_lazily() {
    struct Panics;
    impl mqtt_cli::time::Clock for Panics {
        fn now(&self) -> Timestamp {
            panic!("clock read");
        }
    }
    let opts = OutputOptions {
        format: Some(Format::parse(b"%t %p %x").unwrap()),
        ..OutputOptions::default()
    };
    let _ = format_message(&opts, &MessageView::new("t", b"p"), &Panics);
    let _ = format_message(
        &OutputOptions::default(),
        &MessageView::new("t", b"p"),
        &Panics,
    );
}

// ---- Additions: --color, --payload-format, --json-props ----

fn with(opts: OutputOptions, msg: &MessageView<'_>) -> Vec<u8> {
    format_message(&opts, msg, &FixedClock(T)).0
}

#[test]
fn color_applies_to_the_topic_of_verbose_mode_only() {
    use mqtt_cli::format::ColorChoice;

    let msg = MessageView::new("a/b", b"p\x1b");
    let empty = MessageView::new("a/b", b"");
    let color = |c: ColorChoice, verbose: bool, eol: bool, m: &MessageView<'_>| {
        with(
            OutputOptions {
                verbose,
                eol,
                color: c,
                ..OutputOptions::default()
            },
            m,
        )
    };
    // Auto (unresolved) and Never: mosquitto's bytes, in every mode.
    for c in [ColorChoice::Auto, ColorChoice::Never] {
        for verbose in [false, true] {
            for eol in [false, true] {
                for m in [&msg, &empty] {
                    assert_eq!(color(c, verbose, eol, m), mode(verbose, eol, m));
                }
            }
        }
    }
    let a = ColorChoice::Always;
    assert_eq!(color(a, true, true, &msg), b"\x1b[1;36ma/b\x1b[0m p\x1b\n");
    assert_eq!(color(a, true, false, &msg), b"\x1b[1;36ma/b\x1b[0m p\x1b");
    assert_eq!(
        color(a, true, true, &empty),
        b"\x1b[1;36ma/b\x1b[0m \x1b[2m(null)\x1b[0m\n"
    );
    assert_eq!(color(a, true, false, &empty), b"");
    // The default mode has no topic: nothing to colour.
    assert_eq!(color(a, false, true, &msg), b"p\x1b\n");
    // -F and JSON are never coloured.
    let opts = OutputOptions {
        format: Some(Format::parse(b"%t %p").unwrap()),
        color: a,
        ..OutputOptions::default()
    };
    assert_eq!(with(opts, &msg), b"a/b p\x1b\n");
}

#[test]
fn color_choice_resolution() {
    use mqtt_cli::format::ColorChoice;

    assert_eq!(ColorChoice::Auto.resolve(true), ColorChoice::Always);
    assert_eq!(ColorChoice::Auto.resolve(false), ColorChoice::Never);
    assert_eq!(ColorChoice::Never.resolve(true), ColorChoice::Never);
    assert_eq!(ColorChoice::Always.resolve(false), ColorChoice::Always);
    assert_eq!(ColorChoice::default(), ColorChoice::Auto);
    assert_eq!(ColorChoice::parse("always"), Some(ColorChoice::Always));
    assert_eq!(ColorChoice::parse("yes"), None);
}

#[test]
fn payload_formats_in_verbose_and_default_mode() {
    use mqtt_cli::format::PayloadFormat;

    let payload: &[u8] = b"a\\b\n\r\t\x00\x7f\xff\xc3\xa9\xc2\x85~ z";
    let msg = MessageView::new("t", payload);
    let out = |pf: PayloadFormat, verbose: bool| {
        String::from_utf8(with(
            OutputOptions {
                verbose,
                payload_format: pf,
                ..OutputOptions::default()
            },
            &msg,
        ))
        .unwrap_or_else(|e| format!("not UTF-8: {e}"))
    };
    assert_eq!(
        with(
            OutputOptions {
                verbose: true,
                payload_format: PayloadFormat::Raw,
                ..OutputOptions::default()
            },
            &msg
        ),
        mode(true, true, &msg)
    );
    assert_eq!(
        out(PayloadFormat::Hex, true),
        "t 615c620a0d09007fffc3a9c2857e207a\n"
    );
    assert_eq!(
        out(PayloadFormat::Hex, false),
        "615c620a0d09007fffc3a9c2857e207a\n"
    );
    assert_eq!(
        out(PayloadFormat::Base64, true),
        "t YVxiCg0JAH//w6nChX4geg==\n"
    );
    assert_eq!(
        out(PayloadFormat::Text, true),
        "t a\\\\b\\n\\r\\t\\x00\\x7f\\xffé\\u{0085}~ z\n"
    );
    // An empty payload is handled as before, whatever the format.
    let empty = MessageView::new("t", b"");
    for pf in [
        PayloadFormat::Hex,
        PayloadFormat::Base64,
        PayloadFormat::Text,
    ] {
        for (verbose, eol) in [(true, true), (true, false), (false, true)] {
            let o = OutputOptions {
                verbose,
                eol,
                payload_format: pf,
                ..OutputOptions::default()
            };
            assert_eq!(with(o, &empty), mode(verbose, eol, &empty));
        }
    }
    // Not applied to -F.
    let o = OutputOptions {
        format: Some(Format::parse(b"%p").unwrap()),
        payload_format: PayloadFormat::Hex,
        ..OutputOptions::default()
    };
    assert_eq!(with(o, &MessageView::new("t", b"ab")), b"ab\n");
    assert_eq!(PayloadFormat::parse("base64"), Some(PayloadFormat::Base64));
    assert_eq!(PayloadFormat::parse("b64"), None);
}

#[test]
fn json_props_always_includes_properties() {
    let msg = MessageView::new("t", b"x");
    let opts = |f: &[u8], json_props: bool| OutputOptions {
        format: Some(Format::parse(f).unwrap()),
        json_props,
        ..OutputOptions::default()
    };
    assert_eq!(
        String::from_utf8(with(opts(b"%j", false), &msg)).unwrap(),
        fmt("%j", &msg)
    );
    assert_eq!(
        String::from_utf8(with(opts(b"%j", true), &msg)).unwrap(),
        "{\"tst\":\"2026-11-22T02:06:45.294279+0000\",\"topic\":\"t\",\"qos\":0,\"retain\":0,\"payloadlen\":1,\"properties\":{},\"payload\":\"x\"}\n"
    );
    // Messages with properties print them as before.
    let props = full_props();
    let with_props = MessageView {
        properties: Some(&props),
        ..msg
    };
    assert_eq!(
        String::from_utf8(with(opts(b"%j", true), &with_props)).unwrap(),
        fmt("%j", &with_props)
    );
    // %J too.
    let json = MessageView::new("t", b"[1]");
    let s = String::from_utf8(with(opts(b"%J", true), &json)).unwrap();
    assert!(s.ends_with(",\"properties\":{},\"payload\":[1]}\n"), "{s}");
}
