//! The MQTT client's own settings, for both tools: client id, clean session and session
//! expiry, keep alive, inflight limit, QoS, and `-D` properties.

use mqtt_proto::ProtocolVersion;

use crate::args::flag::{For, Kind, Opt};
use crate::args::state::{Fail, State, text};
use crate::cnum::{atoll, is_integer, strtol_whole};
use crate::props;

pub(crate) const CLEAN_SESSION: Opt = Opt {
    short: Some('c'),
    long: Some("disable-clean-session"),
    tools: For::Both,
    summary: "Persistent session",
    help: "disable clean session/enable persistent client mode. When this argument is used,\n\
           the broker will be instructed not to clean existing sessions for the same client\n\
           id when the client connects, and sessions will never expire when the client\n\
           disconnects. MQTT v5 clients can change their session expiry interval with the\n\
           -x argument.",
    kind: Kind::Switch(|st| {
        st.session.clean = false;
        Ok(())
    }),
};

pub(crate) const PROPERTY: Opt = Opt {
    short: Some('D'),
    long: Some("property"),
    tools: For::Both,
    summary: "Add an MQTT v5 property",
    help: "Define MQTT v5 properties. See the documentation for more details.",
    kind: Kind::Property(|st, words| {
        let parsed = props::parse_property(words, &mut st.session.props)?;
        if let Some(p) = parsed.deferred {
            st.session.deferred.push(p);
        }
        st.session.protocol = ProtocolVersion::V5;
        Ok(parsed.consumed)
    }),
};

/// mosquitto checks `-i` against `-I` before it looks for the value.
fn no_id_prefix(st: &State) -> Result<(), Fail> {
    match st.session.id_prefix {
        Some(_) => Err("Error: -i and -I argument cannot be used together.\n\n".to_owned()),
        None => Ok(()),
    }
}

fn no_id(st: &State) -> Result<(), Fail> {
    match st.session.id {
        Some(_) => Err("Error: -i and -I argument cannot be used together.\n\n".to_owned()),
        None => Ok(()),
    }
}

/// **D14**: without it the id is generated client-side.
pub(crate) const ID: Opt = Opt {
    short: Some('i'),
    long: Some("id"),
    tools: For::Both,
    summary: "Client id",
    help: "id to use for this client. Defaults to <tool>- followed by 8 random\n\
           letters and digits, for every protocol version.",
    kind: Kind::value(
        "ID",
        "Error: -i argument given but no id specified.\n\n",
        |st, v| {
            st.session.id = Some(text(v, "-i")?);
            Ok(())
        },
    )
    .guard(no_id_prefix),
};

pub(crate) const ID_PREFIX: Opt = Opt {
    short: Some('I'),
    long: Some("id-prefix"),
    tools: For::Both,
    summary: "Client id prefix (+ process id)",
    help: "define the client id as id_prefix appended with the process id of the client.",
    kind: Kind::value(
        "PREFIX",
        "Error: -I argument given but no id prefix specified.\n\n",
        |st, v| {
            st.session.id_prefix = Some(text(v, "-I")?);
            Ok(())
        },
    )
    .guard(no_id),
};

pub(crate) const KEEPALIVE: Opt = Opt {
    short: Some('k'),
    long: Some("keepalive"),
    tools: For::Both,
    summary: "Keep alive (default 60)",
    help: "keep alive in seconds for this client. Defaults to 60.",
    kind: Kind::value(
        "SECONDS",
        "Error: -k argument given but no keepalive specified.\n\n",
        |st, v| {
            let k = atoll(v);
            if !(5..=65535).contains(&k) {
                return Err(
                    "Error: Invalid keepalive given, it must be between 5 and 65535 inclusive.\n\n"
                        .to_owned(),
                );
            }
            st.session.keepalive = u16::try_from(k).unwrap_or(60);
            Ok(())
        },
    ),
};

pub(crate) const MAX_INFLIGHT: Opt = Opt {
    short: Some('M'),
    long: None,
    tools: For::Both,
    summary: "Maximum in-flight QoS 1/2 messages",
    help: "the maximum inflight messages for QoS 1/2.",
    kind: Kind::value(
        "COUNT",
        "Error: -M argument given but max_inflight not specified.\n\n",
        |st, v| {
            let n = atoll(v);
            if n < 1 {
                return Err(
                    "Error: Maximum inflight messages must be greater than 0.\n\n".to_owned(),
                );
            }
            st.session.max_inflight = u32::try_from(n).unwrap_or(u32::MAX);
            Ok(())
        },
    ),
};

/// **D6**: a word that is not a number is an error, not QoS 0.
pub(crate) const QOS: Opt = Opt {
    short: Some('q'),
    long: Some("qos"),
    tools: For::Both,
    summary: "Quality of service (0, 1 or 2)",
    help: "quality of service level to use for all messages. Defaults to 0.",
    kind: Kind::value(
        "QOS",
        "Error: -q argument given but no QoS specified.\n\n",
        |st, v| {
            if !is_integer(v) {
                return Err(format!(
                    "Error: Invalid QoS given: {}\n",
                    v.to_string_lossy()
                ));
            }
            let q = atoll(v);
            if !(0..=2).contains(&q) {
                return Err(format!("Error: Invalid QoS given: {q}\n"));
            }
            st.qos = q as u8;
            Ok(())
        },
    )
    .choices(&["0", "1", "2"]),
};

/// **D15**: `-x` switches to MQTT v5 (mosquitto 2.1); 2.0.11 ignored it on v3.x.
pub(crate) const SESSION_EXPIRY: Opt = Opt {
    short: Some('x'),
    long: None,
    tools: For::Both,
    summary: "Session expiry interval (v5)",
    help: "Set the session-expiry-interval property on the CONNECT packet. Applies to MQTT v5\n\
           clients only (and switches to MQTT v5). Set to 0-4294967294 to specify the session\n\
           will expire in that many seconds after the client disconnects, or use -1, 4294967295,\n\
           or ∞ for a session that does not expire. Defaults to -1 if -c is also given, or 0 if\n\
           -c not given.",
    kind: Kind::value(
        "SECONDS",
        "Error: -x argument given but no session expiry interval specified.\n\n",
        |st, v| {
            let s = v.to_string_lossy();
            // `∞`, `-1` (infinity), or a C `strtol(.., 0)` integer (`0x10`, `010`).
            let n = if s == "∞" {
                u32::MAX
            } else {
                let n = strtol_whole(&s)
                    .ok_or_else(|| "Error: session-expiry-interval not a number.\n\n".to_owned())?;
                if n > i128::from(u32::MAX) || n < -1 {
                    return Err("Error: session-expiry-interval out of range.\n\n".to_owned());
                }
                u32::try_from(n).unwrap_or(u32::MAX)
            };
            st.session.expiry = Some(n);
            st.session.protocol = ProtocolVersion::V5;
            Ok(())
        },
    ),
};

#[cfg(test)]
mod tests {
    use mqtt_proto::{ProtocolVersion, QoS};

    use crate::args::model::ClientId;
    use crate::args::testing::{pub_ok, pub_says, sub_ok, sub_says};

    #[test]
    fn clean_session() {
        assert!(pub_ok(&[]).conn.clean_session);
        assert!(!pub_ok(&["-c", "-i", "me"]).conn.clean_session);
        assert_eq!(
            pub_says(&["--disable-clean-session"]),
            "Error: You must provide a client id if you are using the -c option."
        );
    }

    #[test]
    fn property() {
        let a = pub_ok(&[
            "-D",
            "publish",
            "user-property",
            "k",
            "v",
            "-D",
            "connect",
            "receive-maximum",
            "9",
        ]);
        assert_eq!(a.conn.protocol, ProtocolVersion::V5);
        assert_eq!(a.conn.properties.publish.user_properties.len(), 1);
        assert_eq!(
            a.conn.properties.connect.receive_maximum.map(|n| n.get()),
            Some(9)
        );
        assert_eq!(
            sub_says(&["--property", "connect"]),
            "Error: --property argument given but not enough arguments specified."
        );
    }

    #[test]
    fn id() {
        assert_eq!(pub_ok(&[]).conn.client_id, ClientId::Generated);
        assert_eq!(
            pub_ok(&["--id", ""]).conn.client_id,
            ClientId::Given(String::new())
        );
        // The -I check comes before the missing value.
        assert_eq!(
            pub_says(&["-I", "p", "-i"]),
            "Error: -i and -I argument cannot be used together."
        );
    }

    #[test]
    fn id_prefix() {
        assert_eq!(
            sub_ok(&["--id-prefix", "p-"]).conn.client_id,
            ClientId::Prefix("p-".to_owned())
        );
        assert_eq!(
            sub_says(&["-i", "x", "-I"]),
            "Error: -i and -I argument cannot be used together."
        );
    }

    #[test]
    fn keepalive() {
        assert_eq!(pub_ok(&[]).conn.keepalive, 60);
        assert_eq!(pub_ok(&["-k", "10s"]).conn.keepalive, 10);
        assert_eq!(
            pub_says(&["--keepalive", "4"]),
            "Error: Invalid keepalive given, it must be between 5 and 65535 inclusive."
        );
    }

    #[test]
    fn max_inflight() {
        assert_eq!(pub_ok(&[]).conn.max_inflight, 20);
        assert_eq!(pub_ok(&["-M", "3"]).conn.max_inflight, 3);
        assert_eq!(
            pub_says(&["-M", "0"]),
            "Error: Maximum inflight messages must be greater than 0."
        );
    }

    #[test]
    fn qos() {
        assert_eq!(pub_ok(&[]).qos, QoS::AtMostOnce);
        assert_eq!(pub_ok(&["-q", "2"]).qos, QoS::ExactlyOnce);
        assert_eq!(sub_ok(&["--qos", "1"]).qos, QoS::AtLeastOnce);
        assert_eq!(sub_says(&["-q", "3"]), "Error: Invalid QoS given: 3");
        assert_eq!(sub_says(&["-q", "abc"]), "Error: Invalid QoS given: abc");
    }

    #[test]
    fn session_expiry() {
        let a = pub_ok(&["-x", "0x10"]);
        assert_eq!(a.conn.protocol, ProtocolVersion::V5);
        assert_eq!(a.conn.properties.connect.session_expiry_interval, Some(16));
        assert_eq!(
            pub_says(&["-x", "-1"]),
            "Error: You must provide a client id if you are using an infinite session expiry interval."
        );
        assert_eq!(
            pub_says(&["-x", "1s"]),
            "Error: session-expiry-interval not a number."
        );
        assert_eq!(
            pub_says(&["-x", "4294967296"]),
            "Error: session-expiry-interval out of range."
        );
    }
}
