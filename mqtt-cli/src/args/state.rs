//! What the options have said so far: the `State` each option's update function writes
//! (grouped as the options are), and the checks mosquitto makes once everything is read
//! (`client_config_load`, then `client_opts_set` and its TLS setup), which turn the state
//! into [`PubArgs`] or [`SubArgs`].

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::Duration;

use mqtt_proto::{ProtocolVersion, QoS, RetainHandling, TopicFilter, TopicName};

use super::model::{
    ClientId, ConnArgs, MessageSource, ParseError, Parsed, PubArgs, Reconnect, SubArgs, TlsArgs,
    TlsVersion, Transport, WillArgs,
};
use crate::cnum::os_to_bytes;
use crate::config::Environment;
use crate::format::OutputOptions;
use crate::props::{PropertyPacket, V5Properties};
use crate::tool::Tool;
use crate::url::{self, ProxyUrl};

/// An error message with its own trailing newlines; the `Use '... --help'` line is added by
/// the parser.
pub(crate) type Fail = String;

/// `--help` or `--version`: stop reading and print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    Help,
    Version,
}

/// Where and how to connect: `-h -p -A --unix -L --ws --proxy --nodelay --connect-timeout`.
#[derive(Debug, Default)]
pub(crate) struct Net {
    pub(crate) host: Option<String>,
    pub(crate) port: Option<i64>,
    pub(crate) bind_address: Option<String>,
    pub(crate) websocket: bool,
    pub(crate) proxy: Option<ProxyUrl>,
    pub(crate) url: Option<url::MqttUrl>,
    pub(crate) nodelay: bool,
    pub(crate) connect_timeout: Option<u32>,
}

/// The TLS options, as given (checked in [`State::finish_pub`] / [`State::finish_sub`]).
#[derive(Debug, Default)]
pub(crate) struct Tls {
    pub(crate) cafile: Option<PathBuf>,
    pub(crate) capath: Option<PathBuf>,
    pub(crate) cert: Option<PathBuf>,
    pub(crate) key: Option<PathBuf>,
    pub(crate) keyform: Option<String>,
    pub(crate) ciphers: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) alpn: Option<String>,
    pub(crate) engine: Option<String>,
    pub(crate) engine_kpass_sha1: Option<String>,
    pub(crate) use_os_certs: bool,
    pub(crate) keylog: Option<PathBuf>,
    pub(crate) insecure: bool,
    pub(crate) psk: Option<String>,
    pub(crate) psk_identity: Option<String>,
    pub(crate) no_tls: bool,
}

/// The MQTT session: `-V -i -I -k -c -x -M`, `-D` and what switches to v5.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) protocol: ProtocolVersion,
    pub(crate) id: Option<String>,
    pub(crate) id_prefix: Option<String>,
    pub(crate) keepalive: u16,
    pub(crate) clean: bool,
    pub(crate) expiry: Option<u32>,
    pub(crate) max_inflight: u32,
    pub(crate) props: V5Properties,
    /// Packets whose `-D` properties are in range but invalid: reported after parsing.
    pub(crate) deferred: Vec<PropertyPacket>,
}

/// `-u -P --pw-file --pw-prompt`.
#[derive(Debug, Default)]
pub(crate) struct Auth {
    pub(crate) username: Option<String>,
    pub(crate) password: Option<Vec<u8>>,
    pub(crate) pw_file: Option<PathBuf>,
    pub(crate) pw_prompt: bool,
}

/// `--will-*`.
#[derive(Debug, Default)]
pub(crate) struct Will {
    pub(crate) topic: Option<TopicName>,
    pub(crate) payload: Option<Vec<u8>>,
    pub(crate) qos: u8,
    pub(crate) retain: bool,
}

/// mqpub's own: the topic, the message and how often to send it.
#[derive(Debug)]
pub(crate) struct Publish {
    pub(crate) topic: Option<TopicName>,
    pub(crate) message: Option<MessageSource>,
    pub(crate) retain: bool,
    pub(crate) repeat: u32,
    pub(crate) repeat_delay: f64,
    pub(crate) topic_aliases: bool,
}

/// mqsub's own: what to subscribe to, which messages to keep, when to stop.
#[derive(Debug)]
pub(crate) struct Subscribe {
    pub(crate) topics: Vec<TopicFilter>,
    pub(crate) filter_out: Vec<TopicFilter>,
    pub(crate) unsubscribe: Vec<TopicFilter>,
    pub(crate) msg_count: Option<u32>,
    pub(crate) timeout: Option<u32>,
    pub(crate) exit_after_sub: bool,
    pub(crate) no_retained: bool,
    pub(crate) retained_only: bool,
    pub(crate) remove_retained: bool,
    pub(crate) retain_as_published: bool,
    pub(crate) retain_handling: Option<RetainHandling>,
    pub(crate) random_filter: Option<f64>,
    pub(crate) reconnect: Reconnect,
}

/// Where mqsub's messages go (how each is printed is an [`OutputOptions`] of its own).
#[derive(Debug, Default)]
pub(crate) struct Output {
    pub(crate) file: Option<PathBuf>,
    pub(crate) dir: Option<PathBuf>,
    pub(crate) message_rate: bool,
    pub(crate) watch: bool,
}

/// Everything read so far, with mosquitto's defaults.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) tool: Tool,
    /// Set by `--help` / `--version`: the parser stops there.
    pub(crate) stop: Option<Stop>,
    pub(crate) net: Net,
    pub(crate) tls: Tls,
    pub(crate) session: Session,
    pub(crate) auth: Auth,
    pub(crate) will: Will,
    /// `-q`: the message's QoS (mqpub) or the subscriptions' (mqsub).
    pub(crate) qos: u8,
    pub(crate) debug: bool,
    pub(crate) quiet: bool,
    pub(crate) strict_exit: bool,
    pub(crate) publish: Publish,
    pub(crate) subscribe: Subscribe,
    /// mqsub: how each message is printed (`-v -F -N --json --pretty --color...`).
    pub(crate) print: OutputOptions,
    /// mqsub: where the messages go.
    pub(crate) output: Output,
}

/// The error of [`ParseError`] shape: `msg`, then `Use '<tool> --help' to see usage.`.
pub(crate) fn with_use(tool: Tool, msg: &str) -> ParseError {
    ParseError {
        stderr: format!("{msg}\nUse '{} --help' to see usage.\n", tool.name()),
        stdout: String::new(),
        exit_code: 1,
    }
}

/// An error printed as it is, without the `Use` line.
pub(crate) fn plain(msg: String) -> ParseError {
    ParseError {
        stderr: msg,
        stdout: String::new(),
        exit_code: 1,
    }
}

/// `No such file or directory (os error 2)` -> `No such file or directory`, as `strerror`.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// The text of a value that must be UTF-8 (`-h`, `-i`, topics...).
pub(crate) fn text(v: &OsStr, name: &str) -> Result<String, Fail> {
    v.to_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("Error: Malformed UTF-8 in {name} argument.\n\n"))
}

impl State {
    pub(crate) fn new(tool: Tool) -> Self {
        Self {
            tool,
            stop: None,
            net: Net::default(),
            tls: Tls::default(),
            session: Session {
                protocol: ProtocolVersion::V3_1_1,
                id: None,
                id_prefix: None,
                keepalive: 60,
                clean: true,
                expiry: None,
                max_inflight: 20,
                props: V5Properties::default(),
                deferred: Vec::new(),
            },
            auth: Auth::default(),
            will: Will::default(),
            qos: 0,
            debug: false,
            quiet: false,
            strict_exit: false,
            publish: Publish {
                topic: None,
                message: None,
                retain: false,
                repeat: 1,
                repeat_delay: 0.0,
                topic_aliases: false,
            },
            subscribe: Subscribe {
                topics: Vec::new(),
                filter_out: Vec::new(),
                unsubscribe: Vec::new(),
                msg_count: None,
                timeout: None,
                exit_after_sub: false,
                no_retained: false,
                retained_only: false,
                remove_retained: false,
                retain_as_published: false,
                retain_handling: None,
                random_filter: None,
                reconnect: Reconnect::Forever,
            },
            print: OutputOptions::default(),
            output: Output::default(),
        }
    }

    /// `cfg_add_topic`: `-t` and the `-L` topic; mqpub keeps the last, mqsub all of them.
    pub(crate) fn add_topic(&mut self, v: &OsStr, name: &str) -> Result<(), Fail> {
        let s = text(v, name)?;
        match self.tool {
            Tool::Pub => {
                // D5: the empty topic is rejected (TopicName::new refuses it).
                let t = TopicName::new(s.clone()).map_err(|_| {
                    format!("Error: Invalid publish topic '{s}', does it contain '+' or '#'?\n")
                })?;
                self.publish.topic = Some(t);
            }
            Tool::Sub => {
                let f = TopicFilter::new(s.clone()).map_err(|_| {
                    format!(
                        "Error: Invalid subscription topic '{s}', are all '+' and '#' wildcards correct?\n"
                    )
                })?;
                self.subscribe.topics.push(f);
            }
        }
        Ok(())
    }

    /// A second message source (`-m -f -l -n -s`) is an error.
    pub(crate) fn no_message_yet(&self) -> Result<(), Fail> {
        match self.publish.message {
            Some(_) => Err("Error: Only one type of message can be sent at once.\n\n".to_owned()),
            None => Ok(()),
        }
    }

    /// Sets the message source, the first one only.
    pub(crate) fn set_message(&mut self, m: MessageSource) -> Result<(), Fail> {
        self.no_message_yet()?;
        self.publish.message = Some(m);
        Ok(())
    }

    /// The checks at the end of mosquitto's `client_config_load`.
    pub(crate) fn load_checks(&mut self) -> Result<(), Fail> {
        let (will, tls, s) = (&self.will, &self.tls, &mut self.session);
        if will.payload.is_some() && will.topic.is_none() {
            return Err("Error: Will payload given, but no will topic given.\n".to_owned());
        }
        if will.retain && will.topic.is_none() {
            return Err("Error: Will retain given, but no will topic given.\n".to_owned());
        }
        if tls.cert.is_some() != tls.key.is_some() {
            return Err(
                "Error: Both certfile and keyfile must be provided if one of them is set.\n"
                    .to_owned(),
            );
        }
        if tls.keyform.is_some() && tls.key.is_none() {
            return Err("Error: If keyform is set, keyfile must be also specified.\n".to_owned());
        }
        if tls.engine_kpass_sha1.is_some() && (tls.keyform.is_none() || tls.engine.is_none()) {
            return Err(
                "Error: when using tls-engine-kpass-sha1, both tls-engine and keyform must also be provided.\n"
                    .to_owned(),
            );
        }
        if (tls.cafile.is_some() || tls.capath.is_some()) && tls.psk.is_some() {
            return Err(
                "Error: Only one of --psk or --cafile/--capath may be used at once.\n".to_owned(),
            );
        }
        if tls.psk.is_some() && tls.psk_identity.is_none() {
            return Err("Error: --psk-identity required if --psk used.\n".to_owned());
        }
        let no_id = s.id_prefix.is_some() || s.id.is_none();
        if s.protocol == ProtocolVersion::V5 {
            let mut sei = s.expiry;
            if !s.clean && sei.is_none() {
                // -c without -x: a persistent session that never expires.
                sei = Some(u32::MAX);
            }
            if let Some(sei) = sei.filter(|s| *s > 0) {
                if sei == u32::MAX && no_id {
                    return Err(
                        "Error: You must provide a client id if you are using an infinite session expiry interval.\n"
                            .to_owned(),
                    );
                }
                if s.props.connect.session_expiry_interval.is_some() {
                    // Given twice (-x and -D): mosquitto's property check fails.
                    s.deferred.push(PropertyPacket::Connect);
                } else {
                    s.props.connect.session_expiry_interval = Some(sei);
                }
            }
        } else if !s.clean && no_id {
            return Err(
                "Error: You must provide a client id if you are using the -c option.\n".to_owned(),
            );
        }
        if self.tool == Tool::Sub
            && self.subscribe.topics.is_empty()
            && self.subscribe.unsubscribe.is_empty()
        {
            // 2.0.11 also refused -U without -t; 2.1 accepts it, so do we.
            return Err("Error: You must specify a topic to subscribe to.\n".to_owned());
        }
        for p in PropertyPacket::ALL {
            if self.session.deferred.contains(&p) {
                return Err(p.check_all_message());
            }
        }
        Ok(())
    }

    /// Checks done after loading, without the `Use` line (`client_opts_set`, TLS setup), and
    /// the construction of [`ConnArgs`].
    fn conn(&mut self, env: &Environment) -> Result<ConnArgs, ParseError> {
        let err = |m: &str| plain(m.to_owned());
        let v3 = self.session.protocol != ProtocolVersion::V5;
        let auth = &mut self.auth;
        // -P (or the -L password) wins over --pw-prompt, which wins over --pw-file, which
        // wins over $MQTT_PASSWORD.
        let password_prompt = auth.pw_prompt && auth.password.is_none();
        // (--pw-prompt is read at run time, by the tool.)
        let from_file = auth.password.is_none() && !password_prompt;
        if let Some(path) = auth.pw_file.as_ref().filter(|_| from_file) {
            let mut b = std::fs::read(path).map_err(|e| {
                plain(format!(
                    "Error: Unable to read password file \"{}\": {}.\n",
                    path.to_string_lossy(),
                    io_reason(&e)
                ))
            })?;
            if b.last() == Some(&b'\n') {
                b.pop();
                if b.last() == Some(&b'\r') {
                    b.pop();
                }
            }
            auth.password = Some(b);
        }
        if auth.password.is_none() && !password_prompt {
            auth.password = env.mqtt_password.as_deref().map(os_to_bytes);
        }
        if v3 && (auth.password.is_some() || password_prompt) && auth.username.is_none() {
            // [MQTT-3.1.2-22]; libmosquitto refuses it for 3.x.
            return Err(err("Error: Problem setting username and/or password.\n"));
        }
        let tls = &self.tls;
        // D16: what rustls cannot do fails clearly instead of at connect time.
        let unsupported =
            |what: &str| plain(format!("Error: {what} is not supported by this build.\n"));
        if tls.psk.is_some() {
            return Err(unsupported("--psk"));
        }
        if tls.engine.is_some() {
            return Err(unsupported("--tls-engine"));
        }
        match tls.keyform.as_deref() {
            None | Some("pem") => {}
            Some("engine") => return Err(unsupported("--keyform engine")),
            Some(_) => {
                return Err(err(
                    "Error: Problem setting key form, it must be one of 'pem' or 'engine'.\n",
                ));
            }
        }
        if tls.engine_kpass_sha1.is_some() {
            return Err(unsupported("--tls-engine-kpass-sha1"));
        }
        let version = match tls.version.as_deref() {
            None => None,
            Some("tlsv1.3") => Some(TlsVersion::Tls13),
            Some("tlsv1.2") => Some(TlsVersion::Tls12),
            Some("tlsv1.1") => return Err(unsupported("--tls-version tlsv1.1")),
            Some(_) => {
                return Err(err(
                    "Error: Problem setting TLS options, check the options are valid.\n",
                ));
            }
        };
        if tls.ciphers.is_some() {
            return Err(unsupported("--ciphers"));
        }

        let net = &self.net;
        let ca = tls.cafile.is_some() || tls.capath.is_some();
        let port = match net.port {
            Some(p) => {
                u16::try_from(p).map_err(|_| plain(format!("Error: Invalid port given: {p}\n")))?
            }
            None if ca || tls.psk.is_some() => 8883,
            None => 1883,
        };
        let host = net.host.clone().unwrap_or_else(|| "localhost".to_owned());
        let tls_args = (!tls.no_tls && (ca || tls.use_os_certs || port == 8883)).then(|| TlsArgs {
            cafile: tls.cafile.clone(),
            capath: tls.capath.clone(),
            cert: tls.cert.clone(),
            key: tls.key.clone(),
            use_os_certs: tls.use_os_certs || !ca,
            insecure: tls.insecure,
            alpn: tls.alpn.clone(),
            version,
            keylog: tls.keylog.clone(),
        });
        let transport = if port == 0 {
            Transport::Unix {
                path: PathBuf::from(&host),
            }
        } else if net.websocket {
            Transport::WebSocket {
                path: "/mqtt".to_owned(),
            }
        } else {
            Transport::Tcp
        };
        let s = &self.session;
        let client_id = match (&s.id, &s.id_prefix) {
            (Some(id), _) => ClientId::Given(id.clone()),
            (None, Some(p)) => ClientId::Prefix(p.clone()),
            (None, None) => ClientId::Generated,
        };
        let will = self.will.topic.clone().map(|topic| WillArgs {
            topic,
            payload: self.will.payload.clone().unwrap_or_default(),
            qos: QoS::from_u8(self.will.qos).unwrap_or_default(),
            retain: self.will.retain,
            properties: s.props.will.clone(),
        });
        Ok(ConnArgs {
            host,
            port,
            transport,
            url: net.url.clone(),
            bind_address: net.bind_address.clone(),
            protocol: s.protocol,
            client_id,
            keepalive: s.keepalive,
            clean_session: s.clean,
            username: self.auth.username.clone(),
            password: self.auth.password.clone(),
            password_prompt,
            will,
            tls: tls_args,
            proxy: net.proxy.clone(),
            properties: s.props.clone(),
            max_inflight: s.max_inflight,
            nodelay: net.nodelay,
            debug: self.debug,
            quiet: self.quiet,
            connect_timeout: net.connect_timeout,
            strict_exit: self.strict_exit,
        })
    }

    /// mqpub's arguments, or the error mosquitto_pub prints. Without topic or message that
    /// is the whole `usage` on stdout (passed in: the help text is made from the option
    /// table, which writes this state).
    pub(crate) fn finish_pub(
        mut self,
        env: &Environment,
        usage: impl FnOnce() -> String,
    ) -> Result<Parsed<PubArgs>, ParseError> {
        let p = &self.publish;
        let (Some(topic), Some(message)) = (p.topic.clone(), p.message.clone()) else {
            return Err(ParseError {
                stderr: "Error: Both topic and message must be supplied.\n".to_owned(),
                stdout: usage(),
                exit_code: 1,
            });
        };
        let conn = self.conn(env)?;
        let p = &self.publish;
        Ok(Parsed::Run(PubArgs {
            conn,
            topic,
            message,
            qos: QoS::from_u8(self.qos).unwrap_or_default(),
            retain: p.retain,
            repeat: p.repeat,
            repeat_delay: Duration::try_from_secs_f64(p.repeat_delay).unwrap_or_default(),
            topic_aliases: p.topic_aliases,
        }))
    }

    /// mqsub's arguments, or the error mosquitto_sub prints.
    pub(crate) fn finish_sub(mut self, env: &Environment) -> Result<Parsed<SubArgs>, ParseError> {
        let (sub, out) = (&self.subscribe, &self.output);
        if sub.no_retained && sub.retained_only {
            return Err(plain(
                "\nError: Combining '-R' and '--retained-only' makes no sense.\n".to_owned(),
            ));
        }
        if out.file.is_some() && out.dir.is_some() {
            return Err(with_use(
                self.tool,
                "Error: --output and --output-dir cannot be used together.\n",
            ));
        }
        if out.watch && (out.file.is_some() || out.dir.is_some() || out.message_rate) {
            return Err(with_use(
                self.tool,
                "Error: --watch cannot be used with --output, --output-dir or --message-rate.\n",
            ));
        }
        if let Some(n) = sub.msg_count.filter(|n| *n < 20) {
            let connect = &mut self.session.props.connect;
            if self.session.protocol == ProtocolVersion::V5 && connect.receive_maximum.is_none() {
                connect.receive_maximum = u16::try_from(n).ok().and_then(std::num::NonZeroU16::new);
            }
        }
        let conn = self.conn(env)?;
        let (sub, out) = (self.subscribe, self.output);
        let retain_handling = sub.retain_handling.unwrap_or(if sub.no_retained {
            RetainHandling::DoNotSend
        } else {
            RetainHandling::SendAtSubscribe
        });
        Ok(Parsed::Run(SubArgs {
            conn,
            topics: sub.topics,
            qos: QoS::from_u8(self.qos).unwrap_or_default(),
            filter_out: sub.filter_out,
            unsubscribe: sub.unsubscribe,
            output: self.print,
            msg_count: sub.msg_count,
            timeout: sub.timeout,
            exit_after_sub: sub.exit_after_sub,
            no_retained: sub.no_retained,
            retained_only: sub.retained_only,
            remove_retained: sub.remove_retained,
            retain_as_published: sub.retain_as_published,
            retain_handling,
            random_filter: sub.random_filter,
            reconnect: sub.reconnect,
            output_file: out.file,
            output_dir: out.dir,
            message_rate: out.message_rate,
            watch: out.watch,
        }))
    }
}
