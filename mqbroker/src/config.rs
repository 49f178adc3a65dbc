//! `mqbroker -c FILE`: the subset of `mosquitto.conf` (mosquitto 2.0) that mqbroker supports,
//! with its syntax and meaning. Anything else is an error naming the line: a setting is never
//! silently ignored.

use std::path::PathBuf;

/// How a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Mqtt,
    WebSockets,
}

/// One listener: `listener PORT [HOST]` and the lines after it, or the default listener
/// (`port` and `bind_address` wherever they are, and listener lines before any
/// `listener`), on port 1883 unless `port` says otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListenerConf {
    /// The line that made it (for messages).
    pub(crate) line: usize,
    pub(crate) port: u16,
    /// `None`: every address.
    pub(crate) host: Option<String>,
    pub(crate) protocol: Protocol,
    pub(crate) certfile: Option<PathBuf>,
    pub(crate) keyfile: Option<PathBuf>,
    pub(crate) cafile: Option<PathBuf>,
    pub(crate) require_certificate: bool,
}

impl ListenerConf {
    fn new(line: usize, port: u16, host: Option<String>) -> Self {
        Self {
            line,
            port,
            host,
            protocol: Protocol::Mqtt,
            certfile: None,
            keyfile: None,
            cafile: None,
            require_certificate: false,
        }
    }

    /// Whether it serves TLS.
    pub(crate) fn tls(&self) -> bool {
        self.certfile.is_some()
    }
}

/// A parsed configuration file, with mosquitto 2.0's defaults for what it leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileConfig {
    /// Every listener, the default one first. Empty: no listener was configured, and the
    /// broker listens on 127.0.0.1:1883 only ("local only" mode).
    pub(crate) listeners: Vec<ListenerConf>,
    /// As written; the default is `true` in local only mode, else `false`.
    allow_anonymous: Option<bool>,
    pub(crate) password_file: Option<PathBuf>,
    pub(crate) acl_file: Option<PathBuf>,
    /// Server Keep Alive for 5.0 clients asking for more (or none); 10 to 65,535.
    pub(crate) max_keepalive: Option<u16>,
    /// `None`: no limit (0 in the file).
    pub(crate) max_packet_size: Option<u32>,
    /// Advertised as Receive Maximum and enforced, and the most QoS 1 and 2 messages in
    /// flight to each client (20 by default; 0: 65,535).
    pub(crate) max_inflight_messages: u16,
    /// Per session (1000 by default; 0: no maximum).
    pub(crate) max_queued_messages: usize,
    /// Topic aliases a 5.0 client may set up (10 by default; 0: none).
    pub(crate) max_topic_alias: u16,
    /// mqbroker's own: assign topic aliases to 5.0 clients that accept them (false).
    pub(crate) assign_topic_aliases: bool,
}

impl Default for FileConfig {
    fn default() -> Self {
        Self {
            listeners: Vec::new(),
            allow_anonymous: None,
            password_file: None,
            acl_file: None,
            max_keepalive: None,
            max_packet_size: None,
            max_inflight_messages: 20,
            max_queued_messages: 1000,
            max_topic_alias: 10,
            assign_topic_aliases: false,
        }
    }
}

/// mosquitto directives mqbroker knows and does not support (a clearer error than
/// "unknown").
const UNSUPPORTED: &[&str] = &[
    "acl_file_per_listener",
    "auth_plugin",
    "auth_opt_",
    "auto_id_prefix",
    "autosave_interval",
    "autosave_on_changes",
    "bridge_",
    "capath",
    "check_retain_source",
    "ciphers",
    "ciphers_tls1.3",
    "clientid_prefixes",
    "connection",
    "connection_messages",
    "crlfile",
    "dhparamfile",
    "http_dir",
    "include_dir",
    "keyfile_encryption",
    "log_dest",
    "log_facility",
    "log_timestamp",
    "log_timestamp_format",
    "log_type",
    "max_connections",
    "max_inflight_bytes",
    "max_qos",
    "max_queued_bytes",
    "memory_limit",
    "message_size_limit",
    "mount_point",
    "per_listener_settings",
    "persistence",
    "persistence_file",
    "persistence_location",
    "persistent_client_expiration",
    "pid_file",
    "plugin",
    "plugin_opt_",
    "psk_file",
    "psk_hint",
    "queue_qos0_messages",
    "retain_available",
    "set_tcp_nodelay",
    "socket_domain",
    "sys_interval",
    "tls_engine",
    "tls_keyform",
    "tls_version",
    "upgrade_outgoing_qos",
    "use_identity_as_username",
    "use_subject_as_username",
    "use_username_as_clientid",
    "user",
    "websockets_headers_size",
    "websockets_log_level",
    "allow_duplicate_messages",
    "allow_zero_length_clientid",
    "address",
];

impl FileConfig {
    /// Whether clients without a user name are let in: as written, else only in local only
    /// mode (mosquitto 2.0).
    pub(crate) fn allow_anonymous(&self) -> bool {
        self.allow_anonymous.unwrap_or(self.listeners.is_empty())
    }

    /// Parse a configuration file's text. Errors read `line N: ...`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut config = Self::default();
        // The default listener's settings (before any `listener` line), and whether any
        // was given.
        let mut default = ListenerConf::new(0, 1883, None);
        let mut default_used = false;
        let mut listeners: Vec<ListenerConf> = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let n = index + 1;
            let at = |e: String| format!("line {n}: {e}");
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line
                .split_once(char::is_whitespace)
                .map_or((line, ""), |(k, v)| (k, v.trim()));
            let need = |value: &str| -> Result<String, String> {
                if value.is_empty() {
                    Err(at(format!("{key} needs a value")))
                } else {
                    Ok(value.to_owned())
                }
            };
            let boolean = |value: &str| match value {
                "true" => Ok(true),
                "false" => Ok(false),
                other => Err(at(format!("{key} must be true or false, not {other:?}"))),
            };
            let number = |value: &str, min: u64, max: u64| -> Result<u64, String> {
                value
                    .parse::<u64>()
                    .ok()
                    .filter(|v| (min..=max).contains(v))
                    .ok_or_else(|| {
                        at(format!(
                            "{key} must be a number from {min} to {max}, not {value:?}"
                        ))
                    })
            };
            // The listener the per-listener lines apply to.
            let current = match listeners.last_mut() {
                Some(l) => l,
                None => &mut default,
            };
            match key {
                "listener" => {
                    let mut words = value.split_whitespace();
                    let port = words
                        .next()
                        .ok_or_else(|| at("listener needs a port".into()))?;
                    let port = number(port, 0, 65535)? as u16;
                    let host = words.next().map(str::to_owned);
                    if let Some(extra) = words.next() {
                        return Err(at(format!("listener takes PORT [HOST], not {extra:?}")));
                    }
                    listeners.push(ListenerConf::new(n, port, host));
                }
                // The default listener's too, wherever it is (mosquitto 2.0.11).
                "port" => {
                    default.port = number(value, 0, 65535)? as u16;
                    default.line = n;
                    default_used = true;
                }
                // mosquitto 2.0: the default listener's, wherever it is written (after a
                // `listener` line too, where it still makes the default listener).
                "bind_address" => {
                    default.host = Some(need(value)?);
                    if default.line == 0 {
                        default.line = n;
                    }
                    default_used = true;
                }
                "protocol" => {
                    current.protocol = match value {
                        "mqtt" => Protocol::Mqtt,
                        "websockets" => Protocol::WebSockets,
                        other => {
                            return Err(at(format!(
                                "protocol must be mqtt or websockets, not {other:?}"
                            )));
                        }
                    };
                    default_used |= listeners.is_empty();
                }
                "certfile" | "keyfile" | "cafile" => {
                    let path = Some(PathBuf::from(need(value)?));
                    match key {
                        "certfile" => current.certfile = path,
                        "keyfile" => current.keyfile = path,
                        _ => current.cafile = path,
                    }
                    default_used |= listeners.is_empty();
                }
                "require_certificate" => {
                    current.require_certificate = boolean(value)?;
                    default_used |= listeners.is_empty();
                }
                "allow_anonymous" => config.allow_anonymous = Some(boolean(value)?),
                "password_file" => config.password_file = Some(PathBuf::from(need(value)?)),
                "acl_file" => config.acl_file = Some(PathBuf::from(need(value)?)),
                "max_keepalive" => config.max_keepalive = Some(number(value, 10, 65535)? as u16),
                "max_packet_size" => {
                    let max = number(value, 0, u64::from(u32::MAX))? as u32;
                    if (1..20).contains(&max) {
                        return Err(at(format!(
                            "max_packet_size must be 0 (no limit) or at least 20, not {max}"
                        )));
                    }
                    config.max_packet_size = (max > 0).then_some(max);
                }
                "max_inflight_messages" => {
                    config.max_inflight_messages = number(value, 0, 65535)? as u16;
                }
                "max_queued_messages" => {
                    let max = number(value, 0, u64::from(u32::MAX))? as usize;
                    config.max_queued_messages = if max == 0 { usize::MAX } else { max };
                }
                "max_topic_alias" => config.max_topic_alias = number(value, 0, 65535)? as u16,
                "assign_topic_aliases" => config.assign_topic_aliases = boolean(value)?,
                other
                    if UNSUPPORTED
                        .iter()
                        .any(|u| other == *u || (u.ends_with('_') && other.starts_with(u))) =>
                {
                    return Err(at(format!(
                        "{other} is a mosquitto setting mqbroker does not support"
                    )));
                }
                other => return Err(at(format!("unknown setting {other:?}"))),
            }
        }
        if default_used {
            listeners.insert(0, default);
        }
        for l in &listeners {
            let at = |e: &str| format!("line {}: {e}", l.line);
            match (&l.certfile, &l.keyfile) {
                (Some(_), None) | (None, Some(_)) => {
                    return Err(at("certfile and keyfile go together"));
                }
                _ => {}
            }
            if l.require_certificate && l.cafile.is_none() {
                return Err(at("require_certificate true needs a cafile"));
            }
            if (l.require_certificate || l.cafile.is_some()) && !l.tls() {
                return Err(at(
                    "cafile and require_certificate need certfile and keyfile",
                ));
            }
        }
        config.listeners = listeners;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn an_empty_file_is_local_only_and_anonymous() {
        let config = FileConfig::parse("# nothing\n\n").unwrap();
        assert!(config.listeners.is_empty());
        assert!(config.allow_anonymous());
        assert_eq!(config.max_inflight_messages, 20);
        assert_eq!(config.max_topic_alias, 10);
        assert_eq!(config.max_queued_messages, 1000);
        assert_eq!(config.max_packet_size, None);
        assert!(!config.assign_topic_aliases);
    }

    #[test]
    fn listeners_refuse_anonymous_clients_by_default() {
        let config = FileConfig::parse("listener 1883\n").unwrap();
        assert!(!config.allow_anonymous());
        let config = FileConfig::parse("listener 1883\nallow_anonymous true\n").unwrap();
        assert!(config.allow_anonymous());
        let config = FileConfig::parse("port 1884\n").unwrap();
        assert!(!config.allow_anonymous());
    }

    #[test]
    fn every_directive() {
        let config = FileConfig::parse(
            "port 1884\n\
             bind_address 127.0.0.1\n\
             listener 8883 ::1\n\
             certfile c.pem\n\
             keyfile k.pem\n\
             cafile ca.pem\n\
             require_certificate true\n\
             listener 8080 localhost\n\
             protocol websockets\n\
             allow_anonymous false\n\
             password_file pw\n\
             acl_file acl\n\
             max_keepalive 60\n\
             max_packet_size 1000\n\
             max_inflight_messages 5\n\
             max_queued_messages 0\n\
             max_topic_alias 3\n\
             assign_topic_aliases true\n",
        )
        .unwrap();
        let [default, tls, ws] = config.listeners.as_slice() else {
            panic!("three listeners: {:?}", config.listeners);
        };
        assert_eq!((default.line, default.port), (1, 1884));
        assert_eq!(default.host.as_deref(), Some("127.0.0.1"));
        assert!(!default.tls());
        assert_eq!((tls.port, tls.host.as_deref()), (8883, Some("::1")));
        assert_eq!(tls.cafile, Some(PathBuf::from("ca.pem")));
        assert!(tls.tls() && tls.require_certificate);
        assert_eq!((ws.port, ws.protocol), (8080, Protocol::WebSockets));
        assert_eq!(ws.host.as_deref(), Some("localhost"));
        assert!(!config.allow_anonymous());
        assert_eq!(config.password_file, Some(PathBuf::from("pw")));
        assert_eq!(config.acl_file, Some(PathBuf::from("acl")));
        assert_eq!(config.max_keepalive, Some(60));
        assert_eq!(config.max_packet_size, Some(1000));
        assert_eq!(config.max_inflight_messages, 5);
        assert_eq!(config.max_queued_messages, usize::MAX);
        assert_eq!(config.max_topic_alias, 3);
        assert!(config.assign_topic_aliases);
    }

    #[test]
    fn the_readme_example_parses() {
        let readme = include_str!("../README.md");
        let start = readme.find("```text\n# The default listener").unwrap() + 8;
        let end = start + readme[start..].find("```").unwrap();
        let config = FileConfig::parse(&readme[start..end]).unwrap();
        assert_eq!(config.listeners.len(), 3);
        assert!(config.assign_topic_aliases);
    }

    #[test]
    fn bind_address_belongs_to_the_default_listener_wherever_it_is() {
        // As mosquitto 2.0.11: this listens on 8080 (every address) and 127.0.0.1:1883.
        let config = FileConfig::parse("listener 8080\nbind_address 127.0.0.1\n").unwrap();
        let [default, listener] = config.listeners.as_slice() else {
            panic!("two listeners: {:?}", config.listeners);
        };
        assert_eq!(
            (default.port, default.host.as_deref()),
            (1883, Some("127.0.0.1"))
        );
        assert_eq!((listener.port, listener.host.as_deref()), (8080, None));
        // And `port` after a listener is the default listener's port.
        let config = FileConfig::parse("listener 8080\nport 1884\n").unwrap();
        let ports: Vec<u16> = config.listeners.iter().map(|l| l.port).collect();
        assert_eq!(ports, [1884, 8080]);
    }

    #[test]
    fn errors_name_the_line() {
        let err = |text: &str| FileConfig::parse(text).unwrap_err();
        assert_eq!(err("port 1\nfoo bar\n"), "line 2: unknown setting \"foo\"");
        assert_eq!(
            err("\npersistence true\n"),
            "line 2: persistence is a mosquitto setting mqbroker does not support"
        );
        assert_eq!(
            err("bridge_cafile x\n"),
            "line 1: bridge_cafile is a mosquitto setting mqbroker does not support"
        );
        assert_eq!(
            err("allow_anonymous yes\n"),
            "line 1: allow_anonymous must be true or false, not \"yes\""
        );
        assert_eq!(
            err("max_keepalive 5\n"),
            "line 1: max_keepalive must be a number from 10 to 65535, not \"5\""
        );
        assert_eq!(err("listener\n"), "line 1: listener needs a port");
        assert_eq!(
            err("listener 1 a b\n"),
            "line 1: listener takes PORT [HOST], not \"b\""
        );
        assert_eq!(
            err("listener 1\ncertfile c\n"),
            "line 1: certfile and keyfile go together"
        );
        assert_eq!(
            err("\nlistener 1\ncertfile c\nkeyfile k\nrequire_certificate true\n"),
            "line 2: require_certificate true needs a cafile"
        );
        assert_eq!(
            err("listener 1\nprotocol http\n"),
            "line 2: protocol must be mqtt or websockets, not \"http\""
        );
        assert_eq!(
            err("max_packet_size 10\n"),
            "line 1: max_packet_size must be 0 (no limit) or at least 20, not 10"
        );
        assert_eq!(
            err("password_file\n"),
            "line 1: password_file needs a value"
        );
    }
}
