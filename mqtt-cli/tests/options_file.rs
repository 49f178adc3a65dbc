//! The options file (`~/.config/mqpub`, `$XDG_CONFIG_HOME/mqsub`, `-o FILE`) and its
//! precedence over / merging with the command line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsString;
use std::path::PathBuf;

use mqtt_cli::args::{Parsed, parse_pub, parse_pub_with, parse_sub, parse_sub_with};
use mqtt_cli::config::Environment;
use mqtt_cli::format::{MessageView, format_message};
use mqtt_cli::time::SystemClock;
use mqtt_proto::QoS;

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// A fresh directory under the system temp dir.
fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mqtt-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn command_line_scalars_override_the_file() {
    let file = b"-h filehost\n-q 2\n-p 1999\n";
    let a = parse_pub_with(
        &os(&["-t", "t", "-n", "-q", "1"]),
        Some(file),
        &Environment::empty(),
    )
    .run()
    .unwrap();
    assert_eq!(a.conn.host, "filehost");
    assert_eq!(a.conn.port, 1999);
    assert_eq!(a.qos, QoS::AtLeastOnce);
}

#[test]
fn sub_topics_and_filters_accumulate_across_file_and_argv() {
    let file = b"-t file/#\n-T file/x\n";
    let a = parse_sub_with(
        &os(&["-t", "cli/#", "-T", "cli/x"]),
        Some(file),
        &Environment::empty(),
    )
    .run()
    .unwrap();
    let t: Vec<&str> = a.topics.iter().map(|f| f.as_str()).collect();
    assert_eq!(t, ["file/#", "cli/#"]);
    let t: Vec<&str> = a.filter_out.iter().map(|f| f.as_str()).collect();
    assert_eq!(t, ["file/x", "cli/x"]);
}

#[test]
fn pub_topic_on_the_command_line_replaces_the_file_one() {
    let a = parse_pub_with(
        &os(&["-t", "cli", "-n"]),
        Some(b"-t file\n"),
        &Environment::empty(),
    )
    .run()
    .unwrap();
    assert_eq!(a.topic.as_str(), "cli");
}

#[test]
fn message_in_file_conflicts_with_message_on_command_line() {
    let e = parse_pub_with(
        &os(&["-t", "t", "-m", "x"]),
        Some(b"-n\n"),
        &Environment::empty(),
    )
    .error()
    .unwrap();
    assert_eq!(
        e.stderr,
        "Error: Only one type of message can be sent at once.\n\n\nUse 'mqpub --help' to see usage.\n"
    );
}

#[test]
fn values_keep_spaces_and_quotes() {
    let a = parse_sub_with(
        &os(&["-t", "q/x"]),
        Some(b"-F \"%t %p\" quoted\n"),
        &Environment::empty(),
    )
    .run()
    .unwrap();
    let out = format_message(
        &a.output,
        &MessageView::new("q/x", b"pay"),
        &SystemClock::default(),
    )
    .0;
    assert_eq!(out, b"\"q/x pay\" quoted\n");
}

#[test]
fn comments_crlf_and_blank_lines() {
    let file = b"# -q 5\r\n\r\n-u user\r\n-P pass\r\n";
    let a = parse_pub_with(&os(&["-t", "t", "-n"]), Some(file), &Environment::empty())
        .run()
        .unwrap();
    assert_eq!(a.conn.username.as_deref(), Some("user"));
    assert_eq!(a.conn.password.as_deref(), Some(&b"pass"[..]));
}

#[test]
fn unknown_option_in_file_aborts() {
    let e = parse_sub_with(&os(&["-t", "t"]), Some(b"-z 1\n"), &Environment::empty())
        .error()
        .unwrap();
    assert_eq!(
        e.stderr,
        "Error: Unknown option '-z'.\n\nUse 'mqsub --help' to see usage.\n"
    );
    assert_eq!(e.exit_code, 1);
}

#[test]
fn each_line_is_parsed_on_its_own() {
    // The value must be on the same line.
    let e = parse_sub_with(
        &os(&["-t", "t"]),
        Some(b"-h\nhost\n"),
        &Environment::empty(),
    )
    .error()
    .unwrap();
    assert!(
        e.stderr
            .starts_with("Error: -h argument given but no host specified.\n\n")
    );
    // -D cannot be used in the file: its words are one value (as in mosquitto).
    let e = parse_sub_with(
        &os(&["-t", "t"]),
        Some(b"-D connect receive-maximum 5\n"),
        &Environment::empty(),
    )
    .error()
    .unwrap();
    assert!(
        e.stderr
            .starts_with("Error: --property argument given but not enough arguments specified.")
    );
}

#[test]
fn flags_in_the_file_apply() {
    let a = parse_sub_with(
        &os(&["-t", "t"]),
        Some(b"-v\n-d\n-c\n-i me\n"),
        &Environment::empty(),
    )
    .run()
    .unwrap();
    assert!(a.output.verbose && a.conn.debug && !a.conn.clean_session);
}

#[test]
fn default_file_is_found_through_xdg_config_home_and_home() {
    let xdg = tempdir("xdg");
    std::fs::write(xdg.join("mqsub"), "-h xdghost\n").unwrap();
    let home = tempdir("home");
    std::fs::create_dir_all(home.join(".config")).unwrap();
    std::fs::write(home.join(".config").join("mqsub"), "-h homehost\n").unwrap();
    std::fs::write(home.join(".config").join("mqpub"), "-h pubhost\n").unwrap();

    let both = Environment {
        xdg_config_home: Some(xdg.clone().into()),
        home: Some(home.clone().into()),
        mqtt_password: None,
    };
    let a = parse_sub(["-t", "t"], &both).run().unwrap();
    assert_eq!(a.conn.host, "xdghost");

    let home_only = Environment {
        xdg_config_home: None,
        ..both.clone()
    };
    assert_eq!(
        parse_sub(["-t", "t"], &home_only).run().unwrap().conn.host,
        "homehost"
    );
    assert_eq!(
        parse_pub(["-t", "t", "-n"], &home_only)
            .run()
            .unwrap()
            .conn
            .host,
        "pubhost"
    );

    // XDG_CONFIG_HOME set but without the file: ~/.config is not read.
    std::fs::remove_file(xdg.join("mqsub")).unwrap();
    assert_eq!(
        parse_sub(["-t", "t"], &both).run().unwrap().conn.host,
        "localhost"
    );

    // Neither variable: no file.
    assert_eq!(
        parse_sub(["-t", "t"], &Environment::empty())
            .run()
            .unwrap()
            .conn
            .host,
        "localhost"
    );
    std::fs::remove_dir_all(&xdg).unwrap();
    std::fs::remove_dir_all(&home).unwrap();
}

#[test]
fn dash_o_replaces_the_default_file() {
    let home = tempdir("dash-o");
    std::fs::create_dir_all(home.join(".config")).unwrap();
    std::fs::write(home.join(".config").join("mqsub"), "-h default\n").unwrap();
    let other = home.join("mosquitto_sub");
    std::fs::write(&other, "-h other\n-v\n").unwrap();
    let env = Environment {
        home: Some(home.clone().into()),
        ..Environment::empty()
    };
    let o = other.to_str().unwrap();
    let a = parse_sub(["-t", "t", "-o", o], &env).run().unwrap();
    assert_eq!(a.conn.host, "other");
    assert!(a.output.verbose);
    // -o is found wherever it is, but not as the value of another option.
    let a = parse_sub(["-F", "-o", "-t", "t"], &env).run().unwrap();
    assert_eq!(a.conn.host, "default");

    let e = parse_sub(["-t", "t", "-o", o, "-o", o], &env)
        .error()
        .unwrap();
    assert_eq!(
        e.stderr,
        "Error: Duplicate -o argument given.\n\n\nUse 'mqsub --help' to see usage.\n"
    );
    let missing = home.join("missing");
    let e = parse_sub(["-t", "t", "-o", missing.to_str().unwrap()], &env)
        .error()
        .unwrap();
    assert_eq!(
        e.stderr,
        format!(
            "Error: Unable to open options file \"{}\": No such file or directory.\n",
            missing.display()
        )
    );
    let Parsed::Error(e) = parse_pub(["-o"], &env) else {
        panic!()
    };
    assert_eq!(
        e.stderr,
        "Error: -o argument given but no options file specified.\n\n\nUse 'mqpub --help' to see usage.\n"
    );
    std::fs::remove_dir_all(&home).unwrap();
}
