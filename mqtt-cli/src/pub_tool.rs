//! `mqpub`: connect, publish, wait until every message is acknowledged (QoS 1/2) or written
//! (QoS 0), disconnect. Exit statuses and messages are mosquitto_pub's.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use mqtt_client::{Client, ClientError, PublishHandle, PublishRequest, RequestError};
use tokio::io::AsyncBufReadExt;

use crate::args::{self, MessageSource, Parsed, PubArgs, Tool};
use crate::config::Environment;
use crate::exit::print_parsed;
use crate::session::{self, Failure};

/// Publishes allowed to wait for their acknowledgement at once with `-l` (the client's own
/// inflight limit, `-M`, decides what is on the wire).
const WINDOW: usize = 4096;

/// Run `mqpub` with these arguments (without the program name); returns the exit status.
/// Prints to the process's stdout and stderr.
pub fn main(argv: Vec<OsString>) -> u8 {
    let env = Environment::from_process();
    let args = match args::parse_pub(argv, &env) {
        Parsed::Run(a) => a,
        other => return print_parsed(other),
    };
    let quiet = args.conn.quiet;
    session::run_main(quiet, None, run(args))
}

/// Read a `-f` file or `-s` stdin before connecting, as mosquitto does.
fn load_payload(source: &MessageSource) -> Result<Option<Bytes>, Failure> {
    match source {
        MessageSource::Message(m) => Ok(Some(Bytes::from(m.clone()))),
        MessageSource::Null => Ok(Some(Bytes::new())),
        MessageSource::File(path) => match std::fs::read(path) {
            Ok(b) => Ok(Some(Bytes::from(b))),
            Err(_) => Err(Failure {
                stderr: format!(
                    "Error: Unable to open file \"{p}\".\nError loading input file \"{p}\".\n",
                    p = path.display()
                ),
                code: 1,
            }),
        },
        MessageSource::StdinFile => {
            let mut buf = Vec::new();
            if std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).is_err()
                || buf.is_empty()
            {
                return Err(Failure {
                    stderr: "Error: Zero length input.\nError loading input from stdin.\n".into(),
                    code: 1,
                });
            }
            Ok(Some(Bytes::from(buf)))
        }
        MessageSource::StdinLine => Ok(None),
    }
}

async fn run(args: PubArgs) -> Result<u8, Failure> {
    let payload = load_payload(&args.message)?;
    let id = session::client_id(Tool::Pub, &args.conn);
    let mut options = session::options(Tool::Pub, &args.conn, &id)?;
    // mosquitto_pub does not reconnect: a lost connection is exit 7.
    options.reconnect.enabled = false;
    // `--topic-aliases` (an addition): the client maps the topic to an alias once and then
    // sends the alias alone, when the broker allows aliases (5.0). `-D publish topic-alias
    // N` asks for alias N itself, as mosquitto_pub does; that works without this option.
    options.mqtt.outbound_topic_aliases = args.topic_aliases;
    let connect_timeout = options.mqtt.connect_timeout;
    let protocol = options.mqtt.protocol;
    let (client, messages) = Client::connect(options)
        .await
        .map_err(|e| session::connect_failure(&e, protocol, true, connect_timeout))?;
    drop(messages);
    let mut pending: VecDeque<(u16, PublishHandle)> = VecDeque::new();
    let mut mid: u16 = 0;
    let mut outcome = Outcome::default();
    let props = &args.conn.properties.publish;
    let request = |payload: Bytes| {
        let mut r = PublishRequest::new(args.topic.clone(), args.qos, payload).retain(args.retain);
        if !props.is_empty() {
            r = r.properties(props.clone());
        }
        r
    };
    match payload {
        Some(payload) => {
            for i in 0..args.repeat.max(1) {
                if i > 0 && !args.repeat_delay.is_zero() {
                    tokio::time::sleep(args.repeat_delay).await;
                }
                let h = client
                    .publish_with(request(payload.clone()))
                    .await
                    .map_err(|e| lost(&e))?;
                mid = next_mid(mid);
                // mosquitto_pub sends the next --repeat message only once this one is
                // delivered (PUBACK / PUBCOMP, or written for QoS 0), and --repeat-delay
                // counts from there.
                outcome.settle(mid, h.await)?;
            }
        }
        None => {
            let mut stdin = tokio::io::BufReader::with_capacity(64 * 1024, tokio::io::stdin());
            let mut line = Vec::new();
            loop {
                line.clear();
                let n = stdin
                    .read_until(b'\n', &mut line)
                    .await
                    .map_err(Failure::error)?;
                if n == 0 {
                    break;
                }
                if line.last() == Some(&b'\n') {
                    line.pop();
                }
                let h = client
                    .publish_with(request(Bytes::copy_from_slice(&line)))
                    .await
                    .map_err(|e| lost(&e))?;
                mid = next_mid(mid);
                pending.push_back((mid, h));
                while pending.len() > WINDOW {
                    if let Some((m, h)) = pending.pop_front() {
                        outcome.settle(m, h.await)?;
                    }
                }
            }
        }
    }
    for (m, h) in pending {
        outcome.settle(m, h.await)?;
    }
    let _ = client.disconnect(Duration::from_secs(10)).await;
    if args.conn.strict_exit
        && let Some(code) = outcome.first_failure
    {
        return Ok(code);
    }
    Ok(0)
}

/// The message id after `mid`, as libmosquitto numbers them (the N of `Warning: Publish N
/// failed`): 16 bits, 0 skipped when it wraps.
fn next_mid(mid: u16) -> u16 {
    mid.checked_add(1).unwrap_or(1)
}

/// The connection ended under a request: mosquitto_pub's exit 7.
fn lost(_e: &ClientError) -> Failure {
    Failure {
        stderr: "Error: The connection was lost.\n".into(),
        code: 7,
    }
}

#[derive(Default)]
struct Outcome {
    first_failure: Option<u8>,
}

impl Outcome {
    /// One acknowledgement: a refusal is a warning (exit 0, as mosquitto; `--strict-exit`
    /// makes it the status); a lost connection ends the run.
    fn settle(
        &mut self,
        mid: u16,
        r: Result<mqtt_client::PublishAck, ClientError>,
    ) -> Result<(), Failure> {
        match r {
            Ok(_) => Ok(()),
            Err(ClientError::Request(RequestError::PublishRefused { reason, .. })) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "Warning: Publish {mid} failed: {}.",
                    reason.description()
                );
                self.first_failure.get_or_insert(reason.code());
                Ok(())
            }
            Err(ClientError::Request(RequestError::NotAllowed(limit))) => {
                let _ = writeln!(std::io::stderr(), "Warning: Publish failed: {limit}.");
                self.first_failure.get_or_insert(1);
                Ok(())
            }
            Err(ClientError::Request(RequestError::Encode(e))) => Err(Failure::error(e)),
            Err(e) => Err(lost(&e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::next_mid;

    #[test]
    fn message_ids_wrap_like_libmosquitto() {
        assert_eq!(next_mid(0), 1);
        assert_eq!(next_mid(41), 42);
        // 4 billion `-l` lines no longer overflow a counter (a panic in debug builds).
        assert_eq!(next_mid(u16::MAX), 1);
    }
}
