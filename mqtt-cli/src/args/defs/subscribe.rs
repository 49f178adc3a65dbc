//! mqsub's own options about what it subscribes to, which messages it keeps and when it
//! stops (how it prints them is in `output`).

use mqtt_proto::{RetainHandling, TopicFilter};

use crate::args::flag::{For, Kind, Opt};
use crate::args::model::Reconnect;
use crate::args::state::text;
use crate::cnum::{atof, atoll};

pub(crate) const COUNT: Opt = Opt {
    short: Some('C'),
    long: None,
    tools: For::Sub,
    summary: "Exit after this many messages",
    help: "disconnect and exit after receiving the 'msg_count' messages.",
    kind: Kind::value(
        "COUNT",
        "Error: -C argument given but no count specified.\n\n",
        |st, v| {
            let n = atoll(v);
            if n < 1 {
                return Err(format!("Error: Invalid message count \"{n}\".\n\n"));
            }
            st.subscribe.msg_count = Some(u32::try_from(n).unwrap_or(u32::MAX));
            Ok(())
        },
    ),
};

pub(crate) const EXIT_AFTER_SUB: Opt = Opt {
    short: Some('E'),
    long: None,
    tools: For::Sub,
    summary: "Exit once subscribed",
    help: "Exit once all subscriptions have been acknowledged by the broker.",
    kind: Kind::Switch(|st| {
        st.subscribe.exit_after_sub = true;
        Ok(())
    }),
};

pub(crate) const NO_RETAINED: Opt = Opt {
    short: Some('R'),
    long: None,
    tools: For::Sub,
    summary: "Do not print retained messages",
    help: "do not print stale messages (those with retain set).",
    kind: Kind::Switch(|st| {
        st.subscribe.no_retained = true;
        Ok(())
    }),
};

/// mqsub's `-t`: filters accumulate (mqpub's is in `publish`).
pub(crate) const TOPIC: Opt = Opt {
    short: Some('t'),
    long: Some("topic"),
    tools: For::Sub,
    summary: "Topic filter to subscribe to (repeatable)",
    help: "mqtt topic to subscribe to. May be repeated multiple times.",
    kind: Kind::value(
        "TOPIC",
        "Error: -t argument given but no topic specified.\n\n",
        |st, v| st.add_topic(v, "-t"),
    )
    .repeats(),
};

pub(crate) const FILTER_OUT: Opt = Opt {
    short: Some('T'),
    long: Some("filter-out"),
    tools: For::Sub,
    summary: "Do not print matching topics",
    help: "topic string to filter out of results. May be repeated.",
    kind: Kind::value(
        "FILTER",
        "Error: -T argument given but no topic filter specified.\n\n",
        |st, v| {
            let s = text(v, "-T")?;
            let f = TopicFilter::new(s.clone()).map_err(|_| {
                format!(
                    "Error: Invalid filter topic '{s}', are all '+' and '#' wildcards correct?\n"
                )
            })?;
            st.subscribe.filter_out.push(f);
            Ok(())
        },
    )
    .repeats(),
};

pub(crate) const UNSUBSCRIBE: Opt = Opt {
    short: Some('U'),
    long: Some("unsubscribe"),
    tools: For::Sub,
    summary: "Unsubscribe from this filter",
    help: "unsubscribe from a topic. May be repeated.",
    kind: Kind::value(
        "FILTER",
        "Error: -U argument given but no unsubscribe topic specified.\n\n",
        |st, v| {
            let s = text(v, "-U")?;
            let f = TopicFilter::new(s.clone()).map_err(|_| {
                format!(
                    "Error: Invalid unsubscribe topic '{s}', are all '+' and '#' wildcards correct?\n"
                )
            })?;
            st.subscribe.unsubscribe.push(f);
            Ok(())
        },
    )
    .repeats(),
};

pub(crate) const TIMEOUT: Opt = Opt {
    short: Some('W'),
    long: None,
    tools: For::Sub,
    summary: "Exit after this many seconds",
    help: "Specifies a timeout in seconds how long to process incoming MQTT messages.",
    kind: Kind::value(
        "SECONDS",
        "Error: -W argument given but no timeout specified.\n\n",
        |st, v| {
            let n = atoll(v);
            if n < 1 {
                return Err(format!("Error: Invalid timeout \"{n}\".\n\n"));
            }
            st.subscribe.timeout = Some(u32::try_from(n).unwrap_or(u32::MAX));
            Ok(())
        },
    ),
};

/// **D11**.
pub(crate) const NO_RECONNECT: Opt = Opt {
    short: None,
    long: Some("no-reconnect"),
    tools: For::Sub,
    summary: "Exit when the connection is lost",
    help: "exit when the connection is lost instead of reconnecting.",
    kind: Kind::Switch(|st| {
        st.subscribe.reconnect = Reconnect::Never;
        Ok(())
    }),
};

/// **D3**: a real percentage.
pub(crate) const RANDOM_FILTER: Opt = Opt {
    short: None,
    long: Some("random-filter"),
    tools: For::Sub,
    summary: "Print only this percentage of messages",
    help: "only print a percentage of received messages (0.1-100.0).",
    kind: Kind::value(
        "PERCENT",
        "Error: --random-filter argument given but no chance specified.\n\n",
        |st, v| {
            let chance = atof(v);
            let tenths = (10.0 * chance) as i64;
            if !(1..=1000).contains(&tenths) {
                return Err(
                    "Error: --random-filter chance must be between 0.1-100.0\n\n".to_owned(),
                );
            }
            // D3: stored and applied as a real percentage.
            st.subscribe.random_filter = Some(chance);
            Ok(())
        },
    ),
};

/// **D11**.
pub(crate) const RECONNECT_MAX: Opt = Opt {
    short: None,
    long: Some("reconnect-max"),
    tools: For::Sub,
    summary: "Give up after this many failed reconnects",
    help: "give up after this many failed reconnection attempts in a row.",
    kind: Kind::value(
        "COUNT",
        "Error: --reconnect-max argument given but no count specified.\n\n",
        |st, v| {
            let n = atoll(v);
            if n < 0 {
                return Err(format!("Error: Invalid reconnect count \"{n}\".\n\n"));
            }
            st.subscribe.reconnect = Reconnect::Max(u32::try_from(n).unwrap_or(u32::MAX));
            Ok(())
        },
    ),
};

/// **D4**: works together with `-R`.
pub(crate) const REMOVE_RETAINED: Opt = Opt {
    short: None,
    long: Some("remove-retained"),
    tools: For::Sub,
    summary: "Clear received retained messages",
    help: "send a message to the server to clear any received retained messages\n\
           Use -T to filter out messages you do not want to be cleared.",
    kind: Kind::Switch(|st| {
        st.subscribe.remove_retained = true;
        Ok(())
    }),
};

pub(crate) const RETAIN_AS_PUBLISHED: Opt = Opt {
    short: None,
    long: Some("retain-as-published"),
    tools: For::Sub,
    summary: "Keep the retain flag (v5)",
    help: "this client requests that the broker keeps the retain flag of\n\
           messages it forwards (MQTT v5 only).",
    kind: Kind::Switch(|st| {
        st.subscribe.retain_as_published = true;
        Ok(())
    }),
};

pub(crate) const RETAIN_HANDLING: Opt = Opt {
    short: None,
    long: Some("retain-handling"),
    tools: For::Sub,
    summary: "always, new or never (v5)",
    help: "when the broker sends retained messages: always, new (only for new\n\
           subscriptions) or never (MQTT v5 only). -R implies never.",
    kind: Kind::value(
        "WHEN",
        "Error: --retain-handling argument given but no value specified.\n\n",
        |st, v| {
            st.subscribe.retain_handling = Some(match v.to_string_lossy().as_ref() {
                "always" => RetainHandling::SendAtSubscribe,
                "new" => RetainHandling::SendAtSubscribeIfNew,
                "never" => RetainHandling::DoNotSend,
                other => {
                    return Err(format!(
                        "Error: Invalid --retain-handling value '{other}', it must be one of 'always', 'new' or 'never'.\n\n"
                    ));
                }
            });
            Ok(())
        },
    )
    .choices(&["always", "new", "never"]),
};

pub(crate) const RETAINED_ONLY: Opt = Opt {
    short: None,
    long: Some("retained-only"),
    tools: For::Sub,
    summary: "Print only retained messages",
    help: "only handle messages with the retained flag set, and exit when the\n\
           first non-retained message is received.",
    kind: Kind::Switch(|st| {
        st.subscribe.retained_only = true;
        Ok(())
    }),
};

#[cfg(test)]
mod tests {
    use mqtt_proto::RetainHandling;

    use crate::args::model::Reconnect;
    use crate::args::testing::{pub_says, sub_err, sub_ok, sub_says};

    #[test]
    fn count() {
        assert_eq!(sub_ok(&[]).msg_count, None);
        assert_eq!(sub_ok(&["-C", "5"]).msg_count, Some(5));
        assert_eq!(
            sub_says(&["-C", "abc"]),
            "Error: Invalid message count \"0\"."
        );
        assert_eq!(pub_says(&["-C", "5"]), "Error: Unknown option '-C'.");
    }

    #[test]
    fn exit_after_sub() {
        assert!(!sub_ok(&[]).exit_after_sub);
        assert!(sub_ok(&["-E"]).exit_after_sub);
    }

    #[test]
    fn no_retained() {
        let a = sub_ok(&["-R"]);
        assert!(a.no_retained);
        assert_eq!(a.retain_handling, RetainHandling::DoNotSend);
        assert_eq!(
            sub_err(&["-R", "--retained-only", "-t", "a"]).stderr,
            "\nError: Combining '-R' and '--retained-only' makes no sense.\n"
        );
    }

    #[test]
    fn topic() {
        let a = sub_ok(&["-t", "a/+", "--topic", "b/#"]);
        let topics: Vec<&str> = a.topics.iter().map(|t| t.as_str()).collect();
        assert_eq!(topics, ["a/+", "b/#"]);
        assert_eq!(
            sub_says(&["-t", "a/#/b"]),
            "Error: Invalid subscription topic 'a/#/b', are all '+' and '#' wildcards correct?"
        );
        assert_eq!(
            sub_says(&[]),
            "Error: You must specify a topic to subscribe to."
        );
    }

    #[test]
    fn filter_out() {
        let a = sub_ok(&["-T", "a/+", "--filter-out", "b"]);
        assert_eq!(a.filter_out.len(), 2);
        assert_eq!(
            sub_says(&["-T", "a#"]),
            "Error: Invalid filter topic 'a#', are all '+' and '#' wildcards correct?"
        );
    }

    #[test]
    fn unsubscribe() {
        // -U alone is enough (mosquitto 2.1).
        let a = sub_ok(&["-U", "a/#"]);
        assert!(a.topics.is_empty());
        assert_eq!(a.unsubscribe[0].as_str(), "a/#");
        assert_eq!(
            sub_says(&["--unsubscribe", "+a"]),
            "Error: Invalid unsubscribe topic '+a', are all '+' and '#' wildcards correct?"
        );
    }

    #[test]
    fn timeout() {
        assert_eq!(sub_ok(&["-W", "3"]).timeout, Some(3));
        assert_eq!(sub_says(&["-W", "0"]), "Error: Invalid timeout \"0\".");
    }

    #[test]
    fn no_reconnect() {
        assert_eq!(sub_ok(&[]).reconnect, Reconnect::Forever);
        assert_eq!(sub_ok(&["--no-reconnect"]).reconnect, Reconnect::Never);
    }

    #[test]
    fn random_filter() {
        assert_eq!(
            sub_ok(&["--random-filter", "12.5"]).random_filter,
            Some(12.5)
        );
        assert_eq!(
            sub_says(&["--random-filter", "0.05"]),
            "Error: --random-filter chance must be between 0.1-100.0"
        );
        assert_eq!(
            sub_says(&["--random-filter", "100.1"]),
            "Error: --random-filter chance must be between 0.1-100.0"
        );
    }

    #[test]
    fn reconnect_max() {
        assert_eq!(
            sub_ok(&["--reconnect-max", "3"]).reconnect,
            Reconnect::Max(3)
        );
        assert_eq!(
            sub_ok(&["--reconnect-max", "0"]).reconnect,
            Reconnect::Max(0)
        );
        assert_eq!(
            sub_says(&["--reconnect-max", "-1"]),
            "Error: Invalid reconnect count \"-1\"."
        );
    }

    #[test]
    fn remove_retained() {
        // D4: together with -R.
        let a = sub_ok(&["--remove-retained", "-R"]);
        assert!(a.remove_retained && a.no_retained);
    }

    #[test]
    fn retain_as_published() {
        assert!(!sub_ok(&[]).retain_as_published);
        assert!(sub_ok(&["--retain-as-published"]).retain_as_published);
    }

    #[test]
    fn retain_handling() {
        assert_eq!(sub_ok(&[]).retain_handling, RetainHandling::SendAtSubscribe);
        for (word, rh) in [
            ("always", RetainHandling::SendAtSubscribe),
            ("new", RetainHandling::SendAtSubscribeIfNew),
            ("never", RetainHandling::DoNotSend),
        ] {
            assert_eq!(sub_ok(&["--retain-handling", word]).retain_handling, rh);
        }
        // Given, it wins over -R's default.
        assert_eq!(
            sub_ok(&["-R", "--retain-handling", "new"]).retain_handling,
            RetainHandling::SendAtSubscribeIfNew
        );
        assert_eq!(
            sub_says(&["--retain-handling", "x"]),
            "Error: Invalid --retain-handling value 'x', it must be one of 'always', 'new' or 'never'."
        );
    }

    #[test]
    fn retained_only() {
        assert!(sub_ok(&["--retained-only"]).retained_only);
    }
}
