//! Random input never panics the parser or the formatter (a cheap deterministic fuzz loop).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsString;

use mqtt_cli::args::{parse_pub_with, parse_sub_with};
use mqtt_cli::config::Environment;
use mqtt_cli::format::{Format, MessageView, OutputOptions, format_message};
use mqtt_cli::time::{FixedClock, Timestamp};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick(&mut self, from: &[u8]) -> Vec<u8> {
        let len = self.below(12);
        (0..len).map(|_| from[self.below(from.len())]).collect()
    }
}

const CLOCK: FixedClock = FixedClock(Timestamp {
    unix_secs: 1_795_313_205,
    nanos: 1,
    utc_offset_secs: -3600,
});

#[test]
fn random_formats_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let alphabet = b"%@\\-0123456789.:xXpPtjJdfACDEFIlmqRSrUNYz aen";
    let payloads: [&[u8]; 4] = [b"", b"{\"a\":1}", &[0xff, 0, 1, 2, 3, 4, 5, 6], b"1234"];
    for _ in 0..20_000 {
        let f = rng.pick(alphabet);
        if let Ok(format) = Format::parse(&f) {
            let opts = OutputOptions {
                format: Some(format),
                pretty: rng.below(2) == 0,
                ..OutputOptions::default()
            };
            let msg = MessageView {
                qos: 1,
                mid: Some(7),
                ..MessageView::new("a/b", payloads[rng.below(payloads.len())])
            };
            let (out, _) = format_message(&opts, &msg, &CLOCK);
            if opts.eol {
                assert_eq!(out.last(), Some(&b'\n'));
            }
        }
    }
}

#[test]
fn random_command_lines_never_panic() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let words = [
        "-t",
        "-T",
        "-U",
        "-m",
        "-q",
        "-p",
        "-x",
        "-D",
        "connect",
        "publish",
        "user-property",
        "receive-maximum",
        "0",
        "1",
        "-1",
        "∞",
        "a/#",
        "+",
        "",
        "-L",
        "mqtt://u:p@h:1/t",
        "-F",
        "%j",
        "-c",
        "-i",
        "-I",
        "-V",
        "5",
        "311",
        "--will-topic",
        "--will-qos",
        "-n",
        "-l",
        "--unix",
        "--cafile",
        "--psk",
        "-o",
        "--help",
        "-C",
        "-W",
        "-R",
        "--retained-only",
        "--random-filter",
        "50",
        "--proxy",
        "socks5h://x",
    ];
    for _ in 0..20_000 {
        let n = rng.below(8);
        let args: Vec<OsString> = (0..n)
            .map(|_| OsString::from(words[rng.below(words.len())]))
            .collect();
        let _ = parse_pub_with(&args, None, &Environment::empty());
        let _ = parse_sub_with(&args, None, &Environment::empty());
        let file: Vec<u8> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(if rng.below(2) == 0 { " " } else { "\n" })
            .into_bytes();
        let _ = parse_sub_with(&[], Some(&file), &Environment::empty());
    }
}
