//! Where and how to connect, for both tools: host, port, unix socket, URL, WebSocket,
//! proxy, local address, protocol version, Nagle, the CONNACK wait.

use std::ffi::OsStr;

use mqtt_proto::ProtocolVersion;

use crate::args::flag::{For, Kind, Opt};
use crate::args::state::text;
use crate::cnum::{atoll, is_integer};
use crate::url;

pub(crate) const BIND_ADDRESS: Opt = Opt {
    short: Some('A'),
    long: None,
    tools: For::Both,
    summary: "Bind the outgoing socket to this address",
    help: "bind the outgoing socket to this host/ip address. Use to control which interface\n\
           the client communicates over.",
    kind: Kind::value(
        "ADDRESS",
        "Error: -A argument given but no address specified.\n\n",
        |st, v| {
            st.net.bind_address = Some(text(v, "-A")?);
            Ok(())
        },
    ),
};

pub(crate) const HOST: Opt = Opt {
    short: Some('h'),
    long: Some("host"),
    tools: For::Both,
    summary: "Broker host (default localhost)",
    help: "mqtt host to connect to. Defaults to localhost.",
    kind: Kind::value(
        "HOST",
        "Error: -h argument given but no host specified.\n\n",
        |st, v| {
            st.net.host = Some(text(v, "-h")?);
            Ok(())
        },
    ),
};

pub(crate) const URL: Opt = Opt {
    short: Some('L'),
    long: Some("url"),
    tools: For::Both,
    summary: "mqtt(s)|ws(s)://[user[:pass]@]host[:port]/topic",
    help: "specify user, password, hostname, port and topic as a URL in the form:\n\
           mqtt(s)://[username[:password]@]host[:port]/topic\n\
           ws(s)://[username[:password]@]host[:port]/topic (WebSocket)",
    kind: Kind::value(
        "URL",
        "Error: -L argument given but no URL specified.\n\n",
        |st, v| {
            let v = text(v, "-L topic")?;
            let u = url::parse_url(&v).map_err(|e| match e {
                url::UrlError::UnsupportedScheme => format!("{e}\n\n"),
                url::UrlError::TopicMissing => format!("{e}\n"),
            })?;
            st.net.port = Some(u.scheme.default_port().into());
            if u.scheme.is_tls() {
                st.tls.use_os_certs = true;
            }
            if u.scheme.is_websocket() {
                st.net.websocket = true;
            }
            st.add_topic(OsStr::new(&u.topic), "-L topic")?;
            if let Some(user) = &u.username {
                st.auth.username = Some(user.clone());
            }
            if let Some(pw) = &u.password {
                st.auth.password = Some(pw.clone().into_bytes());
            }
            st.net.host = Some(u.host.clone());
            if let Some(p) = u.port {
                st.net.port = Some(p);
            }
            st.net.url = Some(u);
            Ok(())
        },
    ),
};

pub(crate) const PORT: Opt = Opt {
    short: Some('p'),
    long: Some("port"),
    tools: For::Both,
    summary: "Broker port",
    help: "network port to connect to. Defaults to 1883 for plain MQTT and 8883 for MQTT over TLS.",
    kind: Kind::value(
        "PORT",
        "Error: -p argument given but no port specified.\n\n",
        |st, v| {
            // D6: a word that is not a number is an error, not port 0.
            if !is_integer(v) {
                return Err(format!(
                    "Error: Invalid port given: {}\n",
                    v.to_string_lossy()
                ));
            }
            let p = atoll(v);
            if !(0..=65535).contains(&p) {
                return Err(format!("Error: Invalid port given: {p}\n"));
            }
            st.net.port = Some(p);
            Ok(())
        },
    ),
};

pub(crate) const PROTOCOL_VERSION: Opt = Opt {
    short: Some('V'),
    long: Some("protocol-version"),
    tools: For::Both,
    summary: "31, 311 or 5",
    help: "Specify the version of the MQTT protocol to use when connecting.\n\
           Can be mqttv5, mqttv311 or mqttv31. Defaults to mqttv311.\n\
           -D and -x switch to mqttv5.",
    kind: Kind::value(
        "VERSION",
        "Error: --protocol-version argument given but no version specified.\n\n",
        |st, v| {
            st.session.protocol = match v.to_string_lossy().as_ref() {
                "mqttv31" | "31" => ProtocolVersion::V3_1,
                "mqttv311" | "311" => ProtocolVersion::V3_1_1,
                "mqttv5" | "5" => ProtocolVersion::V5,
                _ => return Err("Error: Invalid protocol version argument given.\n\n".to_owned()),
            };
            Ok(())
        },
    ),
};

/// An addition.
pub(crate) const CONNECT_TIMEOUT: Opt = Opt {
    short: None,
    long: Some("connect-timeout"),
    tools: For::Both,
    summary: "Seconds to wait for CONNACK",
    help: "seconds to wait for CONNACK. Defaults to the keep alive.",
    kind: Kind::value(
        "SECONDS",
        "Error: --connect-timeout argument given but no timeout specified.\n\n",
        |st, v| {
            let n = atoll(v);
            if n < 1 {
                return Err(format!("Error: Invalid connect timeout \"{n}\".\n\n"));
            }
            st.net.connect_timeout = Some(u32::try_from(n).unwrap_or(u32::MAX));
            Ok(())
        },
    ),
};

pub(crate) const NODELAY: Opt = Opt {
    short: None,
    long: Some("nodelay"),
    tools: For::Both,
    summary: "Disable Nagle's algorithm",
    help: "disable Nagle's algorithm, to reduce socket sending latency at the possible\n\
           expense of more packets being sent.",
    kind: Kind::Switch(|st| {
        st.net.nodelay = true;
        Ok(())
    }),
};

pub(crate) const UNIX: Opt = Opt {
    short: None,
    long: Some("unix"),
    tools: For::Both,
    summary: "Connect through a unix socket",
    help: "connect to a broker through a unix domain socket instead of a TCP socket,\n\
           e.g. /tmp/mosquitto.sock",
    kind: Kind::value(
        "PATH",
        "Error: --unix argument given but no socket path specified.\n\n",
        |st, v| {
            st.net.host = Some(v.to_string_lossy().into_owned());
            st.net.port = Some(0);
            Ok(())
        },
    ),
};

/// An addition.
pub(crate) const WS: Opt = Opt {
    short: None,
    long: Some("ws"),
    tools: For::Both,
    summary: "MQTT over WebSocket",
    help: "connect with MQTT over WebSocket (path /mqtt).",
    kind: Kind::Switch(|st| {
        st.net.websocket = true;
        Ok(())
    }),
};

pub(crate) const PROXY: Opt = Opt {
    short: None,
    long: Some("proxy"),
    tools: For::Both,
    summary: "Proxy: socks5h://[user[:pass]@]host[:port] (SOCKS5), or http://... (HTTP CONNECT)",
    help: "SOCKS5 proxy URL of the form:\n\
           socks5h://[username[:password]@]hostname[:port]\n\
           Only \"none\" and \"username\" authentication is supported.",
    kind: Kind::value(
        "URL",
        "Error: --proxy argument given but no proxy url specified.\n\n",
        |st, v| {
            let p = url::parse_proxy(&v.to_string_lossy()).map_err(|e| format!("{e}\n"))?;
            st.net.proxy = Some(p);
            Ok(())
        },
    ),
};

#[cfg(test)]
mod tests {
    use mqtt_proto::ProtocolVersion;

    use crate::args::model::Transport;
    use crate::args::testing::{pub_ok, pub_says, sub_ok, sub_says};

    #[test]
    fn bind_address() {
        assert_eq!(pub_ok(&[]).conn.bind_address, None);
        assert_eq!(
            sub_ok(&["-A", "127.0.0.2"]).conn.bind_address.as_deref(),
            Some("127.0.0.2")
        );
        assert_eq!(
            pub_says(&["-A"]),
            "Error: -A argument given but no address specified."
        );
    }

    #[test]
    fn host() {
        assert_eq!(pub_ok(&[]).conn.host, "localhost");
        assert_eq!(pub_ok(&["--host", "b.example"]).conn.host, "b.example");
        // Attached values are not read: mosquitto's rule.
        assert_eq!(
            pub_says(&["-hb.example"]),
            "Error: Unknown option '-hb.example'."
        );
        assert_eq!(pub_says(&["--host=b"]), "Error: Unknown option '--host=b'.");
    }

    #[test]
    fn url() {
        let a = sub_ok(&["-L", "mqtts://u:p@b.example:1234/a/b"]);
        assert_eq!(a.conn.host, "b.example");
        assert_eq!(a.conn.port, 1234);
        assert!(a.conn.tls.is_some());
        assert_eq!(a.conn.username.as_deref(), Some("u"));
        assert_eq!(a.conn.password.as_deref(), Some(&b"p"[..]));
        assert_eq!(a.topics[0].as_str(), "a/b");
        let a = pub_ok(&["--url", "ws://b/t"]);
        assert_eq!(a.conn.port, 1883);
        assert!(matches!(a.conn.transport, Transport::WebSocket { .. }));
        assert_eq!(a.topic.as_str(), "t");
    }

    #[test]
    fn port() {
        assert_eq!(pub_ok(&[]).conn.port, 1883);
        assert_eq!(pub_ok(&["-p", "1884x"]).conn.port, 1884);
        assert_eq!(pub_says(&["-p", "abc"]), "Error: Invalid port given: abc");
        assert_eq!(
            pub_says(&["--port", "70000"]),
            "Error: Invalid port given: 70000"
        );
    }

    #[test]
    fn protocol_version() {
        assert_eq!(pub_ok(&[]).conn.protocol, ProtocolVersion::V3_1_1);
        for (w, v) in [
            ("mqttv31", ProtocolVersion::V3_1),
            ("311", ProtocolVersion::V3_1_1),
            ("5", ProtocolVersion::V5),
        ] {
            assert_eq!(sub_ok(&["-V", w]).conn.protocol, v);
        }
        assert_eq!(
            sub_says(&["-V", "4"]),
            "Error: Invalid protocol version argument given."
        );
        assert_eq!(
            sub_says(&["-V"]),
            "Error: --protocol-version argument given but no version specified."
        );
    }

    #[test]
    fn connect_timeout() {
        assert_eq!(pub_ok(&[]).conn.connect_timeout, None);
        assert_eq!(
            pub_ok(&["--connect-timeout", "3"]).conn.connect_timeout,
            Some(3)
        );
        assert_eq!(
            pub_says(&["--connect-timeout", "0"]),
            "Error: Invalid connect timeout \"0\"."
        );
    }

    #[test]
    fn nodelay() {
        assert!(!pub_ok(&[]).conn.nodelay);
        assert!(sub_ok(&["--nodelay"]).conn.nodelay);
    }

    #[test]
    fn unix() {
        let a = pub_ok(&["--unix", "/run/m.sock"]);
        assert_eq!(
            a.conn.transport,
            Transport::Unix {
                path: "/run/m.sock".into()
            }
        );
        // -p 0 with -h PATH is the same, as in mosquitto.
        let b = pub_ok(&["-h", "/run/m.sock", "-p", "0"]);
        assert_eq!(a.conn.transport, b.conn.transport);
    }

    #[test]
    fn ws() {
        let a = sub_ok(&["--ws"]);
        assert_eq!(
            a.conn.transport,
            Transport::WebSocket {
                path: "/mqtt".to_owned()
            }
        );
    }

    #[test]
    fn proxy() {
        assert!(
            pub_ok(&["--proxy", "socks5h://p:1080"])
                .conn
                .proxy
                .is_some()
        );
        assert!(pub_says(&["--proxy", "http://p"]).starts_with("Error: "));
        assert_eq!(
            pub_says(&["--proxy"]),
            "Error: --proxy argument given but no proxy url specified."
        );
    }
}
