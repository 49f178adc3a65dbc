//! The local UTC offset, from `$TZ` or `/etc/localtime`, without a time-zone crate.
//!
//! mosquitto prints times with `localtime()`. This reads the same sources the C library
//! does: `$TZ` (a POSIX rule such as `CET-1CEST,M3.5.0,M10.5.0/3`, or a zone name / path,
//! optionally with a leading `:`), else the TZif file `/etc/localtime`. TZif files
//! (RFC 8536, versions 1 to 4) are read with their POSIX footer for times after the last
//! transition. Anything unreadable falls back to UTC.

use std::path::Path;

/// A time zone: UTC offsets by instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Zone {
    /// Transition instants and the offset (seconds east of UTC) from then on.
    transitions: Vec<(i64, i32)>,
    /// The offset before the first transition.
    initial: i32,
    /// The rule after the last transition.
    footer: Option<Posix>,
}

impl Zone {
    /// UTC.
    pub(crate) const fn utc() -> Self {
        Self {
            transitions: Vec::new(),
            initial: 0,
            footer: None,
        }
    }

    /// The zone of this process: `$TZ`, else `/etc/localtime`, else UTC.
    pub(crate) fn local() -> Self {
        match std::env::var("TZ") {
            Ok(tz) => Self::from_tz_var(&tz),
            Err(_) => Self::from_file(Path::new("/etc/localtime")).unwrap_or_else(Self::utc),
        }
    }

    /// The zone named by a `TZ` value.
    pub(crate) fn from_tz_var(tz: &str) -> Self {
        let name = tz.strip_prefix(':').unwrap_or(tz);
        if name.is_empty() {
            return Self::utc();
        }
        let file = if name.starts_with('/') {
            Self::from_file(Path::new(name))
        } else if name.contains("..") {
            None
        } else {
            Self::from_file(&Path::new("/usr/share/zoneinfo").join(name))
        };
        file.or_else(|| {
            Posix::parse(name).map(|p| Self {
                transitions: Vec::new(),
                initial: p.std,
                footer: Some(p),
            })
        })
        .unwrap_or_else(Self::utc)
    }

    fn from_file(path: &Path) -> Option<Self> {
        Self::from_tzif(&std::fs::read(path).ok()?)
    }

    /// Parses a TZif file.
    pub(crate) fn from_tzif(b: &[u8]) -> Option<Self> {
        let header = |b: &[u8]| -> Option<[usize; 6]> {
            if b.get(..4)? != b"TZif" {
                return None;
            }
            let mut c = [0usize; 6];
            for (k, slot) in c.iter_mut().enumerate() {
                let at = 20 + 4 * k;
                *slot = u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize;
            }
            Some(c)
        };
        let [isut, isstd, leap, time, typ, chars] = header(b)?;
        let v1_len = 44 + time * 5 + typ * 6 + chars + leap * 8 + isstd + isut;
        let (b, tsize, counts) = if b.get(4).is_some_and(|v| *v >= b'2') {
            let rest = b.get(v1_len..)?;
            let c = header(rest)?;
            (rest, 8, c)
        } else {
            (b, 4, [isut, isstd, leap, time, typ, chars])
        };
        let [isut, isstd, leap, time, typ, chars] = counts;
        let mut at = 44;
        let times = b.get(at..at + time * tsize)?;
        at += time * tsize;
        let idx = b.get(at..at + time)?;
        at += time;
        let ttinfo = b.get(at..at + typ * 6)?;
        at += typ * 6 + chars + leap * (tsize + 4) + isstd + isut;
        let offset_of = |t: usize| -> Option<i32> {
            Some(i32::from_be_bytes(
                ttinfo.get(t * 6..t * 6 + 4)?.try_into().ok()?,
            ))
        };
        let mut transitions = Vec::with_capacity(time);
        for k in 0..time {
            let raw = &times[k * tsize..(k + 1) * tsize];
            let when = if tsize == 8 {
                i64::from_be_bytes(raw.try_into().ok()?)
            } else {
                i64::from(i32::from_be_bytes(raw.try_into().ok()?))
            };
            transitions.push((when, offset_of(usize::from(idx[k]))?));
        }
        let footer = if tsize == 8 {
            let tail = b.get(at..)?;
            let text = std::str::from_utf8(tail).ok()?;
            text.strip_prefix('\n')
                .and_then(|t| t.split('\n').next())
                .and_then(Posix::parse)
        } else {
            None
        };
        Some(Self {
            transitions,
            initial: offset_of(0).unwrap_or(0),
            footer,
        })
    }

    /// The UTC offset (seconds east) at `unix` seconds.
    pub(crate) fn offset_at(&self, unix: i64) -> i32 {
        match self.transitions.iter().rposition(|(t, _)| *t <= unix) {
            None if self.transitions.is_empty() => {
                self.footer.map_or(self.initial, |p| p.offset_at(unix))
            }
            None => self.initial,
            Some(k) if k + 1 == self.transitions.len() => match &self.footer {
                Some(p) => p.offset_at(unix),
                None => self.transitions[k].1,
            },
            Some(k) => self.transitions[k].1,
        }
    }
}

/// A POSIX `TZ` rule: `std offset [dst [offset] [,start[/time],end[/time]]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Posix {
    /// Standard offset, seconds east of UTC.
    std: i32,
    /// Daylight offset and the rule, if any.
    dst: Option<(i32, Rule, Rule)>,
}

/// A transition date and its local time of day (seconds, may be negative or > 24 h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Date {
    /// `Jn`: day 1..=365, February 29 never counted.
    Julian1(u32),
    /// `n`: day 0..=365, February 29 counted.
    Julian0(u32),
    /// `Mm.w.d`: day `d` (0 = Sunday) of week `w` (5 = last) of month `m`.
    Month(u32, u32, u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    date: Date,
    time: i64,
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn name(&mut self) -> Option<()> {
        if self.peek() == Some(b'<') {
            let end = self.s[self.i..].iter().position(|c| *c == b'>')?;
            self.i += end + 1;
        } else {
            let start = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
                self.i += 1;
            }
            if self.i - start < 3 {
                return None;
            }
        }
        Some(())
    }

    fn number(&mut self) -> Option<i64> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()?
            .parse()
            .ok()
    }

    /// `[+-]hh[:mm[:ss]]` in seconds.
    fn hms(&mut self) -> Option<i64> {
        let sign = match self.peek() {
            Some(b'-') => {
                self.i += 1;
                -1
            }
            Some(b'+') => {
                self.i += 1;
                1
            }
            _ => 1,
        };
        let mut secs = self.number()? * 3600;
        for unit in [60, 1] {
            if self.peek() != Some(b':') {
                break;
            }
            self.i += 1;
            secs += self.number()? * unit;
        }
        Some(sign * secs)
    }

    fn rule(&mut self) -> Option<Rule> {
        let date = match self.peek()? {
            b'J' => {
                self.i += 1;
                Date::Julian1(u32::try_from(self.number()?).ok()?)
            }
            b'M' => {
                self.i += 1;
                let m = self.number()?;
                (self.peek()? == b'.').then_some(())?;
                self.i += 1;
                let w = self.number()?;
                (self.peek()? == b'.').then_some(())?;
                self.i += 1;
                let d = self.number()?;
                Date::Month(
                    u32::try_from(m).ok()?,
                    u32::try_from(w).ok()?,
                    u32::try_from(d).ok()?,
                )
            }
            _ => Date::Julian0(u32::try_from(self.number()?).ok()?),
        };
        let time = if self.peek() == Some(b'/') {
            self.i += 1;
            self.hms()?
        } else {
            7200
        };
        Some(Rule { date, time })
    }
}

impl Posix {
    fn parse(s: &str) -> Option<Self> {
        let mut c = Cursor {
            s: s.as_bytes(),
            i: 0,
        };
        c.name()?;
        let std = -i32::try_from(c.hms()?).ok()?;
        if c.peek().is_none() {
            return Some(Self { std, dst: None });
        }
        c.name()?;
        let dst = if matches!(c.peek(), Some(b',') | None) {
            std + 3600
        } else {
            -i32::try_from(c.hms()?).ok()?
        };
        // tzcode's default rule when none is given (US rules).
        let (start, end) = if c.peek() == Some(b',') {
            c.i += 1;
            let start = c.rule()?;
            (c.peek()? == b',').then_some(())?;
            c.i += 1;
            (start, c.rule()?)
        } else {
            (
                Rule {
                    date: Date::Month(3, 2, 0),
                    time: 7200,
                },
                Rule {
                    date: Date::Month(11, 1, 0),
                    time: 7200,
                },
            )
        };
        (c.peek().is_none()).then_some(Self {
            std,
            dst: Some((dst, start, end)),
        })
    }

    fn offset_at(&self, unix: i64) -> i32 {
        let Some((dst, start, end)) = self.dst else {
            return self.std;
        };
        let year = civil_year(unix + i64::from(self.std));
        let on = start.instant(year) - i64::from(self.std);
        let off = end.instant(year) - i64::from(dst);
        let in_dst = if on < off {
            on <= unix && unix < off
        } else {
            !(off <= unix && unix < on)
        };
        if in_dst { dst } else { self.std }
    }
}

impl Rule {
    /// The local wall-clock instant (as if UTC) of this rule in `year`.
    fn instant(&self, year: i64) -> i64 {
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let jan1 = days_from_civil(year, 1, 1);
        let day = match self.date {
            Date::Julian1(n) => {
                let n = i64::from(n.clamp(1, 365));
                jan1 + n - 1 + i64::from(leap && n >= 60)
            }
            Date::Julian0(n) => jan1 + i64::from(n.min(365)),
            Date::Month(m, w, d) => {
                let m = m.clamp(1, 12);
                let first = days_from_civil(year, m, 1);
                let wd = (first + 4).rem_euclid(7);
                let mut day =
                    first + (i64::from(d) - wd).rem_euclid(7) + 7 * (i64::from(w.clamp(1, 5)) - 1);
                let next = if m == 12 {
                    days_from_civil(year + 1, 1, 1)
                } else {
                    days_from_civil(year, m + 1, 1)
                };
                while day >= next {
                    day -= 7;
                }
                day
            }
        };
        day * 86_400 + self.time
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_year(unix: i64) -> i64 {
    // Close enough to find the year; refined below.
    let mut y = 1970 + unix.div_euclid(31_556_952);
    while days_from_civil(y, 1, 1) * 86_400 > unix {
        y -= 1;
    }
    while days_from_civil(y + 1, 1, 1) * 86_400 <= unix {
        y += 1;
    }
    y
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    // 2026-01-15T12:00:00Z and 2026-07-15T12:00:00Z.
    const WINTER: i64 = 1_768_478_400;
    const SUMMER: i64 = 1_784_116_800;

    #[test]
    fn posix_rules() {
        let cet = Zone::from_tz_var("CET-1CEST,M3.5.0,M10.5.0/3");
        assert_eq!(cet.offset_at(WINTER), 3600);
        assert_eq!(cet.offset_at(SUMMER), 7200);
        // 2026-03-29 01:00:00Z is the switch to CEST.
        assert_eq!(cet.offset_at(1_774_745_999), 3600);
        assert_eq!(cet.offset_at(1_774_746_000), 7200);
        // 2026-10-25 01:00:00Z is the switch back.
        assert_eq!(cet.offset_at(1_792_890_000 - 1), 7200);
        assert_eq!(cet.offset_at(1_792_890_000), 3600);
        let aus = Zone::from_tz_var("AEST-10AEDT,M10.1.0,M4.1.0/3");
        assert_eq!(aus.offset_at(WINTER), 11 * 3600);
        assert_eq!(aus.offset_at(SUMMER), 10 * 3600);
        let ny = Zone::from_tz_var("EST5EDT");
        assert_eq!(ny.offset_at(WINTER), -5 * 3600);
        assert_eq!(ny.offset_at(SUMMER), -4 * 3600);
        assert_eq!(Zone::from_tz_var("<+0530>-5:30").offset_at(WINTER), 19_800);
        assert_eq!(Zone::from_tz_var("UTC0").offset_at(SUMMER), 0);
        assert_eq!(Zone::from_tz_var("").offset_at(SUMMER), 0);
        assert_eq!(Zone::from_tz_var("garbage!").offset_at(SUMMER), 0);
    }

    #[test]
    fn tzif_files_when_installed() {
        let Some(paris) = Zone::from_file(Path::new("/usr/share/zoneinfo/Europe/Paris")) else {
            return;
        };
        assert_eq!(paris.offset_at(WINTER), 3600);
        assert_eq!(paris.offset_at(SUMMER), 7200);
        // Far in the future: the footer rule applies.
        assert_eq!(paris.offset_at(SUMMER + 100 * 31_556_952), 7200);
        let named = Zone::from_tz_var(":Europe/Paris");
        assert_eq!(named.offset_at(SUMMER), 7200);
    }

    #[test]
    fn minimal_tzif_v1() {
        // One transition at t=100 from type 0 (+1h) to type 1 (+2h).
        let mut b = b"TZif\0".to_vec();
        b.extend_from_slice(&[0; 15]);
        for n in [0u32, 0, 0, 1, 2, 0] {
            b.extend_from_slice(&n.to_be_bytes());
        }
        b.extend_from_slice(&100i32.to_be_bytes());
        b.push(1);
        b.extend_from_slice(&3600i32.to_be_bytes());
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&7200i32.to_be_bytes());
        b.extend_from_slice(&[1, 0]);
        let z = Zone::from_tzif(&b).unwrap();
        assert_eq!(z.offset_at(99), 3600);
        assert_eq!(z.offset_at(100), 7200);
        assert!(Zone::from_tzif(b"nope").is_none());
    }
}
