//! `acl_file` in mosquitto's syntax and with its meaning (mosquitto 2.0's default access
//! control): once a file is set, only what it grants is allowed.
//!
//! - `topic [read|write|readwrite|deny] TOPIC` (no access word: readwrite). Lines before
//!   the first `user` line apply to anonymous clients; after `user NAME`, to that user.
//! - `pattern [read|write|readwrite|deny] TOPIC`: for every client, with `%c` (client id)
//!   and `%u` (user name) standing for a whole topic level.
//! - `deny` lines are checked first: any that matches refuses. Then a grant with the access
//!   asked for must match.
//! - Subscribing needs read access to the filter as written (an ACL `#` or `a/+` matches a
//!   filter `a/+`; an ACL `a/b` does not grant `a/#`); every message is checked again for
//!   read access before it is queued for a client, so a `deny secret/#` keeps `secret/x`
//!   from a subscription to `#`.

use std::collections::HashMap;

use mqtt_testkit::{Access, Authorizer};

/// What a line grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Right {
    Read,
    Write,
    ReadWrite,
    Deny,
}

impl Right {
    fn grants(self, access: Access) -> bool {
        matches!(
            (self, access),
            (Self::ReadWrite, _)
                | (Self::Read, Access::Read | Access::Subscribe)
                | (Self::Write, Access::Write)
        )
    }
}

/// One `topic` or `pattern` line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    right: Right,
    topic: String,
}

/// A parsed ACL file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AclFile {
    /// `topic` lines before any `user` line.
    anonymous: Vec<Rule>,
    /// `topic` lines by user.
    users: HashMap<String, Vec<Rule>>,
    /// `pattern` lines (everyone).
    patterns: Vec<Rule>,
}

impl AclFile {
    /// Parse an ACL file's text; errors name the line.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut acl = Self::default();
        let mut user: Option<String> = None;
        for (n, line) in text.lines().enumerate() {
            let at = |e: String| format!("line {}: {e}", n + 1);
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (keyword, rest) = line
                .split_once(char::is_whitespace)
                .map_or((line, ""), |(k, r)| (k, r.trim_start()));
            match keyword {
                "user" => {
                    if rest.is_empty() {
                        return Err(at("user needs a user name".into()));
                    }
                    acl.users.entry(rest.to_owned()).or_default();
                    user = Some(rest.to_owned());
                }
                "topic" | "pattern" => {
                    let rule = parse_rule(keyword, rest).map_err(at)?;
                    if keyword == "pattern" {
                        acl.patterns.push(rule);
                    } else if let Some(user) = &user {
                        acl.users.entry(user.clone()).or_default().push(rule);
                    } else {
                        acl.anonymous.push(rule);
                    }
                }
                other => {
                    return Err(at(format!(
                        "unknown ACL keyword {other:?} (expected user, topic or pattern)"
                    )));
                }
            }
        }
        Ok(acl)
    }

    /// The rules that apply to `user` (the anonymous ones without a user name), then the
    /// patterns with `%c` and `%u` substituted (a pattern that needs a value the client
    /// lacks, or whose value holds `/`, `+` or `#`, applies to no one).
    fn rules(&self, client_id: &str, user: Option<&str>) -> Vec<Rule> {
        let own = match user {
            Some(user) => self.users.get(user).map_or(&[][..], Vec::as_slice),
            None => &self.anonymous[..],
        };
        let mut rules = own.to_vec();
        let safe = |v: &str| !v.contains(['/', '+', '#']);
        for pattern in &self.patterns {
            let mut levels = Vec::new();
            let mut usable = true;
            for level in pattern.topic.split('/') {
                match level {
                    "%c" if safe(client_id) => levels.push(client_id),
                    "%u" => match user {
                        Some(u) if safe(u) => levels.push(u),
                        _ => usable = false,
                    },
                    "%c" => usable = false,
                    other => levels.push(other),
                }
            }
            if usable {
                rules.push(Rule {
                    right: pattern.right,
                    topic: levels.join("/"),
                });
            }
        }
        rules
    }
}

fn parse_rule(keyword: &str, rest: &str) -> Result<Rule, String> {
    let (word, topic) = rest
        .split_once(char::is_whitespace)
        .map_or((rest, ""), |(w, t)| (w, t.trim_start()));
    let right = match word {
        "read" => Some(Right::Read),
        "write" => Some(Right::Write),
        "readwrite" => Some(Right::ReadWrite),
        "deny" => Some(Right::Deny),
        _ => None,
    };
    let (right, topic) = match right {
        Some(right) => (right, topic),
        // No access word: the whole rest is the topic, read and write.
        None => (Right::ReadWrite, rest),
    };
    if topic.is_empty() {
        return Err(format!("{keyword} needs a topic"));
    }
    mqtt_proto::TopicFilter::new(topic)
        .map_err(|e| format!("{keyword} {topic:?} is not a valid topic filter: {e}"))?;
    Ok(Rule {
        right,
        topic: topic.to_owned(),
    })
}

impl Authorizer for AclFile {
    fn allows(&self, client_id: &str, user: Option<&str>, topic: &str, access: Access) -> bool {
        let rules = self.rules(client_id, user);
        let matches = |rule: &Rule| mqtt_proto::topic::matches(&rule.topic, topic);
        if rules.iter().any(|r| r.right == Right::Deny && matches(r)) {
            return false;
        }
        rules.iter().any(|r| r.right.grants(access) && matches(r))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const FILE: &str = "\
# anonymous clients
topic read public/#

user alice
topic readwrite #
topic deny secret/#
topic write alice/out

user bob
topic read sensors/+/temp
pattern readwrite clients/%c/#
pattern write users/%u/status
";

    fn acl() -> AclFile {
        AclFile::parse(FILE).unwrap()
    }

    #[test]
    fn anonymous_clients_get_the_lines_before_the_first_user() {
        let acl = acl();
        assert!(acl.allows("c", None, "public/a", Access::Read));
        assert!(acl.allows("c", None, "public/#", Access::Subscribe));
        assert!(!acl.allows("c", None, "public/a", Access::Write));
        assert!(!acl.allows("c", None, "#", Access::Subscribe));
        assert!(!acl.allows("c", Some("carol"), "public/a", Access::Read));
    }

    #[test]
    fn deny_wins_over_a_broader_grant() {
        let acl = acl();
        assert!(acl.allows("c", Some("alice"), "#", Access::Subscribe));
        assert!(acl.allows("c", Some("alice"), "a/b", Access::Read));
        assert!(!acl.allows("c", Some("alice"), "secret/x", Access::Read));
        assert!(!acl.allows("c", Some("alice"), "secret/x", Access::Write));
        assert!(!acl.allows("c", Some("alice"), "secret/#", Access::Subscribe));
    }

    #[test]
    fn subscriptions_match_the_filter_as_written() {
        let acl = acl();
        assert!(acl.allows("c", Some("bob"), "sensors/+/temp", Access::Subscribe));
        assert!(acl.allows("c", Some("bob"), "sensors/k/temp", Access::Subscribe));
        assert!(!acl.allows("c", Some("bob"), "sensors/#", Access::Subscribe));
        assert!(!acl.allows("c", Some("bob"), "sensors/k/temp", Access::Write));
    }

    #[test]
    fn patterns_substitute_client_id_and_user_for_everyone() {
        let acl = acl();
        assert!(acl.allows("dev1", None, "clients/dev1/x", Access::Write));
        assert!(acl.allows("dev1", Some("alice"), "clients/dev1/x", Access::Read));
        assert!(!acl.allows("dev1", None, "clients/dev2/x", Access::Write));
        assert!(acl.allows("d", Some("bob"), "users/bob/status", Access::Write));
        assert!(!acl.allows("d", Some("bob"), "users/alice/status", Access::Write));
        // No user name: a %u pattern grants nothing.
        assert!(!acl.allows("d", None, "users//status", Access::Write));
        // A wildcard in the client id does not widen the pattern.
        assert!(!acl.allows("+", None, "clients/x/y", Access::Write));
    }

    #[test]
    fn the_readme_example_parses() {
        let readme = include_str!("../README.md");
        let start = readme.find("```text\n  # anonymous clients").unwrap() + 8;
        let end = start + readme[start..].find("```").unwrap();
        let acl = AclFile::parse(&readme[start..end]).unwrap();
        assert!(acl.allows("c", None, "public/x", Access::Read));
        assert!(!acl.allows("c", Some("alice"), "secret/x", Access::Read));
        assert!(acl.allows("dev", Some("alice"), "clients/dev/status", Access::Write));
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(
            AclFile::parse("topic read a\nallow b\n").unwrap_err(),
            "line 2: unknown ACL keyword \"allow\" (expected user, topic or pattern)"
        );
        assert_eq!(
            AclFile::parse("\n\ntopic read\n").unwrap_err(),
            "line 3: topic needs a topic"
        );
        let err = AclFile::parse("topic a/#/b\n").unwrap_err();
        assert!(
            err.starts_with("line 1: topic \"a/#/b\" is not a valid"),
            "{err}"
        );
        assert_eq!(
            AclFile::parse("user\n").unwrap_err(),
            "line 1: user needs a user name"
        );
    }
}
