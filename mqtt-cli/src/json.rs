//! A small JSON tree that prints like cJSON, which mosquitto uses for `%j`/`%J`.
//!
//! serde_json (without its `preserve_order` feature) sorts object keys and prints numbers its
//! own way; mosquitto's output keeps insertion order, prints `27.0` as `27`, and has a
//! particular pretty layout (`cJSON_Print`: tab indentation, `"key":<TAB>value`, arrays on
//! one line). This module reproduces that byte for byte.

/// A JSON value. Objects keep their keys in insertion order (duplicates allowed, as cJSON).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Prints like `cJSON_PrintUnformatted` (`pretty == false`) or `cJSON_Print`.
    pub(crate) fn print(&self, pretty: bool) -> String {
        let mut out = String::new();
        self.print_into(&mut out, pretty, 0);
        out
    }

    fn print_into(&self, out: &mut String, pretty: bool, depth: usize) {
        match self {
            Self::Null => out.push_str("null"),
            Self::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Self::Number(n) => out.push_str(&number(*n)),
            Self::String(s) => escape_into(out, s),
            Self::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                        if pretty {
                            out.push(' ');
                        }
                    }
                    // cJSON counts arrays as a nesting level too.
                    v.print_into(out, pretty, depth + 1);
                }
                out.push(']');
            }
            Self::Object(items) => {
                let depth = depth + 1;
                out.push('{');
                if pretty {
                    out.push('\n');
                }
                for (i, (k, v)) in items.iter().enumerate() {
                    if pretty {
                        out.extend(std::iter::repeat_n('\t', depth));
                    }
                    escape_into(out, k);
                    out.push(':');
                    if pretty {
                        out.push('\t');
                    }
                    v.print_into(out, pretty, depth);
                    if i + 1 < items.len() {
                        out.push(',');
                    }
                    if pretty {
                        out.push('\n');
                    }
                }
                if pretty {
                    out.extend(std::iter::repeat_n('\t', depth - 1));
                }
                out.push('}');
            }
        }
    }

    /// Parses a whole document like `cJSON_ParseWithOpts(.., require_null_terminated)`:
    /// whitespace may surround the value, nothing else may follow it.
    pub(crate) fn parse(input: &[u8]) -> Option<Self> {
        let mut p = Parser { s: input, i: 0 };
        let v = p.value(0)?;
        p.ws();
        (p.i == input.len()).then_some(v)
    }
}

/// cJSON's string escaping: `"` `\` and the control characters; everything else raw.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// cJSON's number printing: integers in `int` range as `%d`, otherwise `%1.15g`, or
/// `%1.17g` when 15 digits do not round-trip. NaN and infinities print as `null`.
fn number(d: f64) -> String {
    if !d.is_finite() {
        return "null".to_owned();
    }
    let as_int = if d >= f64::from(i32::MAX) {
        i32::MAX
    } else if d <= f64::from(i32::MIN) {
        i32::MIN
    } else {
        d as i32
    };
    if d == f64::from(as_int) {
        return as_int.to_string();
    }
    let s = format_g(d, 15);
    if s.parse::<f64>().ok() == Some(d) {
        s
    } else {
        format_g(d, 17)
    }
}

/// C's `%1.<prec>g`.
fn format_g(d: f64, prec: usize) -> String {
    let sci = format!("{:.*e}", prec - 1, d);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let strip = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s.to_owned()
        }
    };
    if exp < -4 || exp >= prec as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", strip(mantissa), exp.unsigned_abs())
    } else {
        let decimals = usize::try_from(prec as i32 - 1 - exp).unwrap_or(0);
        strip(&format!("{d:.decimals$}"))
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i] <= b' ' && self.s[self.i] != 0 {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        if self.s[self.i..].starts_with(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Option<Json> {
        // cJSON's nesting limit.
        if depth > 1000 {
            return None;
        }
        self.ws();
        match self.peek()? {
            b'n' => self.eat(b"null").then_some(Json::Null),
            b't' => self.eat(b"true").then_some(Json::Bool(true)),
            b'f' => self.eat(b"false").then_some(Json::Bool(false)),
            b'"' => self.string().map(Json::String),
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Some(Json::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(Json::Array(items));
                        }
                        _ => return None,
                    }
                }
            }
            b'{' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Some(Json::Object(items));
                }
                loop {
                    self.ws();
                    if self.peek()? != b'"' {
                        return None;
                    }
                    let k = self.string()?;
                    self.ws();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.i += 1;
                    let v = self.value(depth + 1)?;
                    items.push((k, v));
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Some(Json::Object(items));
                        }
                        _ => return None,
                    }
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = self.i;
                while matches!(
                    self.peek(),
                    Some(b'0'..=b'9' | b'+' | b'-' | b'e' | b'E' | b'.')
                ) {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i]).ok()?;
                text.parse::<f64>().ok().map(Json::Number)
            }
            _ => None,
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        let v = u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?;
        self.i += 4;
        Some(v)
    }

    fn string(&mut self) -> Option<String> {
        self.i += 1; // opening quote
        let mut out = Vec::new();
        loop {
            let b = self.peek()?;
            self.i += 1;
            match b {
                b'"' => return String::from_utf8(out).ok(),
                0 => return None,
                b'\\' => {
                    let e = self.peek()?;
                    self.i += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xd800..0xdc00).contains(&hi) {
                                if !self.eat(b"\\u") {
                                    return None;
                                }
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return None;
                                }
                                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                            } else {
                                hi
                            };
                            char::from_u32(cp)?
                        }
                        _ => return None,
                    };
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                b => out.push(b),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn reserialises_like_cjson() {
        let v = Json::parse(br#" {"temperature":27.0, "humidity":57, "b":[1, "x", null, true]} "#)
            .unwrap();
        assert_eq!(
            v.print(false),
            r#"{"temperature":27,"humidity":57,"b":[1,"x",null,true]}"#
        );
        assert_eq!(
            v.print(true),
            "{\n\t\"temperature\":\t27,\n\t\"humidity\":\t57,\n\t\"b\":\t[1, \"x\", null, true]\n}"
        );
    }

    #[test]
    fn nested_pretty_objects_indent_by_depth() {
        let v = Json::parse(br#"{"a":{"b":{}},"c":[{"d":1}]}"#).unwrap();
        assert_eq!(
            v.print(true),
            "{\n\t\"a\":\t{\n\t\t\"b\":\t{\n\t\t}\n\t},\n\t\"c\":\t[{\n\t\t\t\"d\":\t1\n\t\t}]\n}"
        );
    }

    #[test]
    fn numbers_print_like_c() {
        assert_eq!(number(27.0), "27");
        assert_eq!(number(-3.0), "-3");
        assert_eq!(number(0.1), "0.1");
        assert_eq!(number(1.5e300), "1.5e+300");
        assert_eq!(number(1e10), "10000000000");
        assert_eq!(number(1e-7), "1e-07");
        assert_eq!(number(f64::NAN), "null");
        assert_eq!(number(0.30000000000000004), "0.30000000000000004");
    }

    #[test]
    fn strings_escape_control_characters_only() {
        let mut s = String::new();
        escape_into(&mut s, "a\"b\\c\n\u{1}é/");
        assert_eq!(s, "\"a\\\"b\\\\c\\n\\u0001é/\"");
        let v = Json::parse(br#""\u00e9\ud83d\ude00\/""#).unwrap();
        assert_eq!(v, Json::String("é😀/".to_owned()));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let alphabet = b"{}[]\",:0123456789.eE+-tnfrua\\/ \0\xff";
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 16) as usize;
            let doc: Vec<u8> = (0..len)
                .map(|k| alphabet[((x >> (k * 3)) % alphabet.len() as u64) as usize])
                .collect();
            if let Some(v) = Json::parse(&doc) {
                // Whatever parses re-serialises to something that parses again.
                assert!(Json::parse(v.print(false).as_bytes()).is_some());
            }
        }
    }

    #[test]
    fn invalid_documents() {
        for bad in [
            &b""[..],
            b"{",
            b"{\"a\"}",
            b"[1,]x",
            b"not json",
            b"1 2",
            b"\"a\0\"",
            b"{\"a\":1}\0",
        ] {
            assert!(
                Json::parse(bad).is_none(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
