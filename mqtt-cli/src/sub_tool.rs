//! `mqsub`: connect, subscribe, print messages the way mosquitto_sub does, until `-C`, `-W`,
//! `-E`, `--retained-only`, a signal or a closed stdout ends it. Exit statuses and messages
//! are mosquitto_sub's, with the fixes listed in `DIFFERENCES.md`.

use std::ffi::OsString;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mqtt_client::{
    Client, ClientError, ConnectionStatus, Message, PublishRequest, RequestError, SubscribeFilter,
    SubscriptionOptions,
};
use mqtt_proto::{Disconnect, DisconnectReason, QoS};

use crate::args::{self, Parsed, Reconnect, SubArgs, Tool};
use crate::config::Environment;
use crate::exit::print_parsed;
use crate::format::MessageView;
use crate::output::Sink;
use crate::session::{self, Failure};
use crate::time::SystemClock;

/// Run `mqsub` with these arguments (without the program name); returns the exit status.
pub fn main(argv: Vec<OsString>) -> u8 {
    let env = Environment::from_process();
    let args = match args::parse_sub(argv, &env) {
        Parsed::Run(a) => a,
        other => return print_parsed(other),
    };
    let quiet = args.conn.quiet;
    let limit = args.timeout.map(|s| Duration::from_secs(u64::from(s)));
    // The connected client, so that -W can still send DISCONNECT as mosquitto_sub does.
    let connected: ClientSlot = Arc::default();
    let work = async {
        match limit {
            // -W is a hard limit, from start-up (D12: also before CONNACK).
            Some(limit) => match tokio::time::timeout(limit, run(args, connected.clone())).await {
                Ok(r) => r,
                Err(_) => {
                    // After CONNACK mosquitto_sub disconnects cleanly on -W (`sending
                    // DISCONNECT` with -d); take the client out before awaiting.
                    let client = connected.lock().ok().and_then(|mut c| c.take());
                    if let Some(client) = client {
                        let _ = client.disconnect(Duration::from_secs(1)).await;
                    }
                    Err(Failure {
                        stderr: "Timed out\n".into(),
                        code: 27,
                    })
                }
            },
            None => run(args, connected.clone()).await,
        }
    };
    // A -W time-out is reported even with -q.
    session::run_main(quiet, Some(27), work)
}

/// Where `run` leaves the connected client for `main` (see -W).
type ClientSlot = Arc<Mutex<Option<Client>>>;

enum Next {
    Message(Message),
    Signal,
    Closed,
    /// `--message-rate`: a second has passed.
    Tick,
}

async fn run(args: SubArgs, connected: ClientSlot) -> Result<u8, Failure> {
    // --output / --output-dir / --message-rate; fails before connecting.
    let mut sink = Sink::open(&args)?;
    let id = session::client_id(Tool::Sub, &args.conn);
    let mut options = session::options(Tool::Sub, &args.conn, &id)?;
    match args.reconnect {
        Reconnect::Forever => {}
        Reconnect::Max(n) => options.reconnect.max_attempts = Some(n),
        Reconnect::Never => options.reconnect.enabled = false,
    }
    // mosquitto_sub retries about once a second.
    options.reconnect.min_delay = Duration::from_millis(500);
    options.reconnect.max_delay = Duration::from_secs(2);
    // mosquitto_sub sends a Subscription Identifier only when asked (`-D subscribe
    // subscription-identifier N`); one added by the client would show in %S and %j.
    options.auto_subscription_ids = false;
    let protocol = options.mqtt.protocol;
    let subscriptions: Vec<SubscribeFilter> = args
        .topics
        .iter()
        .map(|f| {
            let mut o = SubscriptionOptions::new(args.qos);
            // The 5.0 subscription options only on 5.0: on 3.x mosquitto_sub ignores
            // --retain-as-published and applies -R client-side only (a 3.1.1 SUBSCRIBE
            // cannot carry them, and the client refused it: `-R` failed with exit 7).
            if protocol.is_v5() {
                o.retain_as_published = args.retain_as_published;
                o.retain_handling =
                    session::retain_handling(args.no_retained, args.retain_handling);
            }
            SubscribeFilter {
                filter: f.clone(),
                options: o,
            }
        })
        .collect();
    // The subscription is part of connecting (issue 16): its SUBSCRIBE goes out right
    // after CONNACK, and every message, including those a resumed session (`-c`) sends
    // before the SUBACK, arrives on the one catch-all stream, so they print in the order
    // they arrived. `-U` without `-t` (mosquitto 2.1) subscribes to nothing.
    let subscribing = !subscriptions.is_empty();
    if subscribing {
        options = options.with_subscriptions(subscriptions, args.conn.properties.subscribe.clone());
    }
    let connect_timeout = options.mqtt.connect_timeout;
    let (client, mut all) = Client::connect(options)
        .await
        .map_err(|e| session::connect_failure(&e, protocol, false, connect_timeout))?;
    if let Ok(mut slot) = connected.lock() {
        *slot = Some(client.clone());
    }
    // Handle SIGINT/SIGTERM from CONNACK on (exit 0), not only once subscribed: a signal
    // that arrives while subscribing would otherwise kill the process (status 130).
    let mut signals = Signals::new()?;
    if !args.conn.quiet {
        tokio::spawn(report_reconnects(client.status()));
    }

    // SUBSCRIBE and UNSUBSCRIBE (-U) go out back to back, as mosquitto_sub sends them
    // (the UNSUBSCRIBE does not wait for the SUBACK); `Subscribed (mid: N)` is printed when
    // the SUBACK arrives.
    let debug = args.conn.debug && !args.conn.quiet;
    let print_granted = |ack: &mqtt_client::SubscribeAck| {
        if debug {
            let granted: Vec<u8> = ack.results.iter().map(|(_, r)| r.code()).collect();
            println_out(&crate::debug::subscribed(ack.packet_id.get(), &granted));
        }
    };
    let subscribe = async {
        if !subscribing {
            return None;
        }
        let r = client.declared_subscriptions().await;
        match &r {
            Ok(acks) => acks.iter().for_each(print_granted),
            Err(ClientError::Request(RequestError::SubscribeRefused(ack))) => print_granted(ack),
            Err(_) => {}
        }
        Some(r)
    };
    let unsubscribe = async {
        if !args.unsubscribe.is_empty() {
            let _ = client
                .unsubscribe_many(
                    args.unsubscribe.clone(),
                    args.conn.properties.unsubscribe.clone(),
                )
                .await;
        }
    };
    let (sub, ()) = tokio::join!(subscribe, unsubscribe);
    match sub {
        None | Some(Ok(_)) => {}
        Some(Err(ClientError::Request(RequestError::SubscribeRefused(_)))) => {
            if !args.conn.quiet {
                let _ = writeln!(std::io::stderr(), "All subscription requests were denied.");
            }
            let _ = client.disconnect(Duration::from_secs(1)).await;
            return Ok(if args.conn.strict_exit { 128 } else { 0 });
        }
        Some(Err(_)) => {
            return Err(Failure {
                stderr: "Error: The connection was lost.\n".into(),
                code: 7,
            });
        }
    }
    if args.exit_after_sub {
        let _ = client.disconnect(Duration::from_secs(1)).await;
        return Ok(0);
    }

    let clock = SystemClock::local();
    let mut count: u32 = 0;
    let mut stderr = std::io::stderr();
    // --random-filter's draws (the crate's one random source is fastrand).
    let mut rng = fastrand::Rng::new();
    // --message-rate / --watch: periodic work.
    let period = sink.tick_period();
    let every = period.unwrap_or(Duration::from_secs(3600));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        let next = tokio::select! {
            // Signals and ticks first: they are rare, a flood must not starve them.
            biased;
            () = signals.recv() => Next::Signal,
            _ = ticker.tick(), if period.is_some() => Next::Tick,
            m = all.recv() => m.map_or(Next::Closed, Next::Message),
        };
        let message = match next {
            Next::Message(m) => m,
            Next::Tick => {
                if let Err(e) = sink.tick() {
                    if e.kind() == std::io::ErrorKind::BrokenPipe {
                        return Ok(0);
                    }
                    return Err(Failure::error(e));
                }
                continue;
            }
            Next::Closed => {
                // Reconnection gave up (D11) or the client stopped.
                let reason = match &*client.status().borrow() {
                    ConnectionStatus::Disconnected {
                        reason: Some(r), ..
                    } => r.to_string(),
                    _ => "the connection was closed".into(),
                };
                return Err(Failure {
                    stderr: format!("Error: The connection was lost ({reason}).\n"),
                    code: 7,
                });
            }
            Next::Signal => {
                // mosquitto_sub disconnects with 0x04 (so a 5.0 broker publishes the will);
                // on 3.1.1 the DISCONNECT suppresses it.
                let _ = client
                    .disconnect_with(
                        Duration::from_secs(1),
                        Disconnect::new(DisconnectReason::DisconnectWithWillMessage),
                    )
                    .await;
                return Ok(0);
            }
        };
        let retained = message.retain();
        if args.retained_only && !retained {
            let _ = client.disconnect(Duration::from_secs(1)).await;
            return Ok(0);
        }
        let topic = message.topic();
        // -T first: `--remove-retained -T keep` spares `keep`, as in mosquitto_sub.
        if args
            .filter_out
            .iter()
            .any(|f| mqtt_proto::topic::matches(f.filter(), topic))
        {
            continue;
        }
        if args.remove_retained && retained && !message.payload().is_empty() {
            // D4: also with -R.
            if let Ok(topic) = mqtt_proto::TopicName::new(topic) {
                let _ = client
                    .publish_with(PublishRequest::new(topic, QoS::AtLeastOnce, "").retain(true))
                    .await;
            }
        }
        if args.no_retained && retained {
            continue;
        }
        if let Some(pct) = args.random_filter {
            // D3: a real percentage, and dropped messages do not count for -C.
            if rng.f64() * 100.0 >= pct {
                continue;
            }
        }
        let publish = message.publish();
        let view = MessageView {
            qos: publish.qos.qos() as u8,
            retain: publish.retain,
            mid: publish.qos.packet_id().map(|p| p.get()),
            properties: publish.properties.as_deref(),
            ..MessageView::new(topic, publish.payload.as_ref())
        };
        if let Err(e) = sink.write(&mut stderr, &view, &clock) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                // `mqsub ... | head`: stdout closed, exit quietly.
                return Ok(0);
            }
            return Err(Failure::error(e));
        }
        count += 1;
        if args.msg_count.is_some_and(|n| count >= n) {
            let _ = client.disconnect(Duration::from_secs(1)).await;
            return Ok(0);
        }
    }
}

fn println_out(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// D11: say on stderr when the connection is lost and when it is back.
async fn report_reconnects(mut status: tokio::sync::watch::Receiver<ConnectionStatus>) {
    let mut lost = false;
    while status.changed().await.is_ok() {
        let s = status.borrow_and_update().clone();
        match s {
            ConnectionStatus::Reconnecting {
                attempt,
                last_error,
                ..
            } if !lost || attempt == 1 => {
                lost = true;
                let _ = writeln!(
                    std::io::stderr(),
                    "Connection lost: {last_error}; reconnecting…"
                );
            }
            ConnectionStatus::Connected { .. } if lost => {
                lost = false;
                let _ = writeln!(std::io::stderr(), "Reconnected.");
            }
            _ => {}
        }
    }
}

/// SIGINT and SIGTERM, handled once connected.
struct Signals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Self, Failure> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                int: signal(SignalKind::interrupt()).map_err(Failure::error)?,
                term: signal(SignalKind::terminate()).map_err(Failure::error)?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.int.recv() => {}
                _ = self.term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
