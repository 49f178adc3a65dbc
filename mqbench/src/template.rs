//! Client id and topic templates: `%i` the client index, `%p` the process id, `%r` a random
//! hex word (one per run), `%%` a percent sign.

use std::fmt;
use std::sync::OnceLock;

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Part>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Index,
}

/// A template that cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// `%` followed by something that is no placeholder.
    Unknown(char),
    /// `%` at the end.
    Trailing,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(c) => write!(f, "unknown placeholder %{c} (known: %i %p %r %%)"),
            Self::Trailing => write!(f, "'%' at the end (write %% for a percent sign)"),
        }
    }
}

impl std::error::Error for TemplateError {}

/// One random word per run, from the clock and the process id (enough to tell runs apart).
fn random_word() -> &'static str {
    static WORD: OnceLock<String> = OnceLock::new();
    WORD.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        format!("{:08x}", h.finish() as u32)
    })
}

impl Template {
    /// Parse a template.
    pub fn parse(s: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                text.push(c);
                continue;
            }
            match chars.next() {
                Some('%') => text.push('%'),
                Some('p') => text.push_str(&std::process::id().to_string()),
                Some('r') => text.push_str(random_word()),
                Some('i') => {
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    parts.push(Part::Index);
                }
                Some(c) => return Err(TemplateError::Unknown(c)),
                None => return Err(TemplateError::Trailing),
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Self(parts))
    }

    /// The template for client `index`.
    pub fn expand(&self, index: u64) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Index => out.push_str(&index.to_string()),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands() {
        let t = Template::parse("a/%i/b%%/%p-%r").unwrap_or_else(|e| panic!("{e}"));
        let s = t.expand(42);
        let pid = std::process::id().to_string();
        assert!(s.starts_with(&format!("a/42/b%/{pid}-")), "{s}");
        assert_eq!(s.len(), format!("a/42/b%/{pid}-").len() + 8);
        assert_eq!(Template::parse("x%q"), Err(TemplateError::Unknown('q')));
        assert_eq!(Template::parse("x%"), Err(TemplateError::Trailing));
        assert_eq!(
            Template::parse("plain").map(|t| t.expand(3)),
            Ok("plain".to_owned())
        );
    }
}
