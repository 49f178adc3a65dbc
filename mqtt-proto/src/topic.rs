//! Validated MQTT topic names and topic filters, and topic filter matching.
//!
//! Statement ids are those of MQTT 5.0. MQTT 3.1.1 has the same rules but numbers the wildcard
//! ones differently: its [MQTT-4.7.1-1], [MQTT-4.7.1-2] and [MQTT-4.7.1-3] are 5.0's
//! [MQTT-4.7.0-1], [MQTT-4.7.1-1] and [MQTT-4.7.1-2].

use std::fmt;
use std::str::FromStr;

use bytestring::ByteString;
use smol_str::SmolStr;

/// Why a topic name or filter is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    /// The topic is empty [MQTT-4.7.3-1].
    #[error("topic must be at least one character long [MQTT-4.7.3-1]")]
    Empty,
    /// The topic encodes to more than 65535 bytes [MQTT-4.7.3-3].
    #[error("topic is {len} bytes long, more than 65535 [MQTT-4.7.3-3]")]
    TooLong {
        /// The length of the rejected topic, in bytes.
        len: usize,
    },
    /// The topic contains the null character U+0000 [MQTT-4.7.3-2].
    #[error("topic must not contain the null character U+0000 [MQTT-4.7.3-2]")]
    NullCharacter,
    /// A topic name contains `+` or `#` [MQTT-4.7.0-1], [MQTT-3.3.2-2].
    #[error("topic name must not contain wildcards '+' or '#' [MQTT-4.7.0-1]")]
    WildcardInTopicName,
    /// A `#` is not alone in the last level of a filter [MQTT-4.7.1-1].
    #[error("'#' must be alone in the last level of a topic filter [MQTT-4.7.1-1]")]
    InvalidMultiLevelWildcard,
    /// A `+` does not occupy a whole level of a filter [MQTT-4.7.1-2].
    #[error("'+' must occupy an entire level of a topic filter [MQTT-4.7.1-2]")]
    InvalidSingleLevelWildcard,
    /// A `$share/` filter lacks a valid share name or inner filter [MQTT-4.8.2-1], [MQTT-4.8.2-2].
    #[error(
        "shared subscription must be $share/{{ShareName}}/{{filter}} with a non-empty ShareName \
         free of '/', '+' and '#' [MQTT-4.8.2-1] [MQTT-4.8.2-2]"
    )]
    InvalidSharedSubscription,
}

/// A topic name (what PUBLISH carries): valid UTF-8, no wildcards, no U+0000, 1..=65535 bytes.
///
/// Names starting with `$` (such as `$SYS/...`), containing spaces, or with empty levels
/// (`/`, `a//b`) are valid.
///
/// Names of up to 23 bytes are stored inline; longer ones are zero-copy slices of the buffer
/// they were decoded from. Either way, decoding a topic name does not allocate, and a short one
/// costs no reference count.
#[derive(Clone)]
pub struct TopicName(Repr);

#[derive(Clone)]
enum Repr {
    Inline(SmolStr),
    Shared(ByteString),
}

impl TopicName {
    /// The longest name stored inline.
    pub(crate) const INLINE: usize = 23;

    /// Validates a topic name [MQTT-4.7.3-1], [MQTT-4.7.3-2], [MQTT-4.7.3-3], [MQTT-4.7.0-1].
    ///
    /// A short name is copied inline; a long one keeps `s`'s buffer when `s` is a
    /// [`ByteString`] (a `&str` or `String` is copied into one).
    pub fn new<S: AsRef<str> + Into<ByteString>>(s: S) -> Result<Self, TopicError> {
        let str = s.as_ref();
        check_common(str)?;
        if str.bytes().any(|b| b == b'+' || b == b'#') {
            return Err(TopicError::WildcardInTopicName);
        }
        if str.len() <= Self::INLINE {
            return Ok(Self::from_validated_str(str));
        }
        Ok(Self(Repr::Shared(s.into())))
    }

    /// The empty topic name, allowed only in an MQTT 5.0 PUBLISH that carries a Topic Alias.
    ///
    /// This is the only way to build an empty `TopicName`. It matches no filter.
    pub fn alias_only() -> Self {
        Self(Repr::Inline(SmolStr::default()))
    }

    /// The topic name as a string slice.
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline(s) => s.as_str(),
            Repr::Shared(s) => s,
        }
    }

    /// Whether this is the empty, alias-only topic name (see [`TopicName::alias_only`]).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.as_str().is_empty()
    }

    /// The length of the topic name in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.as_str().len()
    }

    /// The underlying string (copied into a new buffer when stored inline).
    pub fn into_inner(self) -> ByteString {
        match self.0 {
            Repr::Inline(s) => ByteString::from(s.as_str()),
            Repr::Shared(s) => s,
        }
    }

    /// Wraps a string the caller has already validated; performs no checks.
    pub(crate) fn from_validated(s: ByteString) -> Self {
        if s.len() <= Self::INLINE {
            Self::from_validated_str(&s)
        } else {
            Self(Repr::Shared(s))
        }
    }

    /// Wraps a short string (at most [`TopicName::INLINE`] bytes, so no allocation) the
    /// caller has already validated.
    #[inline]
    pub(crate) fn from_validated_str(s: &str) -> Self {
        Self(Repr::Inline(SmolStr::new_inline(s)))
    }
}

impl fmt::Debug for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for TopicName {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for TopicName {}

impl std::hash::Hash for TopicName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for TopicName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TopicName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

/// A topic filter (what SUBSCRIBE carries), including `$share/{group}/{filter}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicFilter(ByteString);

#[allow(
    clippy::len_without_is_empty,
    reason = "a valid topic filter is never empty"
)]
impl TopicFilter {
    /// Validates a topic filter [MQTT-4.7.3-1], [MQTT-4.7.3-2], [MQTT-4.7.3-3],
    /// [MQTT-4.7.1-1], [MQTT-4.7.1-2], and for `$share/` filters [MQTT-4.8.2-1], [MQTT-4.8.2-2].
    pub fn new(s: impl Into<ByteString>) -> Result<Self, TopicError> {
        let s = s.into();
        check_common(&s)?;
        let inner = match s.strip_prefix(SHARE_PREFIX) {
            Some(rest) => match rest.split_once('/') {
                Some((group, inner))
                    if !group.is_empty() && !group.contains(['+', '#']) && !inner.is_empty() =>
                {
                    inner
                }
                _ => return Err(TopicError::InvalidSharedSubscription),
            },
            None => &s,
        };
        let mut levels = inner.split('/').peekable();
        while let Some(level) = levels.next() {
            if level.contains('#') && (level != "#" || levels.peek().is_some()) {
                return Err(TopicError::InvalidMultiLevelWildcard);
            }
            if level.contains('+') && level != "+" {
                return Err(TopicError::InvalidSingleLevelWildcard);
            }
        }
        Ok(Self(s))
    }

    /// The whole filter, including any `$share/{group}/` prefix.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The length of the whole filter in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The underlying string.
    pub fn into_inner(self) -> ByteString {
        self.0
    }

    /// For `$share/group/filter`: `Some(("group", "filter"))`; else `None`.
    pub fn shared(&self) -> Option<(&str, &str)> {
        self.0.strip_prefix(SHARE_PREFIX)?.split_once('/')
    }

    /// Whether this is a shared subscription's filter (`$share/{group}/{filter}`).
    pub fn is_shared(&self) -> bool {
        self.shared().is_some()
    }

    /// The filter part used for matching (after the share prefix for shared ones).
    pub fn filter(&self) -> &str {
        self.shared().map_or(self.as_str(), |(_, filter)| filter)
    }

    /// Whether the filter part contains `+` or `#`.
    pub fn has_wildcards(&self) -> bool {
        self.filter().contains(['+', '#'])
    }

    /// Whether a topic name matches this filter (for a shared filter, its inner filter).
    ///
    /// The alias-only (empty) topic name matches nothing: resolve the alias first.
    pub fn matches(&self, topic: &TopicName) -> bool {
        !topic.is_empty() && matches(self.filter(), topic.as_str())
    }
}

/// Match a filter string against a topic string. Both are assumed valid.
///
/// Implements `+`, `#` (which also matches the parent level: `a/#` matches `a`), and the `$`
/// rule [MQTT-4.7.2-1]: a filter starting with `+` or `#` does not match a topic starting
/// with `$`. Levels are compared byte for byte, without normalization [MQTT-4.7.3-4].
/// Does not allocate.
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut filter_levels = filter.split('/');
    let mut topic_levels = topic.split('/');
    loop {
        match (filter_levels.next(), topic_levels.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(f), Some(t)) if f == t => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

const SHARE_PREFIX: &str = "$share/";
const MAX_LEN: usize = 65_535;

/// Checks shared by names and filters [MQTT-4.7.3-1], [MQTT-4.7.3-2], [MQTT-4.7.3-3].
fn check_common(s: &str) -> Result<(), TopicError> {
    if s.is_empty() {
        Err(TopicError::Empty)
    } else if s.len() > MAX_LEN {
        Err(TopicError::TooLong { len: s.len() })
    } else if s.contains('\0') {
        Err(TopicError::NullCharacter)
    } else {
        Ok(())
    }
}

macro_rules! impl_str_traits {
    ($($ty:ident),*) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }
        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }
        impl TryFrom<&str> for $ty {
            type Error = TopicError;
            fn try_from(s: &str) -> Result<Self, TopicError> {
                Self::new(s)
            }
        }
        impl TryFrom<String> for $ty {
            type Error = TopicError;
            fn try_from(s: String) -> Result<Self, TopicError> {
                Self::new(s)
            }
        }
        impl FromStr for $ty {
            type Err = TopicError;
            fn from_str(s: &str) -> Result<Self, TopicError> {
                Self::new(s)
            }
        }
        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }
        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    )*};
}
impl_str_traits!(TopicName, TopicFilter);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn name(s: &str) -> TopicName {
        TopicName::new(s).unwrap()
    }

    fn filter(s: &str) -> TopicFilter {
        TopicFilter::new(s).unwrap()
    }

    fn m(f: &str, t: &str) -> bool {
        filter(f).matches(&name(t))
    }

    #[test]
    fn empty_is_rejected_mqtt_4_7_3_1() {
        assert_eq!(TopicName::new(""), Err(TopicError::Empty));
        assert_eq!(TopicFilter::new(""), Err(TopicError::Empty));
        assert!(TopicName::alias_only().is_empty());
        assert!(!filter("#").matches(&TopicName::alias_only()));
    }

    #[test]
    fn null_character_is_rejected_mqtt_4_7_3_2() {
        assert_eq!(TopicName::new("a\0b"), Err(TopicError::NullCharacter));
        assert_eq!(TopicFilter::new("a/\0"), Err(TopicError::NullCharacter));
    }

    #[test]
    fn length_limit_mqtt_4_7_3_3() {
        let max = "a".repeat(MAX_LEN);
        assert_eq!(name(&max).len(), MAX_LEN);
        assert_eq!(filter(&max).len(), MAX_LEN);
        let long = "a".repeat(MAX_LEN + 1);
        let err = TopicError::TooLong { len: MAX_LEN + 1 };
        assert_eq!(TopicName::new(long.as_str()), Err(err.clone()));
        assert_eq!(TopicFilter::new(long), Err(err));
    }

    fn assert_filter_errs(inputs: &[&str], err: TopicError) {
        for s in inputs {
            assert_eq!(TopicFilter::new(*s), Err(err.clone()), "{s}");
        }
    }

    #[test]
    fn wildcards_not_in_topic_name_mqtt_4_7_0_1() {
        let err = TopicError::WildcardInTopicName;
        for s in ["+", "#", "a/+", "a/#", "sport+", "a#b"] {
            assert_eq!(TopicName::new(s), Err(err.clone()), "{s}");
        }
    }

    #[test]
    fn multi_level_wildcard_placement_mqtt_4_7_1_1() {
        let err = TopicError::InvalidMultiLevelWildcard;
        assert_filter_errs(
            &["sport/tennis#", "sport/tennis/#/ranking", "#/a"],
            err.clone(),
        );
        assert_filter_errs(&["a#", "+#", "a/#/", "##", "$share/g/a#"], err);
    }

    #[test]
    fn single_level_wildcard_placement_mqtt_4_7_1_2() {
        let bad = ["sport+", "a/+b", "+a/b", "++", "a/b+/c"];
        assert_filter_errs(&bad, TopicError::InvalidSingleLevelWildcard);
    }

    #[test]
    fn shared_subscription_rules_mqtt_4_8_2_1_and_2() {
        let err = TopicError::InvalidSharedSubscription;
        assert_filter_errs(&["$share/", "$share/group", "$share//x"], err.clone());
        assert_filter_errs(&["$share/g+/x", "$share/g#/x", "$share/g/"], err);
        let f = filter("$share/group/#");
        assert_eq!(f.shared(), Some(("group", "#")));
        assert!(f.is_shared() && f.has_wildcards());
        assert_eq!(f.filter(), "#");
        let f = filter("$share/g/sport/+");
        assert!(f.matches(&name("sport/tennis")) && !f.matches(&name("$share/g/sport/x")));
        for s in ["$sharefoo/x", "$share"] {
            let f = filter(s);
            assert!(!f.is_shared() && f.shared().is_none() && !f.has_wildcards());
            assert_eq!(f.filter(), s);
            assert!(f.matches(&name(s)));
        }
        // The `$` rule applies to the inner filter [MQTT-4.7.2-1].
        assert!(!m("$share/g/#", "$SYS/x"));
        assert!(!m("$share/g/+/x", "$SYS/x"));
        assert!(m("$share/g/$SYS/#", "$SYS/x"));
    }

    #[test]
    fn spec_4_7_1_2_multi_level_wildcard_examples_mqtt_4_7_1_1() {
        for t in [
            "sport/tennis/player1",
            "sport/tennis/player1/ranking",
            "sport/tennis/player1/score/wimbledon",
        ] {
            assert!(m("sport/tennis/player1/#", t), "{t}");
        }
        assert!(m("sport/#", "sport"));
        assert!(m("sport/tennis/#", "sport/tennis"));
        assert!(m("sport/tennis/#", "sport/tennis/player1/ranking"));
        filter("#");
        filter("sport/tennis/#");
        assert!(TopicFilter::new("sport/tennis#").is_err());
        assert!(TopicFilter::new("sport/tennis/#/ranking").is_err());
    }

    #[test]
    fn spec_4_7_1_3_single_level_wildcard_examples_mqtt_4_7_1_2() {
        assert!(m("sport/tennis/+", "sport/tennis/player1"));
        assert!(m("sport/tennis/+", "sport/tennis/player2"));
        assert!(!m("sport/tennis/+", "sport/tennis/player1/ranking"));
        assert!(!m("sport/+", "sport"));
        assert!(m("sport/+", "sport/"));
        for s in ["+", "+/tennis/#", "sport/+/player1"] {
            filter(s);
        }
        assert!(TopicFilter::new("sport+").is_err());
        assert!(m("+/+", "/finance") && m("/+", "/finance") && !m("+", "/finance"));
    }

    #[test]
    fn spec_4_7_2_topics_beginning_with_dollar_mqtt_4_7_2_1() {
        assert!(!m("#", "$SYS/x") && m("#", "sport/tennis"));
        assert!(!m("+/monitor/Clients", "$SYS/monitor/Clients"));
        assert!(!m("+/monitor", "$SYS/monitor"));
        assert!(m("$SYS/#", "$SYS/x") && m("$SYS/#", "$SYS"));
        assert!(m("$SYS/monitor/+", "$SYS/monitor/Clients"));
    }

    #[test]
    fn spec_4_7_3_topic_semantics_mqtt_4_7_3_4() {
        assert!(!m("ACCOUNTS", "Accounts"));
        assert!(m("Accounts payable", "Accounts payable"));
        assert!(!m("/finance", "finance") && !m("finance", "/finance"));
        for s in ["/", "//", "finance/", "$SYS/x"] {
            assert_eq!(name(s), s);
            assert_eq!(filter(s), s);
            assert!(m(s, s), "{s}");
        }
    }

    #[test]
    fn string_traits() {
        let n: TopicName = "a/b".parse().unwrap();
        assert_eq!(n.to_string(), "a/b");
        assert_eq!(n, *"a/b");
        assert_eq!(n.as_ref(), "a/b");
        assert_eq!(TopicName::try_from(String::from("a/b")), Ok(n.clone()));
        assert_eq!(n.clone().into_inner(), "a/b");
        assert_eq!(TopicName::from_validated(ByteString::from_static("a/b")), n);
        let f = TopicFilter::try_from("a/+").unwrap();
        assert_eq!(format!("{f:>5}"), "  a/+");
        assert_eq!("a/+".parse::<TopicFilter>(), Ok(f.clone()));
        assert_eq!(TopicFilter::try_from(String::from("a/+")), Ok(f.clone()));
        assert_eq!(f.into_inner(), "a/+");
        assert!(TopicError::Empty.to_string().contains("[MQTT-4.7.3-1]"));
    }

    /// Naive reference: split into level vectors and compare recursively.
    fn reference(filter: &str, topic: &str) -> bool {
        fn levels(f: &[&str], t: &[&str]) -> bool {
            match (f.split_first(), t.split_first()) {
                (Some((&"#", _)), _) => true,
                (Some((&"+", f_rest)), Some((_, t_rest))) => levels(f_rest, t_rest),
                (Some((fl, f_rest)), Some((tl, t_rest))) => fl == tl && levels(f_rest, t_rest),
                (None, None) => true,
                _ => false,
            }
        }
        let f: Vec<&str> = filter.split('/').collect();
        let t: Vec<&str> = topic.split('/').collect();
        let wildcard_first = f[0] == "+" || f[0] == "#";
        !(wildcard_first && t[0].starts_with('$')) && levels(&f, &t)
    }

    fn valid_filter() -> impl Strategy<Value = String> {
        let level = prop::sample::select(vec!["a", "b", "$x", "", "+"]);
        (prop::collection::vec(level, 0..5), any::<bool>())
            .prop_map(|(levels, hash)| match (levels.is_empty(), hash) {
                (true, _) => "#".to_owned(),
                (false, true) => format!("{}/#", levels.join("/")),
                (false, false) => levels.join("/"),
            })
            .prop_filter("empty filter", |f| !f.is_empty())
    }

    fn topic() -> impl Strategy<Value = String> {
        let level = prop::sample::select(vec!["a", "b", "$x", ""]);
        prop::collection::vec(level, 1..5)
            .prop_map(|levels| levels.join("/"))
            .prop_filter("empty topic", |t| !t.is_empty())
    }

    proptest! {
        #[test]
        fn matches_agrees_with_reference_mqtt_4_7_2_1(f in valid_filter(), t in topic()) {
            let tf = TopicFilter::new(f.as_str()).unwrap();
            let tn = TopicName::new(t.as_str()).unwrap();
            let expected = reference(&f, &t);
            prop_assert_eq!(matches(&f, &t), expected);
            prop_assert_eq!(tf.matches(&tn), expected);
            let shared = TopicFilter::new(format!("$share/g/{f}")).unwrap();
            prop_assert_eq!(shared.matches(&tn), expected);
        }
    }
}
