//! `password_file` in `mosquitto_passwd`'s format: one `user:hash` per line, the hash
//! `$7$ITERATIONS$SALT$HASH` (PBKDF2-HMAC-SHA512, what mosquitto 2.0 writes) or `$6$SALT$HASH`
//! (one SHA-512 of the password then the salt, older files), salts and hashes in base64.

use std::collections::HashMap;
use std::num::NonZeroU32;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mqtt_testkit::Authenticator;
use ring::rand::SecureRandom as _;
use ring::{digest, pbkdf2, rand};

/// The iterations `mosquitto_passwd` 2.0 uses for `$7$` hashes.
const ITERATIONS: u32 = 101;
/// Salt length `mosquitto_passwd` uses.
const SALT_LEN: usize = 12;

/// One user's stored hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Hash {
    /// `$6$`: SHA-512 over password then salt.
    Sha512 { salt: Vec<u8>, hash: Vec<u8> },
    /// `$7$`: PBKDF2-HMAC-SHA512.
    Pbkdf2Sha512 {
        iterations: NonZeroU32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
}

impl Hash {
    /// A new `$7$` hash of `password` with a random salt, as `mosquitto_passwd` makes.
    pub(crate) fn new(password: &[u8]) -> Result<Self, String> {
        let mut salt = vec![0; SALT_LEN];
        rand::SystemRandom::new()
            .fill(&mut salt)
            .map_err(|_| "no random numbers for the salt".to_owned())?;
        let iterations = NonZeroU32::new(ITERATIONS).unwrap_or(NonZeroU32::MIN);
        let mut hash = vec![0; digest::SHA512_OUTPUT_LEN];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA512,
            iterations,
            &salt,
            password,
            &mut hash,
        );
        Ok(Self::Pbkdf2Sha512 {
            iterations,
            salt,
            hash,
        })
    }

    /// Parse `$6$...` or `$7$...`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let b64 = |part: &str, what: &str| {
            STANDARD
                .decode(part)
                .map_err(|e| format!("the {what} is not base64: {e}"))
        };
        let fields: Vec<&str> = text.split('$').collect();
        match fields.as_slice() {
            ["", "6", salt, hash] => Ok(Self::Sha512 {
                salt: b64(salt, "salt")?,
                hash: b64(hash, "hash")?,
            }),
            ["", "7", iterations, salt, hash] => Ok(Self::Pbkdf2Sha512 {
                iterations: iterations
                    .parse()
                    .map_err(|_| format!("bad iteration count {iterations:?}"))?,
                salt: b64(salt, "salt")?,
                hash: b64(hash, "hash")?,
            }),
            _ => Err("not a $6$ or $7$ password hash (make entries with \
                      mosquitto_passwd or mqbroker passwd)"
                .to_owned()),
        }
    }

    /// Whether `password` is the one hashed.
    pub(crate) fn verify(&self, password: &[u8]) -> bool {
        match self {
            Self::Sha512 { salt, hash } => {
                let mut ctx = digest::Context::new(&digest::SHA512);
                ctx.update(password);
                ctx.update(salt);
                constant_time_eq(ctx.finish().as_ref(), hash)
            }
            Self::Pbkdf2Sha512 {
                iterations,
                salt,
                hash,
            } => pbkdf2::verify(
                pbkdf2::PBKDF2_HMAC_SHA512,
                *iterations,
                salt,
                password,
                hash,
            )
            .is_ok(),
        }
    }
}

impl std::fmt::Display for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sha512 { salt, hash } => {
                write!(f, "$6${}${}", STANDARD.encode(salt), STANDARD.encode(hash))
            }
            Self::Pbkdf2Sha512 {
                iterations,
                salt,
                hash,
            } => write!(
                f,
                "$7${iterations}${}${}",
                STANDARD.encode(salt),
                STANDARD.encode(hash)
            ),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A parsed password file: user name → hash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PasswordFile {
    users: HashMap<String, Hash>,
}

impl PasswordFile {
    /// Parse a password file's text; errors name the line. Blank lines and lines starting
    /// with `#` are skipped, as mosquitto does.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut users = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, hash)) = line.split_once(':') else {
                return Err(format!("line {}: expected USER:HASH", n + 1));
            };
            if user.is_empty() {
                return Err(format!("line {}: empty user name", n + 1));
            }
            let hash = Hash::parse(hash).map_err(|e| format!("line {}: {e}", n + 1))?;
            users.insert(user.to_owned(), hash);
        }
        Ok(Self { users })
    }

    /// Add or replace one user's entry in a password file's text, keeping every other
    /// line as it is (what `mqbroker passwd FILE USER` writes).
    pub(crate) fn set_in_text(text: &str, user: &str, hash: &Hash) -> String {
        let entry = format!("{user}:{hash}");
        let mut out = String::with_capacity(text.len() + entry.len() + 1);
        let mut replaced = false;
        for line in text.lines() {
            if !replaced && line.split_once(':').is_some_and(|(u, _)| u == user) {
                out.push_str(&entry);
                replaced = true;
            } else {
                out.push_str(line);
            }
            out.push('\n');
        }
        if !replaced {
            out.push_str(&entry);
            out.push('\n');
        }
        out
    }
}

impl Authenticator for PasswordFile {
    fn check(&self, username: &str, password: &[u8]) -> bool {
        self.users.get(username).is_some_and(|h| h.verify(password))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_new_hash_verifies_and_round_trips() {
        let hash = Hash::new(b"s3cret").unwrap();
        assert!(hash.verify(b"s3cret"));
        assert!(!hash.verify(b"s3creT"));
        let text = hash.to_string();
        assert!(text.starts_with("$7$101$"), "{text}");
        assert_eq!(Hash::parse(&text).unwrap(), hash);
    }

    #[test]
    fn sha512_hashes_verify() {
        // SHA-512("pw" || "salt"), computed apart.
        let mut ctx = digest::Context::new(&digest::SHA512);
        ctx.update(b"pw");
        ctx.update(b"salt");
        let line = format!(
            "u:$6${}${}\n",
            STANDARD.encode(b"salt"),
            STANDARD.encode(ctx.finish())
        );
        let file = PasswordFile::parse(&line).unwrap();
        assert!(file.check("u", b"pw"));
        assert!(!file.check("u", b"pw2"));
        assert!(!file.check("v", b"pw"));
    }

    #[test]
    fn errors_name_the_line() {
        let err = PasswordFile::parse("# c\n\nalice\n").unwrap_err();
        assert_eq!(err, "line 3: expected USER:HASH");
        let err = PasswordFile::parse("a:$7$x$AA==$AA==\n").unwrap_err();
        assert!(err.starts_with("line 1: bad iteration count"), "{err}");
        let err = PasswordFile::parse("a:plain\n").unwrap_err();
        assert!(err.starts_with("line 1: not a $6$ or $7$"), "{err}");
        let err = PasswordFile::parse("a:$6$!!$AA==\n").unwrap_err();
        assert!(err.starts_with("line 1: the salt is not base64"), "{err}");
    }

    #[test]
    fn set_in_text_replaces_or_appends() {
        let hash = Hash::new(b"x").unwrap();
        let text = "# users\nbob:$6$AA==$AA==\nalice:$6$AA==$AA==\n";
        let out = PasswordFile::set_in_text(text, "bob", &hash);
        assert_eq!(out.lines().count(), 3);
        assert!(PasswordFile::parse(&out).unwrap().check("bob", b"x"));
        let out = PasswordFile::set_in_text(text, "carol", &hash);
        assert_eq!(out.lines().count(), 4);
        assert!(PasswordFile::parse(&out).unwrap().check("carol", b"x"));
    }
}
