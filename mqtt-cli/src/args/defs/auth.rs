//! Credentials and the will, for both tools: `-u -P --pw-file --pw-prompt` and
//! `--will-topic --will-payload --will-qos --will-retain`.

use mqtt_proto::TopicName;

use crate::args::flag::{For, Kind, Opt};
use crate::args::state::text;
use crate::cnum::{atoll, is_integer, os_to_bytes};

pub(crate) const USERNAME: Opt = Opt {
    short: Some('u'),
    long: Some("username"),
    tools: For::Both,
    summary: "User name",
    help: "provide a username",
    kind: Kind::value(
        "USERNAME",
        "Error: -u argument given but no username specified.\n\n",
        |st, v| {
            st.auth.username = Some(text(v, "-u")?);
            Ok(())
        },
    ),
};

pub(crate) const PASSWORD: Opt = Opt {
    short: Some('P'),
    long: Some("pw"),
    tools: For::Both,
    summary: "Password",
    help: "provide a password",
    kind: Kind::value(
        "PASSWORD",
        "Error: -P argument given but no password specified.\n\n",
        |st, v| {
            st.auth.password = Some(os_to_bytes(v));
            Ok(())
        },
    ),
};

/// An addition; the file is read once everything is parsed.
pub(crate) const PW_FILE: Opt = Opt {
    short: None,
    long: Some("pw-file"),
    tools: For::Both,
    summary: "Read the password from a file",
    help: "read the password from this file (a trailing newline is removed).\n\
           The MQTT_PASSWORD environment variable is used when no password is given.",
    kind: Kind::value(
        "FILE",
        "Error: --pw-file argument given but no file specified.\n\n",
        |st, v| {
            st.auth.pw_file = Some(v.into());
            Ok(())
        },
    ),
};

/// An addition; the password is read at run time.
pub(crate) const PW_PROMPT: Opt = Opt {
    short: None,
    long: Some("pw-prompt"),
    tools: For::Both,
    summary: "Ask for the password on the terminal",
    help: "ask for the password on the terminal, without echo (-P wins over it,\n\
           it wins over --pw-file and MQTT_PASSWORD).",
    kind: Kind::Switch(|st| {
        st.auth.pw_prompt = true;
        Ok(())
    }),
};

pub(crate) const WILL_PAYLOAD: Opt = Opt {
    short: None,
    long: Some("will-payload"),
    tools: For::Both,
    summary: "Will payload",
    help: "payload for the client Will, which is sent by the broker in case of\n\
           unexpected disconnection. If not given and will-topic is set, a zero\n\
           length message will be sent.",
    kind: Kind::value(
        "PAYLOAD",
        "Error: --will-payload argument given but no will payload specified.\n\n",
        |st, v| {
            st.will.payload = Some(os_to_bytes(v));
            Ok(())
        },
    ),
};

/// **D6**, extended to the will QoS.
pub(crate) const WILL_QOS: Opt = Opt {
    short: None,
    long: Some("will-qos"),
    tools: For::Both,
    summary: "Will QoS",
    help: "QoS level for the client Will.",
    kind: Kind::value(
        "QOS",
        "Error: --will-qos argument given but no will QoS specified.\n\n",
        |st, v| {
            if !is_integer(v) {
                return Err(format!(
                    "Error: Invalid will QoS {}.\n\n",
                    v.to_string_lossy()
                ));
            }
            let q = atoll(v);
            if !(0..=2).contains(&q) {
                return Err(format!("Error: Invalid will QoS {q}.\n\n"));
            }
            st.will.qos = q as u8;
            Ok(())
        },
    )
    .choices(&["0", "1", "2"]),
};

pub(crate) const WILL_RETAIN: Opt = Opt {
    short: None,
    long: Some("will-retain"),
    tools: For::Both,
    summary: "Retain the will",
    help: "if given, make the client Will retained.",
    kind: Kind::Switch(|st| {
        st.will.retain = true;
        Ok(())
    }),
};

/// **D5**: the empty topic is rejected too.
pub(crate) const WILL_TOPIC: Opt = Opt {
    short: None,
    long: Some("will-topic"),
    tools: For::Both,
    summary: "Will topic",
    help: "the topic on which to publish the client Will.",
    kind: Kind::value(
        "TOPIC",
        "Error: --will-topic argument given but no will topic specified.\n\n",
        |st, v| {
            let s = text(v, "--will-topic")?;
            let t = TopicName::new(s.clone()).map_err(|_| {
                format!("Error: Invalid will topic '{s}', does it contain '+' or '#'?\n")
            })?;
            st.will.topic = Some(t);
            Ok(())
        },
    ),
};

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use mqtt_proto::QoS;

    use crate::args::testing::{pub_ok, pub_says, sub_ok, sub_says};

    #[test]
    fn username() {
        assert_eq!(pub_ok(&[]).conn.username, None);
        assert_eq!(
            pub_ok(&["--username", "me"]).conn.username.as_deref(),
            Some("me")
        );
    }

    #[test]
    fn password() {
        let a = pub_ok(&["-u", "me", "--pw", "-secret"]);
        assert_eq!(a.conn.password.as_deref(), Some(&b"-secret"[..]));
        // [MQTT-3.1.2-22] on 3.1.1: no password without a user name.
        assert_eq!(
            pub_says(&["-P", "x", "-t", "t", "-m", "m"]),
            "Error: Problem setting username and/or password."
        );
    }

    #[test]
    fn pw_file() {
        let dir = std::env::temp_dir().join(format!("mqtt-cli-pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pw");
        std::fs::write(&path, b"s3cret\r\n").unwrap();
        let p = path.to_str().unwrap();
        let a = sub_ok(&["-u", "me", "--pw-file", p]);
        assert_eq!(a.conn.password.as_deref(), Some(&b"s3cret"[..]));
        // -P wins.
        let a = sub_ok(&["-u", "me", "--pw-file", p, "-P", "x"]);
        assert_eq!(a.conn.password.as_deref(), Some(&b"x"[..]));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            sub_says(&["-u", "me", "--pw-file", "/nonexistent/pw", "-t", "t"])
                .starts_with("Error: Unable to read password file \"/nonexistent/pw\": ")
        );
    }

    #[test]
    fn pw_prompt() {
        let a = pub_ok(&["-u", "me", "--pw-prompt"]);
        assert!(a.conn.password_prompt);
        assert_eq!(a.conn.password, None);
        assert!(
            !pub_ok(&["-u", "me", "--pw-prompt", "-P", "x"])
                .conn
                .password_prompt
        );
    }

    #[test]
    fn will_payload() {
        let a = pub_ok(&["--will-topic", "w", "--will-payload", "bye"]);
        assert_eq!(a.conn.will.unwrap().payload, b"bye");
        assert_eq!(
            pub_says(&["--will-payload", "bye"]),
            "Error: Will payload given, but no will topic given."
        );
    }

    #[test]
    fn will_qos() {
        let a = sub_ok(&["--will-topic", "w", "--will-qos", "1"]);
        assert_eq!(a.conn.will.unwrap().qos, QoS::AtLeastOnce);
        assert_eq!(sub_says(&["--will-qos", "x"]), "Error: Invalid will QoS x.");
        assert_eq!(sub_says(&["--will-qos", "3"]), "Error: Invalid will QoS 3.");
    }

    #[test]
    fn will_retain() {
        assert!(
            pub_ok(&["--will-topic", "w", "--will-retain"])
                .conn
                .will
                .unwrap()
                .retain
        );
        assert_eq!(
            pub_says(&["--will-retain"]),
            "Error: Will retain given, but no will topic given."
        );
    }

    #[test]
    fn will_topic() {
        assert_eq!(pub_ok(&[]).conn.will, None);
        let w = pub_ok(&["--will-topic", "a/b"]).conn.will.unwrap();
        assert_eq!(w.topic.as_str(), "a/b");
        assert!(w.payload.is_empty());
        assert_eq!(
            pub_says(&["--will-topic", "a/+"]),
            "Error: Invalid will topic 'a/+', does it contain '+' or '#'?"
        );
    }
}
