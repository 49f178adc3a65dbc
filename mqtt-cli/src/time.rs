//! Time for `-F`: an injectable clock and a hand-written `strftime` subset.
//!
//! mosquitto formats timestamps in the local time zone with the C library. A [`Timestamp`]
//! carries its own UTC offset: [`SystemClock::local`] computes it from `$TZ` or
//! `/etc/localtime` (a small TZif and POSIX-rule reader, no dependency);
//! [`SystemClock::with_offset`] fixes it. Tests use a [`FixedClock`].

use std::time::{SystemTime, UNIX_EPOCH};

use crate::tz::Zone;

/// A point in time with the UTC offset to display it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub unix_secs: i64,
    /// Nanoseconds within the second (0..1e9).
    pub nanos: u32,
    /// Offset of the local time zone from UTC, in seconds (east positive).
    pub utc_offset_secs: i32,
}

/// Where formatting reads the time from. It is read at most once per message, and only
/// when the format needs it.
pub trait Clock {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system clock, shown in a time zone: the local one ([`SystemClock::local`], as
/// mosquitto does) or a fixed offset (UTC by default).
#[derive(Debug, Clone, Default)]
pub struct SystemClock {
    zone: Option<Zone>,
    offset: i32,
}

impl SystemClock {
    /// The system clock shown at `utc_offset_secs` east of UTC.
    pub const fn with_offset(utc_offset_secs: i32) -> Self {
        Self {
            zone: None,
            offset: utc_offset_secs,
        }
    }

    /// The system clock in the local time zone: `$TZ` (a POSIX rule, a zone name or a
    /// path), else `/etc/localtime`, else UTC. The zone is read once, here.
    pub fn local() -> Self {
        Self {
            zone: Some(Zone::local()),
            offset: 0,
        }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let unix_secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        Timestamp {
            unix_secs,
            nanos: d.subsec_nanos(),
            utc_offset_secs: self
                .zone
                .as_ref()
                .map_or(self.offset, |z| z.offset_at(unix_secs)),
        }
    }
}

/// A clock that always returns the same time (for tests and golden output).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

/// Broken-down local time (like C's `struct tm`, with a full year).
#[derive(Debug, Clone, Copy)]
struct Tm {
    year: i64,
    /// 1..=12
    mon: u32,
    /// 1..=31
    mday: u32,
    hour: u32,
    min: u32,
    sec: u32,
    /// 0 = Sunday
    wday: u32,
    /// 0..=365
    yday: u32,
    unix: i64,
    offset: i32,
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

impl Tm {
    fn new(t: &Timestamp) -> Self {
        let local = t.unix_secs + i64::from(t.utc_offset_secs);
        let days = local.div_euclid(86_400);
        let secs = local.rem_euclid(86_400) as u32;
        let (year, mon, mday) = civil_from_days(days);
        const CUM: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
        let yday = CUM[(mon - 1) as usize] + mday - 1 + u32::from(mon > 2 && is_leap(year));
        Self {
            year,
            mon,
            mday,
            hour: secs / 3600,
            min: secs / 60 % 60,
            sec: secs % 60,
            wday: (days + 4).rem_euclid(7) as u32,
            yday,
            unix: t.unix_secs,
            offset: t.utc_offset_secs,
        }
    }

    /// ISO 8601 week-based year and week number.
    fn iso_week(&self) -> (i64, u32) {
        let wday = (self.wday + 6) % 7; // Monday = 0
        let yday = i64::from(self.yday);
        let week = (yday - i64::from(wday) + 10) / 7;
        // Weekday (Monday = 0) of 1 January of this year.
        let jan1 = (i64::from(wday) - yday).rem_euclid(7);
        let has53 = |jan1: i64, leap: bool| jan1 == 3 || (jan1 == 2 && leap);
        if week < 1 {
            let prev = self.year - 1;
            let days_prev = if is_leap(prev) { 366 } else { 365 };
            let jan1_prev = (jan1 - days_prev).rem_euclid(7);
            (
                prev,
                if has53(jan1_prev, is_leap(prev)) {
                    53
                } else {
                    52
                },
            )
        } else if week == 53 && !has53(jan1, is_leap(self.year)) {
            (self.year + 1, 1)
        } else {
            (self.year, week as u32)
        }
    }
}

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn offset_str(offset: i32) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    let a = offset.unsigned_abs();
    format!("{sign}{:02}{:02}", a / 3600, a / 60 % 60)
}

/// Expands one `strftime` conversion (`code` is the letter after `%`) in the C locale.
///
/// Unknown letters are copied through as `%` + letter, as glibc does. `%Z` prints `UTC`
/// for offset 0 and the numeric offset otherwise (no zone database).
pub fn strftime_one(out: &mut Vec<u8>, code: u8, t: &Timestamp) {
    let tm = Tm::new(t);
    push_code(out, code, &tm);
}

/// Expands a whole `strftime` pattern.
pub fn strftime(pattern: &str, t: &Timestamp) -> String {
    let tm = Tm::new(t);
    let mut out = Vec::new();
    let mut bytes = pattern.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            match bytes.next() {
                Some(c) => push_code(&mut out, c, &tm),
                None => out.push(b'%'),
            }
        } else {
            out.push(b);
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn push_code(out: &mut Vec<u8>, code: u8, tm: &Tm) {
    use std::io::Write as _;
    let hour12 = match tm.hour % 12 {
        0 => 12,
        h => h,
    };
    let mut w = |s: String| out.extend_from_slice(s.as_bytes());
    match code {
        b'a' => w(DAYS[tm.wday as usize][..3].to_owned()),
        b'A' => w(DAYS[tm.wday as usize].to_owned()),
        b'b' | b'h' => w(MONTHS[tm.mon as usize - 1][..3].to_owned()),
        b'B' => w(MONTHS[tm.mon as usize - 1].to_owned()),
        b'c' => {
            for (i, c) in [b'a', b'b', b'e', b'T', b'Y'].into_iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                push_code(out, c, tm);
            }
        }
        b'C' => w(format!("{:02}", tm.year.div_euclid(100))),
        b'd' => w(format!("{:02}", tm.mday)),
        b'D' | b'x' => w(format!(
            "{:02}/{:02}/{:02}",
            tm.mon,
            tm.mday,
            tm.year.rem_euclid(100)
        )),
        b'e' => w(format!("{:2}", tm.mday)),
        b'F' => w(format!("{}-{:02}-{:02}", tm.year, tm.mon, tm.mday)),
        b'G' => w(format!("{}", tm.iso_week().0)),
        b'g' => w(format!("{:02}", tm.iso_week().0.rem_euclid(100))),
        b'H' => w(format!("{:02}", tm.hour)),
        b'I' => w(format!("{hour12:02}")),
        b'j' => w(format!("{:03}", tm.yday + 1)),
        b'k' => w(format!("{:2}", tm.hour)),
        b'l' => w(format!("{hour12:2}")),
        b'm' => w(format!("{:02}", tm.mon)),
        b'M' => w(format!("{:02}", tm.min)),
        b'n' => w("\n".to_owned()),
        b'p' => w(if tm.hour < 12 { "AM" } else { "PM" }.to_owned()),
        b'P' => w(if tm.hour < 12 { "am" } else { "pm" }.to_owned()),
        b'r' => w(format!(
            "{hour12:02}:{:02}:{:02} {}",
            tm.min,
            tm.sec,
            if tm.hour < 12 { "AM" } else { "PM" }
        )),
        b'R' => w(format!("{:02}:{:02}", tm.hour, tm.min)),
        b's' => w(format!("{}", tm.unix)),
        b'S' => w(format!("{:02}", tm.sec)),
        b't' => w("\t".to_owned()),
        b'T' | b'X' => w(format!("{:02}:{:02}:{:02}", tm.hour, tm.min, tm.sec)),
        b'u' => w(format!("{}", if tm.wday == 0 { 7 } else { tm.wday })),
        b'U' => w(format!("{:02}", (tm.yday + 7 - tm.wday) / 7)),
        b'V' => w(format!("{:02}", tm.iso_week().1)),
        b'w' => w(format!("{}", tm.wday)),
        b'W' => w(format!("{:02}", (tm.yday + 7 - (tm.wday + 6) % 7) / 7)),
        b'y' => w(format!("{:02}", tm.year.rem_euclid(100))),
        b'Y' => w(format!("{}", tm.year)),
        b'z' => w(offset_str(tm.offset)),
        b'Z' => w(if tm.offset == 0 {
            "UTC".to_owned()
        } else {
            offset_str(tm.offset)
        }),
        b'%' => w("%".to_owned()),
        other => {
            let _ = out.write_all(&[b'%', other]);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// 2026-11-22T02:06:45Z, a Sunday.
    const T: Timestamp = Timestamp {
        unix_secs: 1_795_313_205,
        nanos: 294_279_165,
        utc_offset_secs: 0,
    };

    #[test]
    fn iso_like_codes() {
        assert_eq!(strftime("%FT%T%z", &T), "2026-11-22T02:06:45+0000");
        assert_eq!(strftime("%Y-%m-%dT%H:%M:%S", &T), "2026-11-22T02:06:45");
        assert_eq!(strftime("%s", &T), "1795313205");
    }

    #[test]
    fn names_and_12_hour_clock() {
        assert_eq!(
            strftime("%a %A %b %B %h", &T),
            "Sun Sunday Nov November Nov"
        );
        assert_eq!(strftime("%I %l %p %P %r", &T), "02  2 AM am 02:06:45 AM");
        assert_eq!(strftime("%c", &T), "Sun Nov 22 02:06:45 2026");
        assert_eq!(
            strftime("%D %x %X %R %e %k", &T),
            "11/22/26 11/22/26 02:06:45 02:06 22  2"
        );
    }

    #[test]
    fn day_and_week_numbers() {
        assert_eq!(
            strftime("%j %u %w %U %W %V %G %g %C %y", &T),
            "326 7 0 47 46 47 2026 26 20 26"
        );
        // 2021-01-01 was a Friday in ISO week 53 of 2020.
        let t = Timestamp {
            unix_secs: 1_609_459_200,
            nanos: 0,
            utc_offset_secs: 0,
        };
        assert_eq!(
            strftime("%F %a %V %G %U %W %j", &t),
            "2021-01-01 Fri 53 2020 00 00 001"
        );
        // 2024-12-30 (Monday) is in ISO week 1 of 2025.
        let t = Timestamp {
            unix_secs: 1_735_516_800,
            nanos: 0,
            utc_offset_secs: 0,
        };
        assert_eq!(strftime("%F %a %V %G", &t), "2024-12-30 Mon 01 2025");
    }

    #[test]
    fn offsets_shift_local_time() {
        let t = Timestamp {
            utc_offset_secs: -(5 * 3600 + 30 * 60),
            ..T
        };
        assert_eq!(
            strftime("%F %T %z %Z", &t),
            "2026-11-21 20:36:45 -0530 -0530"
        );
        assert_eq!(strftime("%Z", &T), "UTC");
    }

    #[test]
    fn unknown_codes_are_copied() {
        assert_eq!(strftime("%q %% %n%t", &T), "%q % \n\t");
    }

    #[test]
    fn before_the_epoch() {
        let t = Timestamp {
            unix_secs: -1,
            nanos: 0,
            utc_offset_secs: 0,
        };
        assert_eq!(strftime("%F %T %a", &t), "1969-12-31 23:59:59 Wed");
    }
}
