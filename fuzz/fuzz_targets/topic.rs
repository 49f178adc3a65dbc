//! Fuzz topic validation and topic filter matching against a naive reference.
//!
//! Input: the first byte picks how the rest becomes a (filter, topic) pair.
//! - bit 0 clear, "raw": the rest is split at the first 0xFF byte (filter before, topic
//!   after), each side converted with lossy UTF-8 (bit 1 set: only valid UTF-8 is used, an
//!   invalid side is skipped);
//! - bit 0 set, "structured": each byte picks a token (`/`, `+`, `#`, `$`, `$share`, `a`, ...)
//!   so that matching-relevant shapes are reached quickly; a 0xFF byte switches from the
//!   filter to the topic.
//!
//! Checked: `TopicName::new` / `TopicFilter::new` never panic and agree with a reference
//! validator; the accessors are consistent; where both are valid, `TopicFilter::matches` and
//! `mqtt_proto::topic::matches` agree with a recursive reference matcher.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mqtt_proto::topic::matches;
use mqtt_proto::{TopicFilter, TopicName};

fuzz_target!(|data: &[u8]| run(data));

#[rustfmt::skip]
const TOKENS: &[&str] = &[
    "/", "/", "/", "+", "#", "$", "$share", "$share/", "$SYS", "a", "b", "a", "b", "", "x/y",
    "+/", "/#", "g", "é", " ", "\0", "++", "a#", "$share/g/",
];

fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (filter, topic) = if mode & 1 == 0 {
        let (f, t) = match rest.iter().position(|&b| b == 0xFF) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[][..]),
        };
        if mode & 2 == 0 {
            (
                String::from_utf8_lossy(f).into_owned(),
                String::from_utf8_lossy(t).into_owned(),
            )
        } else {
            // Valid UTF-8 only: an invalid side is checked on its own below as an empty string.
            (
                String::from_utf8(f.to_vec()).unwrap_or_default(),
                String::from_utf8(t.to_vec()).unwrap_or_default(),
            )
        }
    } else {
        let mut parts = [String::new(), String::new()];
        let mut side = 0;
        for &b in rest {
            if b == 0xFF {
                side = 1;
            } else {
                parts[side].push_str(TOKENS[usize::from(b) % TOKENS.len()]);
            }
        }
        let [f, t] = parts;
        (f, t)
    };

    // Validation never panics and agrees with the reference, whichever side a string is on.
    for s in [&filter, &topic] {
        check_validation(s);
    }
    let whole = String::from_utf8_lossy(data);
    check_validation(&whole);

    let (Ok(tf), Ok(tn)) = (
        TopicFilter::new(filter.as_str()),
        TopicName::new(topic.as_str()),
    ) else {
        return;
    };
    let inner = ref_inner_filter(&filter);
    let expected = ref_matches(inner, &topic);
    assert_eq!(
        tf.matches(&tn),
        expected,
        "TopicFilter::matches({filter:?}, {topic:?})"
    );
    assert_eq!(
        matches(tf.filter(), tn.as_str()),
        expected,
        "matches({:?}, {topic:?})",
        tf.filter()
    );
    if inner.len() == filter.len() {
        assert_eq!(
            matches(&filter, &topic),
            expected,
            "matches({filter:?}, {topic:?})"
        );
    }
    // A shared filter matches exactly what its inner filter matches.
    let shared = TopicFilter::new(format!("$share/grp/{filter}"));
    if let Ok(shared) = shared {
        assert_eq!(
            shared.matches(&tn),
            ref_matches(&filter, &topic),
            "$share/grp/{filter:?} against {topic:?}"
        );
    }
}

fn check_validation(s: &str) {
    let name = TopicName::new(s);
    assert_eq!(
        name.is_ok(),
        ref_valid_name(s),
        "TopicName::new({s:?}): {name:?}"
    );
    let filter = TopicFilter::new(s);
    assert_eq!(
        filter.is_ok(),
        ref_valid_filter(s),
        "TopicFilter::new({s:?}): {filter:?}"
    );
    // The string traits agree with `new`.
    assert_eq!(s.parse::<TopicName>(), name);
    assert_eq!(s.parse::<TopicFilter>(), filter);
    if let Ok(n) = &name {
        assert_eq!(n.as_str(), s);
        assert_eq!(n.len(), s.len());
        assert!(!n.is_empty());
        assert_eq!(n.to_string(), s);
        assert_eq!(n.clone().into_inner(), s);
        assert_eq!(
            &TopicName::new(n.clone().into_inner()).expect("still valid"),
            n
        );
        // A valid name is a valid filter without wildcards that matches itself, unless it
        // starts with `$share/` (then it is a shared filter, or an invalid one).
        if !s.starts_with("$share/") {
            let f = TopicFilter::new(s).expect("a topic name is a topic filter");
            assert!(!f.has_wildcards() && !f.is_shared());
            assert!(f.matches(n), "{s:?} does not match itself");
        }
    }
    if let Ok(f) = &filter {
        assert_eq!(f.as_str(), s);
        assert_eq!(f.len(), s.len());
        assert_eq!(f.to_string(), s);
        assert_eq!(f.clone().into_inner(), s);
        let inner = ref_inner_filter(s);
        assert_eq!(f.filter(), inner, "inner filter of {s:?}");
        assert_eq!(f.is_shared(), inner.len() != s.len());
        assert_eq!(f.shared().is_some(), f.is_shared());
        if let Some((group, inner_f)) = f.shared() {
            assert_eq!(format!("$share/{group}/{inner_f}"), s);
        }
        assert_eq!(f.has_wildcards(), inner.contains(['+', '#']));
        assert!(!f.matches(&TopicName::alias_only()));
    }
}

// ---- the reference -------------------------------------------------------------------------

const MAX_LEN: usize = 65_535;

fn ref_common(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_LEN && !s.chars().any(|c| c == '\0')
}

fn ref_valid_name(s: &str) -> bool {
    ref_common(s) && !s.chars().any(|c| c == '+' || c == '#')
}

/// For `$share/{group}/{filter}`, the filter part; else the whole string.
fn ref_inner_filter(s: &str) -> &str {
    match s.strip_prefix("$share/") {
        Some(rest) => match rest.find('/') {
            Some(i) => &rest[i + 1..],
            None => s,
        },
        None => s,
    }
}

fn ref_valid_filter(s: &str) -> bool {
    if !ref_common(s) {
        return false;
    }
    let inner = match s.strip_prefix("$share/") {
        Some(rest) => {
            let Some(i) = rest.find('/') else {
                return false;
            };
            let group = &rest[..i];
            let inner = &rest[i + 1..];
            if group.is_empty() || group.contains('+') || group.contains('#') || inner.is_empty() {
                return false;
            }
            inner
        }
        None => s,
    };
    let levels: Vec<&str> = inner.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        let last = i + 1 == levels.len();
        let ok = match *level {
            "+" => true,
            "#" => last,
            l => !l.contains('+') && !l.contains('#'),
        };
        if !ok {
            return false;
        }
    }
    true
}

/// Recursive matcher over level vectors; `#` also matches the parent level; filters starting
/// with a wildcard never match topics starting with `$` [MQTT-4.7.2-1].
fn ref_matches(filter: &str, topic: &str) -> bool {
    fn levels(f: &[&str], t: &[&str]) -> bool {
        match (f.first(), t.first()) {
            (Some(&"#"), _) => true,
            (Some(&"+"), Some(_)) => levels(&f[1..], &t[1..]),
            (Some(fl), Some(tl)) => fl == tl && levels(&f[1..], &t[1..]),
            (None, None) => true,
            _ => false,
        }
    }
    let f: Vec<&str> = filter.split('/').collect();
    let t: Vec<&str> = topic.split('/').collect();
    if (f[0] == "+" || f[0] == "#") && t[0].starts_with('$') {
        return false;
    }
    levels(&f, &t)
}
