//! Where mqsub's messages go: stdout (the default, mosquitto's bytes), `--output FILE`
//! (appended), `--output-dir DIR` (one file per message), nowhere with `--message-rate`
//! (a count per second on stderr instead), or a table of the latest message per topic,
//! redrawn on stdout, with `-w`/`--watch`.
//!
//! `--color auto` is resolved here: colour only when the messages go to a terminal, so a
//! pipe or a file always gets exactly mosquitto's bytes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, IsTerminal as _, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::args::{SubArgs, message_file_name};
use crate::format::{self, ColorChoice, MessageView, OutputOptions, PayloadFormat};
use crate::session::Failure;
use crate::time::Clock;

/// The destination of the printed messages.
#[derive(Debug)]
pub struct Sink {
    kind: Kind,
    opts: OutputOptions,
}

#[derive(Debug)]
enum Kind {
    Stdout(io::Stdout),
    File(File),
    Dir { dir: PathBuf, counter: u64 },
    Rate { count: u64 },
    Watch(Box<Watch>),
}

impl Sink {
    /// Opens the destination chosen by `args` (the file of `--output` is created if
    /// missing and appended to; the directory of `--output-dir` is created if missing).
    pub fn open(args: &SubArgs) -> Result<Self, Failure> {
        let mut kind = if args.message_rate {
            Kind::Rate { count: 0 }
        } else if args.watch {
            Kind::Watch(Box::new(Watch::new(
                args.output.payload_format,
                std::env::var("COLUMNS")
                    .ok()
                    .and_then(|c| c.trim().parse().ok())
                    .unwrap_or(0),
            )))
        } else if let Some(path) = &args.output_file {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| {
                    Failure::error(format!(
                        "Unable to open output file \"{}\": {}.",
                        path.to_string_lossy(),
                        reason(&e)
                    ))
                })?;
            Kind::File(file)
        } else if let Some(dir) = &args.output_dir {
            std::fs::create_dir_all(dir).map_err(|e| {
                Failure::error(format!(
                    "Unable to create output directory \"{}\": {}.",
                    dir.to_string_lossy(),
                    reason(&e)
                ))
            })?;
            Kind::Dir {
                dir: dir.clone(),
                counter: 0,
            }
        } else {
            Kind::Stdout(io::stdout())
        };
        let terminal = match &kind {
            Kind::Stdout(_) | Kind::Watch(_) => io::stdout().is_terminal(),
            _ => false,
        };
        let mut opts = args.output.clone();
        opts.color = opts.color.resolve(terminal);
        if let Kind::Watch(w) = &mut kind {
            w.color = opts.color == ColorChoice::Always;
        }
        Ok(Self { kind, opts })
    }

    /// How often [`Sink::tick`] wants to be called: once a second with `--message-rate`,
    /// five times a second with `--watch`, else never.
    pub fn tick_period(&self) -> Option<Duration> {
        match self.kind {
            Kind::Rate { .. } => Some(Duration::from_secs(1)),
            Kind::Watch(_) => Some(Watch::REDRAW),
            _ => None,
        }
    }

    /// The periodic work: `--message-rate` prints the count of the period that just ended
    /// (`N msg/s`) on stderr and starts again from zero; `--watch` redraws the table if
    /// messages arrived since the last drawing.
    pub fn tick(&mut self) -> io::Result<()> {
        match &mut self.kind {
            Kind::Rate { count } => {
                let _ = writeln!(io::stderr().lock(), "{count} msg/s");
                *count = 0;
                Ok(())
            }
            Kind::Watch(w) if w.dirty => w.draw(&mut io::stdout().lock()),
            _ => Ok(()),
        }
    }

    /// Prints (or counts) one message. `err` gets the formatter's complaints.
    pub fn write<E: Write + ?Sized>(
        &mut self,
        err: &mut E,
        msg: &MessageView<'_>,
        clock: &dyn Clock,
    ) -> io::Result<()> {
        match &mut self.kind {
            Kind::Stdout(out) => format::write_message(out, err, &self.opts, msg, clock),
            Kind::File(f) => format::write_message(f, err, &self.opts, msg, clock),
            Kind::Dir { dir, counter } => {
                *counter += 1;
                let (bytes, complaints) = format::format_message(&self.opts, msg, clock);
                err.write_all(&complaints)?;
                let path = dir.join(message_file_name(msg.topic, *counter));
                std::fs::write(&path, bytes).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("Unable to write \"{}\": {}.", path.display(), reason(&e)),
                    )
                })
            }
            Kind::Rate { count } => {
                *count += 1;
                Ok(())
            }
            Kind::Watch(w) => {
                w.update(msg);
                if w.last_draw.is_none_or(|t| t.elapsed() >= Watch::REDRAW) {
                    w.draw(&mut io::stdout().lock())?;
                }
                Ok(())
            }
        }
    }
}

impl Drop for Sink {
    /// `--watch`: the last messages are on the screen when mqsub ends (`-C`, `-W`, a
    /// signal).
    fn drop(&mut self) {
        if let Kind::Watch(w) = &mut self.kind
            && w.dirty
        {
            let _ = w.draw(&mut io::stdout().lock());
        }
    }
}

/// `-w`/`--watch`: the latest message of every topic, in topic order.
#[derive(Debug)]
pub(crate) struct Watch {
    payload_format: PayloadFormat,
    /// Truncate lines to this many characters (`$COLUMNS`); 0: no limit.
    width: usize,
    color: bool,
    topics: BTreeMap<String, Latest>,
    total: u64,
    dirty: bool,
    last_draw: Option<Instant>,
}

#[derive(Debug)]
struct Latest {
    payload: String,
    count: u64,
}

impl Watch {
    /// The shortest time between two drawings.
    const REDRAW: Duration = Duration::from_millis(200);
    /// The widest topic column (longer topics push their line to the right).
    const MAX_TOPIC: usize = 60;

    fn new(payload_format: PayloadFormat, width: usize) -> Self {
        Self {
            payload_format,
            width,
            color: false,
            topics: BTreeMap::new(),
            total: 0,
            dirty: false,
            last_draw: None,
        }
    }

    fn update(&mut self, msg: &MessageView<'_>) {
        // Raw bytes would break the table: one line per topic, non-printables escaped.
        let pf = match self.payload_format {
            PayloadFormat::Raw => PayloadFormat::Text,
            other => other,
        };
        let payload = String::from_utf8_lossy(&pf.encode(msg.payload)).into_owned();
        self.total += 1;
        match self.topics.get_mut(msg.topic) {
            Some(l) => {
                l.payload = payload;
                l.count += 1;
            }
            None => {
                self.topics
                    .insert(msg.topic.to_owned(), Latest { payload, count: 1 });
            }
        }
        self.dirty = true;
    }

    /// One frame: clear the screen, a header line, then `TOPIC  COUNT  PAYLOAD` rows.
    pub(crate) fn frame(&self) -> Vec<u8> {
        let topic_w = self
            .topics
            .keys()
            .map(|t| t.chars().count())
            .max()
            .unwrap_or(0)
            .clamp(5, Self::MAX_TOPIC);
        let count_w = self
            .topics
            .values()
            .map(|l| l.count.to_string().len())
            .max()
            .unwrap_or(0)
            .max(5);
        let mut buf = b"\x1b[H\x1b[2J".to_vec();
        let header = format!(
            "{} message{}, {} topic{}",
            self.total,
            if self.total == 1 { "" } else { "s" },
            self.topics.len(),
            if self.topics.len() == 1 { "" } else { "s" }
        );
        self.line(&mut buf, &header, 0);
        let columns = format!("{:topic_w$}  {:>count_w$}  PAYLOAD", "TOPIC", "COUNT");
        self.line(&mut buf, &columns, 0);
        for (topic, l) in &self.topics {
            let row = format!("{topic:topic_w$}  {:>count_w$}  {}", l.count, l.payload);
            self.line(&mut buf, &row, topic.chars().count());
        }
        buf
    }

    /// Appends `text` cut to the width, with its first `topic` characters coloured.
    fn line(&self, buf: &mut Vec<u8>, text: &str, topic: usize) {
        let text: String = if self.width > 0 {
            text.chars().take(self.width).collect()
        } else {
            text.to_owned()
        };
        let split = text
            .char_indices()
            .nth(topic)
            .map_or(text.len(), |(i, _)| i);
        let (head, tail) = text.split_at(split);
        if self.color && !head.is_empty() {
            buf.extend_from_slice(format::TOPIC_ON);
            buf.extend_from_slice(head.as_bytes());
            buf.extend_from_slice(format::COLOR_OFF);
        } else {
            buf.extend_from_slice(head.as_bytes());
        }
        buf.extend_from_slice(tail.as_bytes());
        buf.push(b'\n');
    }

    fn draw(&mut self, out: &mut impl Write) -> io::Result<()> {
        self.dirty = false;
        self.last_draw = Some(Instant::now());
        out.write_all(&self.frame())?;
        out.flush()
    }
}

/// An I/O error without Rust's ` (os error N)`.
fn reason(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn watch(width: usize, color: bool, msgs: &[(&str, &[u8])]) -> String {
        let mut w = Watch::new(PayloadFormat::Raw, width);
        w.color = color;
        for (t, p) in msgs {
            w.update(&MessageView::new(t, p));
        }
        String::from_utf8(w.frame()).unwrap()
    }

    #[test]
    fn watch_frame_keeps_the_latest_message_per_topic() {
        let f = watch(
            0,
            false,
            &[("b", b"one"), ("a/long/topic", b"x\ny"), ("b", b"two")],
        );
        assert_eq!(
            f,
            "\x1b[H\x1b[2J3 messages, 2 topics\n\
             TOPIC         COUNT  PAYLOAD\n\
             a/long/topic      1  x\\ny\n\
             b                 2  two\n"
        );
        assert_eq!(
            watch(0, false, &[]),
            "\x1b[H\x1b[2J0 messages, 0 topics\nTOPIC  COUNT  PAYLOAD\n"
        );
    }

    #[test]
    fn watch_frame_truncates_and_colours() {
        let f = watch(12, true, &[("topic", b"a long payload")]);
        assert_eq!(
            f,
            "\x1b[H\x1b[2J1 message, 1\nTOPIC  COUNT\n\
             \x1b[1;36mtopic\x1b[0m      1\n"
        );
        let f = watch(3, true, &[("topic", b"p")]);
        assert!(f.ends_with("\x1b[1;36mtop\x1b[0m\n"), "{f:?}");
    }
}
