//! mqpub's own options: the topic, where the message comes from (exactly one of
//! `-m -f -l -n -s`), retain and repetition.

use crate::args::flag::{For, Kind, Opt};
use crate::args::model::MessageSource;
use crate::args::state::State;
use crate::cnum::{atof, atoll, os_to_bytes};

pub(crate) const FILE: Opt = Opt {
    short: Some('f'),
    long: Some("file"),
    tools: For::Pub,
    summary: "Send the contents of a file",
    help: "send the contents of a file as the message.",
    kind: Kind::value(
        "FILE",
        "Error: -f argument given but no file specified.\n\n",
        |st, v| st.set_message(MessageSource::File(v.into())),
    )
    // "Only one type of message" comes before the missing value's message, as in mosquitto.
    .guard(State::no_message_yet),
};

pub(crate) const STDIN_LINE: Opt = Opt {
    short: Some('l'),
    long: Some("stdin-line"),
    tools: For::Pub,
    summary: "One message per stdin line",
    help: "read messages from stdin, sending a separate message for each line.",
    kind: Kind::Switch(|st| st.set_message(MessageSource::StdinLine)),
};

pub(crate) const MESSAGE: Opt = Opt {
    short: Some('m'),
    long: Some("message"),
    tools: For::Pub,
    summary: "Message payload",
    help: "message payload to send.",
    kind: Kind::value(
        "MESSAGE",
        "Error: -m argument given but no message specified.\n\n",
        |st, v| {
            let b = os_to_bytes(v);
            if b.len() > 268_435_455 {
                return Err(
                    "Error: Message length must be less than 268435455 bytes.\n\n".to_owned(),
                );
            }
            st.set_message(MessageSource::Message(b))
        },
    )
    .guard(State::no_message_yet),
};

pub(crate) const NULL_MESSAGE: Opt = Opt {
    short: Some('n'),
    long: Some("null-message"),
    tools: For::Pub,
    summary: "Send a zero-length message",
    help: "send a null (zero length) message.",
    kind: Kind::Switch(|st| st.set_message(MessageSource::Null)),
};

pub(crate) const RETAIN: Opt = Opt {
    short: Some('r'),
    long: Some("retain"),
    tools: For::Pub,
    summary: "Retain the message",
    help: "message should be retained.",
    kind: Kind::Switch(|st| {
        st.publish.retain = true;
        Ok(())
    }),
};

pub(crate) const STDIN_FILE: Opt = Opt {
    short: Some('s'),
    long: Some("stdin-file"),
    tools: For::Pub,
    summary: "Send all of stdin as one message",
    help: "read message from stdin, sending the entire input as a message.",
    kind: Kind::Switch(|st| st.set_message(MessageSource::StdinFile)),
};

/// mqpub's `-t`: one topic name, a later one replaces it (mqsub's is in `subscribe`).
pub(crate) const TOPIC: Opt = Opt {
    short: Some('t'),
    long: Some("topic"),
    tools: For::Pub,
    summary: "Topic to publish to",
    help: "mqtt topic to publish to.",
    kind: Kind::value(
        "TOPIC",
        "Error: -t argument given but no topic specified.\n\n",
        |st, v| st.add_topic(v, "-t"),
    ),
};

pub(crate) const REPEAT: Opt = Opt {
    short: None,
    long: Some("repeat"),
    tools: For::Pub,
    summary: "Publish the message this many times",
    help: "if publish mode is -f, -m, or -s, then repeat the publish N times.",
    kind: Kind::value(
        "COUNT",
        "Error: --repeat argument given but no count specified.\n\n",
        |st, v| {
            let n = atoll(v);
            if n < 1 {
                return Err("Error: --repeat argument must be >0.\n\n".to_owned());
            }
            st.publish.repeat = u32::try_from(n).unwrap_or(u32::MAX);
            Ok(())
        },
    ),
};

pub(crate) const REPEAT_DELAY: Opt = Opt {
    short: None,
    long: Some("repeat-delay"),
    tools: For::Pub,
    summary: "Delay between repeats",
    help: "if using --repeat, wait time seconds between publishes. Defaults to 0.",
    kind: Kind::value(
        "SECONDS",
        "Error: --repeat-delay argument given but no time specified.\n\n",
        |st, v| {
            let f = atof(v);
            if f < 0.0 {
                return Err("Error: --repeat-delay argument must be >=0.0.\n\n".to_owned());
            }
            st.publish.repeat_delay = f;
            Ok(())
        },
    ),
};

pub(crate) const TOPIC_ALIASES: Opt = Opt {
    short: None,
    long: Some("topic-aliases"),
    tools: For::Pub,
    summary: "Use topic aliases when the broker allows them (v5)",
    help: "MQTT v5: use topic aliases when the broker allows them (the topic is\n\
           sent once, later messages carry only its alias).",
    kind: Kind::Switch(|st| {
        st.publish.topic_aliases = true;
        Ok(())
    }),
};

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::args::model::MessageSource;
    use crate::args::testing::{pub_ok, pub_says, sub_says};

    const ONLY_ONE: &str = "Error: Only one type of message can be sent at once.";

    #[test]
    fn file() {
        assert_eq!(
            pub_ok(&["-f", "/p"]).message,
            MessageSource::File("/p".into())
        );
        assert_eq!(pub_says(&["-m", "x", "--file", "/p"]), ONLY_ONE);
        assert_eq!(pub_says(&["-m", "x", "-f"]), ONLY_ONE);
        assert_eq!(
            pub_says(&["-f"]),
            "Error: -f argument given but no file specified."
        );
        assert_eq!(sub_says(&["-f", "/p"]), "Error: Unknown option '-f'.");
    }

    #[test]
    fn stdin_line() {
        assert_eq!(pub_ok(&["-l"]).message, MessageSource::StdinLine);
        assert_eq!(pub_says(&["--stdin-line", "-n"]), ONLY_ONE);
    }

    #[test]
    fn message() {
        // The next word, verbatim, even when it looks like an option.
        assert_eq!(
            pub_ok(&["-m", "-5"]).message,
            MessageSource::Message(b"-5".to_vec())
        );
        assert_eq!(pub_says(&["-m", "a", "-m", "b"]), ONLY_ONE);
        assert_eq!(pub_says(&["-n", "-m"]), ONLY_ONE);
        assert_eq!(
            pub_says(&["--message"]),
            "Error: -m argument given but no message specified."
        );
    }

    #[test]
    fn null_message() {
        assert_eq!(pub_ok(&["-n"]).message, MessageSource::Null);
        assert_eq!(pub_says(&["--null-message", "-s"]), ONLY_ONE);
    }

    #[test]
    fn retain() {
        assert!(!pub_ok(&[]).retain);
        assert!(pub_ok(&["-r"]).retain);
        assert!(pub_ok(&["--retain"]).retain);
        assert_eq!(sub_says(&["-r"]), "Error: Unknown option '-r'.");
    }

    #[test]
    fn stdin_file() {
        assert_eq!(pub_ok(&["-s"]).message, MessageSource::StdinFile);
        assert_eq!(pub_says(&["--stdin-file", "-l"]), ONLY_ONE);
    }

    #[test]
    fn topic() {
        // A later -t replaces the earlier one.
        assert_eq!(pub_ok(&["-t", "a", "--topic", "b"]).topic.as_str(), "b");
        assert_eq!(
            pub_says(&["-t", "a/#"]),
            "Error: Invalid publish topic 'a/#', does it contain '+' or '#'?"
        );
        // D5.
        assert_eq!(
            pub_says(&["-t", ""]),
            "Error: Invalid publish topic '', does it contain '+' or '#'?"
        );
    }

    #[test]
    fn repeat() {
        assert_eq!(pub_ok(&[]).repeat, 1);
        assert_eq!(pub_ok(&["--repeat", "3x"]).repeat, 3);
        assert_eq!(
            pub_says(&["--repeat", "0"]),
            "Error: --repeat argument must be >0."
        );
    }

    #[test]
    fn repeat_delay() {
        assert_eq!(pub_ok(&[]).repeat_delay, Duration::ZERO);
        assert_eq!(
            pub_ok(&["--repeat-delay", "0.25"]).repeat_delay,
            Duration::from_millis(250)
        );
        assert_eq!(
            pub_says(&["--repeat-delay", "-1"]),
            "Error: --repeat-delay argument must be >=0.0."
        );
    }

    #[test]
    fn topic_aliases() {
        assert!(!pub_ok(&[]).topic_aliases);
        assert!(pub_ok(&["--topic-aliases"]).topic_aliases);
    }
}
