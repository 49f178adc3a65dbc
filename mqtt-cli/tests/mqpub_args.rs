//! mqpub's command line: values, defaults, and every error message and exit status.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsString;
use std::time::Duration;

use mqtt_cli::args::{
    ClientId, MessageSource, ParseError, Parsed, PubArgs, TlsVersion, Transport, parse_pub_with,
};
use mqtt_cli::config::Environment;
use mqtt_proto::{ProtocolVersion, QoS};

const HELPS: &str = "\nUse 'mqpub --help' to see usage.\n";

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

fn parse(args: &[&str]) -> Parsed<PubArgs> {
    parse_pub_with(&os(args), None, &Environment::empty())
}

fn ok(args: &[&str]) -> PubArgs {
    match parse(args) {
        Parsed::Run(a) => a,
        other => panic!("{args:?}: {other:?}"),
    }
}

fn err(args: &[&str]) -> ParseError {
    match parse(args) {
        Parsed::Error(e) => e,
        other => panic!("{args:?}: {other:?}"),
    }
}

/// The stderr text for `args`, checking exit status 1 and an empty stdout.
fn stderr(args: &[&str]) -> String {
    let e = err(args);
    assert_eq!(e.exit_code, 1);
    assert_eq!(e.stdout, "");
    e.stderr
}

#[test]
fn minimal_publish_has_mosquitto_defaults() {
    let a = ok(&["-t", "sensor", "-m", "25"]);
    assert_eq!(a.topic.as_str(), "sensor");
    assert_eq!(a.message, MessageSource::Message(b"25".to_vec()));
    assert_eq!(a.qos, QoS::AtMostOnce);
    assert!(!a.retain);
    assert_eq!(a.repeat, 1);
    assert_eq!(a.repeat_delay, Duration::ZERO);
    let c = a.conn;
    assert_eq!(c.host, "localhost");
    assert_eq!(c.port, 1883);
    assert_eq!(c.transport, Transport::Tcp);
    assert_eq!(c.protocol, ProtocolVersion::V3_1_1);
    assert_eq!(c.keepalive, 60);
    assert!(c.clean_session);
    assert_eq!(c.client_id, ClientId::Generated);
    assert_eq!(c.max_inflight, 20);
    assert!(c.tls.is_none() && c.will.is_none() && c.username.is_none() && c.password.is_none());
    assert!(c.properties.connect.is_empty());
}

#[test]
fn values_are_the_next_word_verbatim() {
    let a = ok(&["-t", "t", "-m", "-5"]);
    assert_eq!(a.message, MessageSource::Message(b"-5".to_vec()));
    let a = ok(&["-t", "-t", "-m", "--help", "-u", "-P", "-P", "-secret"]);
    assert_eq!(a.topic.as_str(), "-t");
    assert_eq!(a.message, MessageSource::Message(b"--help".to_vec()));
    assert_eq!(a.conn.username.as_deref(), Some("-P"));
    assert_eq!(a.conn.password.as_deref(), Some(&b"-secret"[..]));
}

#[test]
fn later_scalars_win_and_later_topic_replaces() {
    let a = ok(&[
        "-t", "a", "-t", "b", "-q", "1", "-q", "2", "-h", "x", "-h", "y", "-n",
    ]);
    assert_eq!(a.topic.as_str(), "b");
    assert_eq!(a.qos, QoS::ExactlyOnce);
    assert_eq!(a.conn.host, "y");
    assert_eq!(a.message, MessageSource::Null);
}

#[test]
fn message_sources() {
    assert_eq!(
        ok(&["-t", "t", "-f", "/x"]).message,
        MessageSource::File("/x".into())
    );
    assert_eq!(ok(&["-t", "t", "-l"]).message, MessageSource::StdinLine);
    assert_eq!(ok(&["-t", "t", "-s"]).message, MessageSource::StdinFile);
    assert_eq!(
        ok(&["-t", "t", "--null-message", "-r"]).message,
        MessageSource::Null
    );
    assert!(ok(&["-t", "t", "-n", "--retain"]).retain);
}

#[test]
fn atoi_semantics_for_numbers() {
    assert_eq!(ok(&["-t", "t", "-n", "-k", "10s"]).conn.keepalive, 10);
    assert_eq!(ok(&["-t", "t", "-n", "-M", " 7x"]).conn.max_inflight, 7);
    assert_eq!(
        ok(&["-t", "t", "-n", "--repeat", "3", "--repeat-delay", "0.25"]).repeat_delay,
        Duration::from_millis(250)
    );
    assert_eq!(
        ok(&["-t", "t", "-n", "--repeat-delay", "abc"]).repeat_delay,
        Duration::ZERO
    );
}

#[test]
fn d6_keeps_atoi_for_words_that_start_with_a_number() {
    let a = ok(&[
        "-t",
        "t",
        "-n",
        "-q",
        "1x",
        "-p",
        " 1884 ",
        "--will-topic",
        "w",
        "--will-qos",
        "+2",
    ]);
    assert_eq!(a.qos, QoS::AtLeastOnce);
    assert_eq!(a.conn.port, 1884);
    assert_eq!(a.conn.will.unwrap().qos, QoS::ExactlyOnce);
}

#[test]
fn protocol_versions() {
    for (v, p) in [
        ("31", ProtocolVersion::V3_1),
        ("mqttv31", ProtocolVersion::V3_1),
        ("311", ProtocolVersion::V3_1_1),
        ("mqttv311", ProtocolVersion::V3_1_1),
        ("5", ProtocolVersion::V5),
        ("mqttv5", ProtocolVersion::V5),
    ] {
        assert_eq!(ok(&["-t", "t", "-n", "-V", v]).conn.protocol, p);
    }
    assert_eq!(
        stderr(&["-V", "4"]),
        format!("Error: Invalid protocol version argument given.\n\n{HELPS}")
    );
}

#[test]
fn property_forces_v5_and_d15_session_expiry_too() {
    let a = ok(&[
        "-t",
        "t",
        "-n",
        "-D",
        "publish",
        "content-type",
        "text/plain",
    ]);
    assert_eq!(a.conn.protocol, ProtocolVersion::V5);
    assert_eq!(
        a.conn.properties.publish.content_type.as_deref(),
        Some("text/plain")
    );
    let a = ok(&["-t", "t", "-n", "-x", "60"]);
    assert_eq!(a.conn.protocol, ProtocolVersion::V5);
    assert_eq!(a.conn.properties.connect.session_expiry_interval, Some(60));
    // A later -V still wins, as with -D.
    let a = ok(&["-t", "t", "-n", "-x", "60", "-V", "311"]);
    assert_eq!(a.conn.protocol, ProtocolVersion::V3_1_1);
    assert!(a.conn.properties.connect.session_expiry_interval.is_none());
}

#[test]
fn session_expiry_values() {
    let sei = |v: &str| {
        ok(&["-t", "t", "-n", "-i", "id", "-x", v])
            .conn
            .properties
            .connect
            .session_expiry_interval
    };
    assert_eq!(sei("0x10"), Some(16));
    assert_eq!(sei("010"), Some(8));
    assert_eq!(sei("-1"), Some(u32::MAX));
    assert_eq!(sei("∞"), Some(u32::MAX));
    assert_eq!(sei("4294967295"), Some(u32::MAX));
    assert_eq!(sei("0"), None);
    assert_eq!(
        stderr(&["-x", "abc"]),
        format!("Error: session-expiry-interval not a number.\n\n{HELPS}")
    );
    assert_eq!(
        stderr(&["-x", "12a"]),
        format!("Error: session-expiry-interval not a number.\n\n{HELPS}")
    );
    assert_eq!(
        stderr(&["-x", "4294967296"]),
        format!("Error: session-expiry-interval out of range.\n\n{HELPS}")
    );
    assert_eq!(
        stderr(&["-x", "-2"]),
        format!("Error: session-expiry-interval out of range.\n\n{HELPS}")
    );
}

#[test]
fn persistent_sessions() {
    let a = ok(&["-t", "t", "-n", "-c", "-i", "me", "-V", "5"]);
    assert!(!a.conn.clean_session);
    assert_eq!(
        a.conn.properties.connect.session_expiry_interval,
        Some(u32::MAX)
    );
    let a = ok(&["-t", "t", "-n", "-c", "-i", "me"]);
    assert!(!a.conn.clean_session);
    assert_eq!(a.conn.properties.connect.session_expiry_interval, None);
    assert_eq!(
        stderr(&["-V", "mqttv311", "-c"]),
        format!("Error: You must provide a client id if you are using the -c option.\n{HELPS}")
    );
    assert_eq!(
        stderr(&["-c", "-I", "pre"]),
        format!("Error: You must provide a client id if you are using the -c option.\n{HELPS}")
    );
    assert_eq!(
        stderr(&["-V", "mqttv5", "-x", "-1"]),
        format!(
            "Error: You must provide a client id if you are using an infinite session expiry interval.\n{HELPS}"
        )
    );
    assert_eq!(
        stderr(&["-V", "5", "-c"]),
        format!(
            "Error: You must provide a client id if you are using an infinite session expiry interval.\n{HELPS}"
        )
    );
    // -c with a finite -x needs no id.
    assert!(
        parse(&["-t", "t", "-n", "-V", "5", "-c", "-x", "30"])
            .run()
            .is_some()
    );
}

#[test]
fn client_ids() {
    assert_eq!(
        ok(&["-t", "t", "-n", "-i", "x"]).conn.client_id,
        ClientId::Given("x".into())
    );
    assert_eq!(
        ok(&["-t", "t", "-n", "-i", ""]).conn.client_id,
        ClientId::Given(String::new())
    );
    let id = ok(&["-t", "t", "-n", "-I", "pre-"]).conn.client_id;
    assert_eq!(id, ClientId::Prefix("pre-".into()));
    assert_eq!(
        id.resolve(mqtt_cli::args::Tool::Pub, 10079, "x"),
        "pre-10079"
    );
    assert_eq!(
        ClientId::Generated.resolve(mqtt_cli::args::Tool::Pub, 1, "aB3dE6gH"),
        "mqpub-aB3dE6gH"
    );
}

#[test]
fn url_sets_host_port_credentials_and_topic() {
    let a = ok(&["-L", "mqtt://u:p@broker:1884/a/b", "-n"]);
    assert_eq!(a.topic.as_str(), "a/b");
    assert_eq!((a.conn.host.as_str(), a.conn.port), ("broker", 1884));
    assert_eq!(a.conn.username.as_deref(), Some("u"));
    assert_eq!(a.conn.password.as_deref(), Some(&b"p"[..]));
    assert!(a.conn.tls.is_none());
    assert_eq!(a.conn.url.unwrap().scheme, mqtt_cli::url::Scheme::Mqtt);
    let a = ok(&["-L", "mqtts://broker/t", "-n"]);
    assert_eq!(a.conn.port, 8883);
    assert!(a.conn.tls.unwrap().use_os_certs);
    let a = ok(&["-L", "wss://broker/t", "-n"]);
    assert_eq!(
        a.conn.transport,
        Transport::WebSocket {
            path: "/mqtt".into()
        }
    );
    assert!(a.conn.tls.is_some());
    assert_eq!(
        stderr(&["-L", "http://x/t"]),
        format!("Error: unsupported URL scheme.\n\n{HELPS}")
    );
    assert_eq!(
        stderr(&["-L", "mqtt://x"]),
        format!("Error: Invalid URL for -L argument specified - topic missing.\n{HELPS}")
    );
    assert_eq!(
        stderr(&["-L", "mqtt://x/a/+"]),
        format!("Error: Invalid publish topic 'a/+', does it contain '+' or '#'?\n{HELPS}")
    );
}

#[test]
fn tls_is_turned_on_by_ca_options_and_port_8883() {
    let a = ok(&["-t", "t", "-n", "--cafile", "ca.pem"]);
    assert_eq!(a.conn.port, 8883);
    let tls = a.conn.tls.unwrap();
    assert_eq!(tls.cafile, Some("ca.pem".into()));
    assert!(!tls.use_os_certs);
    let a = ok(&["-t", "t", "-n", "-p", "8883"]);
    assert!(a.conn.tls.unwrap().use_os_certs);
    let a = ok(&[
        "-t",
        "t",
        "-n",
        "--tls-use-os-certs",
        "--insecure",
        "--tls-alpn",
        "mqtt",
        "--tls-version",
        "tlsv1.3",
    ]);
    assert_eq!(a.conn.port, 1883);
    let tls = a.conn.tls.unwrap();
    assert!(tls.insecure);
    assert_eq!(tls.alpn.as_deref(), Some("mqtt"));
    assert_eq!(tls.version, Some(TlsVersion::Tls13));
    let a = ok(&[
        "-t",
        "t",
        "-n",
        "--cafile",
        "ca",
        "--cert",
        "c",
        "--key",
        "k",
        "--keyform",
        "pem",
        "--no-tls",
    ]);
    assert!(a.conn.tls.is_none());
    assert_eq!(a.conn.port, 8883);
    // --insecure alone does not turn TLS on.
    assert!(ok(&["-t", "t", "-n", "--insecure"]).conn.tls.is_none());
}

#[test]
fn tls_combination_errors() {
    assert_eq!(
        stderr(&["--cert", "c"]),
        format!(
            "Error: Both certfile and keyfile must be provided if one of them is set.\n{HELPS}"
        )
    );
    assert_eq!(
        stderr(&["--key", "k"]),
        format!(
            "Error: Both certfile and keyfile must be provided if one of them is set.\n{HELPS}"
        )
    );
    assert_eq!(
        stderr(&["--keyform", "pem"]),
        format!("Error: If keyform is set, keyfile must be also specified.\n{HELPS}")
    );
    assert_eq!(
        stderr(&["--tls-engine-kpass-sha1", "ab"]),
        format!(
            "Error: when using tls-engine-kpass-sha1, both tls-engine and keyform must also be provided.\n{HELPS}"
        )
    );
    assert_eq!(
        stderr(&["--cafile", "file", "--psk", "key"]),
        format!("Error: Only one of --psk or --cafile/--capath may be used at once.\n{HELPS}")
    );
    assert_eq!(
        stderr(&["--capath", "dir", "--psk", "key"]),
        format!("Error: Only one of --psk or --cafile/--capath may be used at once.\n{HELPS}")
    );
    assert_eq!(
        stderr(&["--psk", "key"]),
        format!("Error: --psk-identity required if --psk used.\n{HELPS}")
    );
}

#[test]
fn d16_unsupported_tls_options_fail_clearly() {
    let run = |extra: &[&str]| {
        let mut v = vec!["-t", "t", "-n"];
        v.extend_from_slice(extra);
        stderr(&v)
    };
    assert_eq!(
        run(&["--psk", "00", "--psk-identity", "me"]),
        "Error: --psk is not supported by this build.\n"
    );
    assert_eq!(
        run(&["--tls-engine", "tpm"]),
        "Error: --tls-engine is not supported by this build.\n"
    );
    assert_eq!(
        run(&["--cert", "c", "--key", "k", "--keyform", "engine"]),
        "Error: --keyform engine is not supported by this build.\n"
    );
    assert_eq!(
        run(&["--cert", "c", "--key", "k", "--keyform", "der"]),
        "Error: Problem setting key form, it must be one of 'pem' or 'engine'.\n"
    );
    assert_eq!(
        run(&["--ciphers", "HIGH"]),
        "Error: --ciphers is not supported by this build.\n"
    );
    assert_eq!(
        run(&["--tls-version", "tlsv1.1"]),
        "Error: --tls-version tlsv1.1 is not supported by this build.\n"
    );
    assert_eq!(
        run(&["--tls-version", "tlsv1.0"]),
        "Error: Problem setting TLS options, check the options are valid.\n"
    );
}

#[test]
fn password_without_username() {
    assert_eq!(
        stderr(&["-t", "t", "-n", "-P", "pw"]),
        "Error: Problem setting username and/or password.\n"
    );
    // MQTT 5 allows it.
    assert!(
        parse(&["-t", "t", "-n", "-P", "pw", "-V", "5"])
            .run()
            .is_some()
    );
}

#[test]
fn password_from_environment_and_file() {
    let env = Environment {
        mqtt_password: Some("envpw".into()),
        ..Environment::empty()
    };
    let a = parse_pub_with(&os(&["-t", "t", "-n", "-u", "me"]), None, &env)
        .run()
        .unwrap();
    assert_eq!(a.conn.password.as_deref(), Some(&b"envpw"[..]));
    let a = parse_pub_with(&os(&["-t", "t", "-n", "-u", "me", "-P", "cli"]), None, &env)
        .run()
        .unwrap();
    assert_eq!(a.conn.password.as_deref(), Some(&b"cli"[..]));

    let dir = std::env::temp_dir().join(format!("mqtt-cli-pw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("pw");
    std::fs::write(&file, "filepw\r\n").unwrap();
    let f = file.to_str().unwrap();
    let a = parse_pub_with(
        &os(&["-t", "t", "-n", "-u", "me", "--pw-file", f]),
        None,
        &env,
    )
    .run()
    .unwrap();
    assert_eq!(a.conn.password.as_deref(), Some(&b"filepw"[..]));
    let missing = dir.join("missing");
    let e = parse_pub_with(
        &os(&["-t", "t", "-n", "--pw-file", missing.to_str().unwrap()]),
        None,
        &env,
    )
    .error()
    .unwrap();
    assert_eq!(
        e.stderr,
        format!(
            "Error: Unable to read password file \"{}\": No such file or directory.\n",
            missing.display()
        )
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn will_options() {
    let a = ok(&[
        "-t",
        "t",
        "-n",
        "--will-topic",
        "w",
        "--will-payload",
        "bye",
        "--will-qos",
        "1",
        "--will-retain",
        "-D",
        "will",
        "will-delay-interval",
        "5",
    ]);
    let w = a.conn.will.unwrap();
    assert_eq!(w.topic.as_str(), "w");
    assert_eq!(w.payload, b"bye");
    assert_eq!(w.qos, QoS::AtLeastOnce);
    assert!(w.retain);
    assert_eq!(w.properties.will_delay_interval, Some(5));
    assert_eq!(
        stderr(&["--will-payload", "payload"]),
        format!("Error: Will payload given, but no will topic given.\n{HELPS}")
    );
    assert_eq!(
        stderr(&["--will-retain"]),
        format!("Error: Will retain given, but no will topic given.\n{HELPS}")
    );
    assert_eq!(
        stderr(&["--will-qos", "3"]),
        format!("Error: Invalid will QoS 3.\n\n{HELPS}")
    );
    assert_eq!(
        stderr(&["--will-qos", "x"]),
        format!("Error: Invalid will QoS x.\n\n{HELPS}")
    );
    assert_eq!(
        stderr(&["--will-topic", "w/+"]),
        format!("Error: Invalid will topic 'w/+', does it contain '+' or '#'?\n{HELPS}")
    );
}

#[test]
fn missing_values() {
    for (opt, what) in [
        ("-A", "Error: -A argument given but no address specified."),
        ("-f", "Error: -f argument given but no file specified."),
        ("-h", "Error: -h argument given but no host specified."),
        ("-i", "Error: -i argument given but no id specified."),
        ("-I", "Error: -I argument given but no id prefix specified."),
        ("-k", "Error: -k argument given but no keepalive specified."),
        ("-L", "Error: -L argument given but no URL specified."),
        (
            "-M",
            "Error: -M argument given but max_inflight not specified.",
        ),
        ("-m", "Error: -m argument given but no message specified."),
        (
            "-o",
            "Error: -o argument given but no options file specified.",
        ),
        ("-p", "Error: -p argument given but no port specified."),
        ("-P", "Error: -P argument given but no password specified."),
        (
            "--proxy",
            "Error: --proxy argument given but no proxy url specified.",
        ),
        ("-q", "Error: -q argument given but no QoS specified."),
        (
            "--repeat",
            "Error: --repeat argument given but no count specified.",
        ),
        (
            "--repeat-delay",
            "Error: --repeat-delay argument given but no time specified.",
        ),
        ("-t", "Error: -t argument given but no topic specified."),
        ("-u", "Error: -u argument given but no username specified."),
        (
            "--unix",
            "Error: --unix argument given but no socket path specified.",
        ),
        (
            "-V",
            "Error: --protocol-version argument given but no version specified.",
        ),
        (
            "--will-payload",
            "Error: --will-payload argument given but no will payload specified.",
        ),
        (
            "--will-qos",
            "Error: --will-qos argument given but no will QoS specified.",
        ),
        (
            "--will-topic",
            "Error: --will-topic argument given but no will topic specified.",
        ),
        (
            "-x",
            "Error: -x argument given but no session expiry interval specified.",
        ),
        (
            "--cafile",
            "Error: --cafile argument given but no file specified.",
        ),
        (
            "--capath",
            "Error: --capath argument given but no directory specified.",
        ),
        (
            "--cert",
            "Error: --cert argument given but no file specified.",
        ),
        (
            "--key",
            "Error: --key argument given but no file specified.",
        ),
        (
            "--keyform",
            "Error: --keyform argument given but no keyform specified.",
        ),
        (
            "--ciphers",
            "Error: --ciphers argument given but no ciphers specified.",
        ),
        (
            "--tls-alpn",
            "Error: --tls-alpn argument given but no protocol specified.",
        ),
        (
            "--tls-engine",
            "Error: --tls-engine argument given but no engine_id specified.",
        ),
        (
            "--tls-engine-kpass-sha1",
            "Error: --tls-engine-kpass-sha1 argument given but no kpass sha1 specified.",
        ),
        (
            "--tls-version",
            "Error: --tls-version argument given but no version specified.",
        ),
        ("--psk", "Error: --psk argument given but no key specified."),
        (
            "--psk-identity",
            "Error: --psk-identity argument given but no identity specified.",
        ),
    ] {
        assert_eq!(stderr(&[opt]), format!("{what}\n\n{HELPS}"), "{opt}");
    }
}

#[test]
fn property_errors() {
    let not_enough =
        format!("Error: --property argument given but not enough arguments specified.\n\n{HELPS}");
    assert_eq!(stderr(&["-V", "5", "-D"]), not_enough);
    assert_eq!(stderr(&["-V", "5", "-D", "connect"]), not_enough);
    assert_eq!(
        stderr(&["-V", "5", "-D", "connect", "receive-maximum"]),
        not_enough
    );
    assert_eq!(
        stderr(&["-V", "5", "-D", "connect", "user-property", "key"]),
        not_enough
    );
    assert_eq!(
        stderr(&["-D", "invalid", "receive-maximum", "1"]),
        format!("Error: Invalid command given in --property argument.\n\n{HELPS}")
    );
    assert_eq!(
        stderr(&["-D", "connect", "invalid", "1"]),
        format!("Error: Invalid property name given in --property argument.\n\n{HELPS}")
    );
    assert_eq!(
        stderr(&["-D", "connect", "will-delay-interval", "1"]),
        format!(
            "Error: will-delay-interval property not allowed for connect in --property argument.\n\n{HELPS}"
        )
    );
    assert_eq!(
        stderr(&["-D", "publish", "subscription-identifier", "1"]),
        format!(
            "Error: subscription-identifier property not supported for publish in --property argument.\n\n{HELPS}"
        )
    );
    assert_eq!(
        stderr(&["-D", "connect", "receive-maximum", "65536"]),
        format!(
            "Error: Property value (65536) out of range for property receive-maximum.\n\n{HELPS}"
        )
    );
    // In range but invalid: reported after parsing, like mosquitto_property_check_all.
    assert_eq!(
        stderr(&["-t", "t", "-n", "-D", "connect", "receive-maximum", "0"]),
        format!(
            "Error in CONNECT properties: A network protocol error occurred when communicating with the broker.\n{HELPS}"
        )
    );
    assert_eq!(
        stderr(&[
            "-t",
            "t",
            "-n",
            "-D",
            "publish",
            "content-type",
            "a",
            "-D",
            "publish",
            "content-type",
            "b"
        ]),
        format!(
            "Error in PUBLISH properties: A network protocol error occurred when communicating with the broker.\n{HELPS}"
        )
    );
    assert_eq!(
        stderr(&[
            "-t",
            "t",
            "-n",
            "-i",
            "x",
            "-x",
            "5",
            "-D",
            "connect",
            "session-expiry-interval",
            "1"
        ]),
        format!(
            "Error in CONNECT properties: A network protocol error occurred when communicating with the broker.\n{HELPS}"
        )
    );
}

#[test]
fn invalid_combinations() {
    assert_eq!(
        stderr(&["-i", "id", "-I", "id-prefix"]),
        format!("Error: -i and -I argument cannot be used together.\n\n{HELPS}")
    );
    assert_eq!(
        stderr(&["-I", "id-prefix", "-i", "id"]),
        format!("Error: -i and -I argument cannot be used together.\n\n{HELPS}")
    );
    for args in [
        ["-m", "message", "-f", "file"],
        ["-l", "-m", "message", ""],
        ["-l", "-n", "", ""],
        ["-l", "-s", "", ""],
        ["-n", "-l", "", ""],
    ] {
        let args: Vec<&str> = args.into_iter().filter(|a| !a.is_empty()).collect();
        assert_eq!(
            stderr(&args),
            format!("Error: Only one type of message can be sent at once.\n\n{HELPS}"),
            "{args:?}"
        );
    }
}

#[test]
fn invalid_values() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["-k", "-1"],
            "Error: Invalid keepalive given, it must be between 5 and 65535 inclusive.\n\n",
        ),
        (
            &["-k", "4"],
            "Error: Invalid keepalive given, it must be between 5 and 65535 inclusive.\n\n",
        ),
        (
            &["-k", "65536"],
            "Error: Invalid keepalive given, it must be between 5 and 65535 inclusive.\n\n",
        ),
        (
            &["-M", "0"],
            "Error: Maximum inflight messages must be greater than 0.\n\n",
        ),
        (&["-p", "-1"], "Error: Invalid port given: -1\n"),
        (&["-p", "65536"], "Error: Invalid port given: 65536\n"),
        (&["-p", "70000"], "Error: Invalid port given: 70000\n"),
        (&["-q", "-1"], "Error: Invalid QoS given: -1\n"),
        (&["-q", "3"], "Error: Invalid QoS given: 3\n"),
        // D6
        (&["-q", "abc"], "Error: Invalid QoS given: abc\n"),
        (&["-p", "abc"], "Error: Invalid port given: abc\n"),
        (&["-p", ""], "Error: Invalid port given: \n"),
        (&["-q", "-"], "Error: Invalid QoS given: -\n"),
        (
            &["--repeat", "0"],
            "Error: --repeat argument must be >0.\n\n",
        ),
        (
            &["--repeat-delay", "-1"],
            "Error: --repeat-delay argument must be >=0.0.\n\n",
        ),
        (
            &["-t", "topic/+"],
            "Error: Invalid publish topic 'topic/+', does it contain '+' or '#'?\n",
        ),
        (
            &["-t", "topic/#"],
            "Error: Invalid publish topic 'topic/#', does it contain '+' or '#'?\n",
        ),
        // D5
        (
            &["-t", ""],
            "Error: Invalid publish topic '', does it contain '+' or '#'?\n",
        ),
        // `http://` is accepted (HTTP CONNECT, an addition); other schemes are refused.
        (
            &["--proxy", "socks5://p"],
            "Error: Unsupported proxy protocol: socks5://p\n",
        ),
        (
            &["--proxy", "socks5h://p:99999"],
            "Error: Invalid proxy port 99999\n",
        ),
    ];
    for (args, msg) in cases {
        assert_eq!(stderr(args), format!("{msg}{HELPS}"), "{args:?}");
    }
}

#[cfg(unix)]
#[test]
fn malformed_utf8_topic() {
    use std::os::unix::ffi::OsStringExt as _;
    let args = vec![OsString::from("-t"), OsString::from_vec(vec![b'a', 0xff])];
    let e = parse_pub_with(&args, None, &Environment::empty())
        .error()
        .unwrap();
    assert_eq!(
        e.stderr,
        format!("Error: Malformed UTF-8 in -t argument.\n\n{HELPS}")
    );
    // Payloads are bytes: no UTF-8 needed.
    let args = vec![
        "-t".into(),
        "t".into(),
        "-m".into(),
        OsString::from_vec(vec![0xff, 0]),
    ];
    let a = parse_pub_with(&args, None, &Environment::empty())
        .run()
        .unwrap();
    assert_eq!(a.message, MessageSource::Message(vec![0xff, 0]));
}

#[test]
fn unknown_options() {
    for opt in [
        "--unknown",
        "-C",
        "-e",
        "-E",
        "-F",
        "-N",
        "--pretty",
        "-R",
        "--random-filter",
        "--remove-retained",
        "--retain-as-published",
        "--retain-handling",
        "--retained-only",
        "-T",
        "-U",
        "-v",
        "-W",
        "-w",
        "-S",
        "-qq",
        "-tsensor",
        "--topic=sensor",
        "stray",
        "--json",
        "--no-reconnect",
    ] {
        assert_eq!(
            stderr(&[opt, "x"]),
            format!("Error: Unknown option '{opt}'.\n{HELPS}"),
            "{opt}"
        );
    }
}

#[test]
fn missing_topic_or_message_prints_usage_on_stdout() {
    for args in [&[][..], &["-t", "t"], &["-m", "m"]] {
        let e = err(args);
        assert_eq!(
            e.stderr,
            "Error: Both topic and message must be supplied.\n"
        );
        assert!(
            e.stdout.starts_with("mqpub is a simple mqtt client"),
            "{}",
            e.stdout
        );
        assert_eq!(e.exit_code, 1);
    }
}

#[test]
fn help_and_version_d13() {
    let Parsed::Help(h) = parse(&["-t", "t", "--help", "--bogus"]) else {
        panic!()
    };
    assert!(h.starts_with("mqpub is a simple mqtt client"));
    assert!(h.contains("Usage: mqpub"));
    assert!(h.contains("mqpub- followed by 8 random"));
    let Parsed::Version(v) = parse(&["--version"]) else {
        panic!()
    };
    assert_eq!(
        v,
        format!(
            "mqpub version {0} running on mqtt-proto {0}.\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    // An error before --help wins, as in mosquitto.
    assert!(parse(&["--bogus", "--help"]).error().is_some());
}

#[test]
fn unix_socket_and_port_zero() {
    let a = ok(&["-t", "t", "-n", "--unix", "/tmp/m.sock"]);
    assert_eq!(
        a.conn.transport,
        Transport::Unix {
            path: "/tmp/m.sock".into()
        }
    );
    assert_eq!(a.conn.port, 0);
    let a = ok(&["-t", "t", "-n", "-h", "/tmp/x", "-p", "0"]);
    assert_eq!(
        a.conn.transport,
        Transport::Unix {
            path: "/tmp/x".into()
        }
    );
}

#[test]
fn misc_flags() {
    let a = ok(&[
        "-t",
        "t",
        "-n",
        "-d",
        "--quiet",
        "--nodelay",
        "-A",
        "10.0.0.1",
        "--ws",
        "--connect-timeout",
        "5",
        "--strict-exit",
        "--proxy",
        "socks5h://p",
    ]);
    assert!(a.conn.debug && a.conn.quiet && a.conn.nodelay && a.conn.strict_exit);
    assert_eq!(a.conn.bind_address.as_deref(), Some("10.0.0.1"));
    assert_eq!(
        a.conn.transport,
        Transport::WebSocket {
            path: "/mqtt".into()
        }
    );
    assert_eq!(a.conn.connect_timeout, Some(5));
    assert_eq!(a.conn.proxy.unwrap().port, 1080);
    assert_eq!(
        stderr(&["--connect-timeout", "0"]),
        format!("Error: Invalid connect timeout \"0\".\n\n{HELPS}")
    );
}

#[test]
fn pw_prompt_precedence() {
    let env = Environment {
        mqtt_password: Some("envpw".into()),
        ..Environment::empty()
    };
    // --pw-prompt wins over $MQTT_PASSWORD and --pw-file (which is then not even read).
    let a = parse_pub_with(
        &os(&[
            "-t",
            "t",
            "-n",
            "-u",
            "me",
            "--pw-file",
            "/nonexistent/pw",
            "--pw-prompt",
        ]),
        None,
        &env,
    )
    .run()
    .unwrap();
    assert!(a.conn.password_prompt);
    assert_eq!(a.conn.password, None);
    // -P wins over --pw-prompt, in either order.
    for args in [
        ["-t", "t", "-n", "-u", "me", "-P", "cli", "--pw-prompt"],
        ["-t", "t", "-n", "-u", "me", "--pw-prompt", "-P", "cli"],
    ] {
        let a = parse_pub_with(&os(&args), None, &env).run().unwrap();
        assert!(!a.conn.password_prompt);
        assert_eq!(a.conn.password.as_deref(), Some(&b"cli"[..]));
    }
    // So does the password of a -L URL.
    let a = ok(&["-L", "mqtt://me:url@h/t", "-n", "--pw-prompt"]);
    assert!(!a.conn.password_prompt);
    assert_eq!(a.conn.password.as_deref(), Some(&b"url"[..]));
    // Without it, nothing to prompt for.
    assert!(!ok(&["-t", "t", "-n"]).conn.password_prompt);
    // v3.x needs a username for a password, prompted or not.
    assert_eq!(
        err(&["-t", "t", "-n", "--pw-prompt"]).stderr,
        "Error: Problem setting username and/or password.\n"
    );
    assert!(
        ok(&["-t", "t", "-n", "--pw-prompt", "-V", "5"])
            .conn
            .password_prompt
    );
}

#[test]
fn pw_file_does_not_override_p() {
    // DIFFERENCES.md: -P wins over --pw-file (which is then not read).
    let a = ok(&[
        "-t",
        "t",
        "-n",
        "-u",
        "me",
        "-P",
        "cli",
        "--pw-file",
        "/nonexistent/pw",
    ]);
    assert_eq!(a.conn.password.as_deref(), Some(&b"cli"[..]));
}
