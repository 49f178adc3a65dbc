//! The byte notation of the vectors' `payload` fields (README.md, "The byte notation"), as
//! mosquitto's harness (`parse_message` in `test/lib/msg_sequence_test.py`) reads it. One copy, shared by
//! the client vectors' runner (`mqtt-proto/tests/vectors.rs`) and the broker vectors' runner
//! (`tests/testkit/tests/vectors.rs`), each including it with `#[path]`.

/// The bytes a payload string stands for.
///
/// Tokens are separated by spaces (runs of spaces are allowed) and concatenated:
/// - `'text'`: the UTF-8 bytes of `text`, which may contain spaces;
/// - `iN`: N as one byte;
/// - `HN`, `kN`, `mN`, `sN`: N as a two-byte big-endian integer;
/// - `LN`: N as a four-byte big-endian integer;
/// - `rN`, `vN`: N as a variable byte integer, continued for as long as N needs: values of
///   2^28 and above come out five bytes or more long, deliberately malformed;
/// - anything else: hex bytes (`20`, `00 00`, `21000A`, `ffff`).
pub(crate) fn parse(payload: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut tokens = payload.split(' ').filter(|t| !t.is_empty());
    while let Some(token) = tokens.next() {
        let (head, rest) = token.split_at(1);
        match head {
            "'" => {
                let mut text = rest.to_owned();
                while !text.ends_with('\'') {
                    let next = tokens
                        .next()
                        .ok_or_else(|| format!("unterminated string in {payload:?}"))?;
                    text.push(' ');
                    text.push_str(next);
                }
                text.pop();
                out.extend_from_slice(text.as_bytes());
            }
            "i" => out.push(number::<u8>(rest, token)?),
            "H" | "k" | "m" | "s" => {
                out.extend_from_slice(&number::<u16>(rest, token)?.to_be_bytes());
            }
            "L" => out.extend_from_slice(&number::<u32>(rest, token)?.to_be_bytes()),
            "r" | "v" => varint(&mut out, number::<u64>(rest, token)?),
            _ => hex(&mut out, token)?,
        }
    }
    Ok(out)
}

fn number<T: std::str::FromStr>(digits: &str, token: &str) -> Result<T, String> {
    digits
        .parse()
        .map_err(|_| format!("{token:?}: not a number of the right size"))
}

/// A variable byte integer with no four-byte limit (mosquitto's harness writes values of 2^28
/// and above as five bytes or more, to test that they are refused).
fn varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v % 128) as u8;
        v /= 128;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn hex(out: &mut Vec<u8>, token: &str) -> Result<(), String> {
    if !token.len().is_multiple_of(2) {
        return Err(format!("{token:?}: odd number of hex digits"));
    }
    for pair in token.as_bytes().chunks(2) {
        let pair = std::str::from_utf8(pair).map_err(|_| format!("{token:?}: not hex"))?;
        out.push(u8::from_str_radix(pair, 16).map_err(|_| format!("{token:?}: not hex"))?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn every_token_kind() {
        assert_eq!(
            parse("20 r2 00 00").unwrap(),
            [0x20, 0x02, 0x00, 0x00],
            "hex and remaining length"
        );
        assert_eq!(
            parse("32 r16 s5 'topic' m1234 'payload'").unwrap()[..9],
            [0x32, 16, 0, 5, b't', b'o', b'p', b'i', b'c']
        );
        assert_eq!(parse("m1234").unwrap(), [0x04, 0xD2]);
        assert_eq!(
            parse("i7 H10 k60 L1").unwrap(),
            [7, 0, 10, 0, 60, 0, 0, 0, 1]
        );
        assert_eq!(
            parse("21000A ffff").unwrap(),
            [0x21, 0x00, 0x0A, 0xFF, 0xFF]
        );
        assert_eq!(parse("v128").unwrap(), [0x80, 0x01]);
        assert_eq!(parse("'a b'  'c'").unwrap(), b"a bc");
    }

    #[test]
    fn values_from_2_pow_28_are_encoded_too_long() {
        assert_eq!(parse("r268435455").unwrap(), [0xFF, 0xFF, 0xFF, 0x7F]);
        assert_eq!(parse("r268435456").unwrap(), [0x80, 0x80, 0x80, 0x80, 0x01]);
    }
}
