//! `-L` / `--url` and `--proxy` URLs.
//!
//! `-L` takes `scheme://[username[:password]@]host[:port]/topic`, split the way mosquitto
//! splits it: the topic is everything after the **first** `/` (so it may contain `/`), the
//! credentials are split at the first `@` and then the first `:`, and the port after the
//! first `:` of what is left. There is no IPv6-literal support, as in mosquitto.
//!
//! Schemes: `mqtt://` (port 1883), `mqtts://` (8883, TLS with the OS trust store), and, as
//! an addition from mosquitto 2.1, `ws://` (1883, WebSocket) and `wss://` (8883, WebSocket
//! over TLS). The scheme is matched case-insensitively.

use crate::cnum::atoi;

/// The scheme of an `-L` URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `mqtt://`: plain TCP.
    Mqtt,
    /// `mqtts://`: TLS, verified against the operating system's trust store.
    Mqtts,
    /// `ws://`: MQTT over WebSocket (addition; mosquitto 2.0.11 rejects it).
    Ws,
    /// `wss://`: MQTT over WebSocket over TLS (addition).
    Wss,
}

impl Scheme {
    /// The port used when the URL gives none.
    pub const fn default_port(self) -> u16 {
        match self {
            Self::Mqtt | Self::Ws => 1883,
            Self::Mqtts | Self::Wss => 8883,
        }
    }

    /// Whether the scheme implies TLS.
    pub const fn is_tls(self) -> bool {
        matches!(self, Self::Mqtts | Self::Wss)
    }

    /// Whether the scheme implies WebSocket.
    pub const fn is_websocket(self) -> bool {
        matches!(self, Self::Ws | Self::Wss)
    }
}

/// A parsed `-L` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttUrl {
    /// The scheme.
    pub scheme: Scheme,
    /// The user name before `@`, if any.
    pub username: Option<String>,
    /// The password between the first `:` and the `@`, if any.
    pub password: Option<String>,
    /// The host (may be empty, as in mosquitto).
    pub host: String,
    /// The port after `host:`, with atoi semantics (`host:abc` is port 0), or `None`.
    pub port: Option<i64>,
    /// The topic: everything after the first `/`. Not validated here.
    pub topic: String,
}

/// Why an `-L` URL was rejected. `Display` gives mosquitto's message (without newlines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlError {
    /// Not one of the four schemes.
    UnsupportedScheme,
    /// No `/` after the authority.
    TopicMissing,
}

impl std::fmt::Display for UrlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::UnsupportedScheme => "Error: unsupported URL scheme.",
            Self::TopicMissing => "Error: Invalid URL for -L argument specified - topic missing.",
        })
    }
}

impl std::error::Error for UrlError {}

/// Parses an `-L` URL.
pub fn parse_url(url: &str) -> Result<MqttUrl, UrlError> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let (scheme, rest) = if lower.starts_with("mqtt://") {
        (Scheme::Mqtt, &url[7..])
    } else if lower.starts_with("mqtts://") {
        (Scheme::Mqtts, &url[8..])
    } else if lower.starts_with("ws://") {
        (Scheme::Ws, &url[5..])
    } else if lower.starts_with("wss://") {
        (Scheme::Wss, &url[6..])
    } else {
        return Err(UrlError::UnsupportedScheme);
    };
    let (authority, topic) = rest.split_once('/').ok_or(UrlError::TopicMissing)?;
    let (username, password, hostport) = match authority.split_once('@') {
        Some((cred, hostport)) => match cred.split_once(':') {
            Some((u, p)) => (Some(u.to_owned()), Some(p.to_owned()), hostport),
            None => (Some(cred.to_owned()), None, hostport),
        },
        None => (None, None, authority),
    };
    let (host, port) = match hostport.split_once(':') {
        Some((h, p)) => (h, Some(atoi(p.as_bytes()))),
        None => (hostport, None),
    };
    Ok(MqttUrl {
        scheme,
        username,
        password,
        host: host.to_owned(),
        port,
        topic: topic.to_owned(),
    })
}

/// A proxy from `--proxy socks5h://[user[:pass]@]host[:port]` (mosquitto's), or
/// `http://[user[:pass]@]host[:port]` (HTTP CONNECT, an addition: DIFFERENCES.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    /// `http://`: HTTP CONNECT (default port 80); else SOCKS5 with the name resolved by
    /// the proxy.
    pub http: bool,
    /// Proxy host.
    pub host: String,
    /// Proxy port (default 1080, 80 for `http://`).
    pub port: u16,
    /// User name, `%25 %3A %40` decoded.
    pub username: Option<String>,
    /// Password, decoded likewise.
    pub password: Option<String>,
}

/// Parses a `--proxy` URL. The error is mosquitto's message without the newline.
///
/// Deviation: `%40` decodes to `@` (2.0.11 decodes it to `:`, a bug).
pub fn parse_proxy(url: &str) -> Result<ProxyUrl, String> {
    let (http, rest, default_port) = if let Some(rest) = url.strip_prefix("socks5h://") {
        (false, rest, 1080)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (true, rest, 80)
    } else {
        return Err(format!("Error: Unsupported proxy protocol: {url}"));
    };
    let invalid = || "Error: Invalid proxy.".to_owned();
    let (auth, hostport) = match rest.rsplit_once('@') {
        Some((a, h)) => (Some(a), h),
        None => (None, rest),
    };
    let (username, password) = match auth {
        None => (None, None),
        Some(a) => {
            let (u, p) = match a.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (a, None),
            };
            if u.is_empty() || u.contains('@') {
                return Err(invalid());
            }
            let u = decode(u).ok_or_else(invalid)?;
            let p = match p {
                Some(p) => Some(decode(p).ok_or_else(invalid)?),
                None => None,
            };
            (Some(u), p)
        }
    };
    let (host, port) = match hostport.split_once(':') {
        Some((h, p)) => {
            let port = atoi(p.as_bytes());
            if !(1..=65535).contains(&port) {
                return Err(format!("Error: Invalid proxy port {port}"));
            }
            (h, u16::try_from(port).unwrap_or(default_port))
        }
        None => (hostport, default_port),
    };
    if host.is_empty() || host.contains(':') {
        return Err(invalid());
    }
    Ok(ProxyUrl {
        http,
        host: host.to_owned(),
        port,
        username,
        password,
    })
}

/// Decodes `%25`, `%3A`/`%3a` and `%40`; any other `%` sequence is an error.
fn decode(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 3)?;
        out.push(match code {
            "25" => '%',
            "3A" | "3a" => ':',
            "40" => '@',
            _ => return None,
        });
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn mqtt_url_with_everything() {
        let u = parse_url("mqtt://user:pa:ss@broker:1884/a/b").unwrap();
        assert_eq!(u.scheme, Scheme::Mqtt);
        assert_eq!(u.username.as_deref(), Some("user"));
        assert_eq!(u.password.as_deref(), Some("pa:ss"));
        assert_eq!(u.host, "broker");
        assert_eq!(u.port, Some(1884));
        assert_eq!(u.topic, "a/b");
    }

    #[test]
    fn schemes_and_defaults() {
        let u = parse_url("MQTTS://h/t").unwrap();
        assert_eq!(u.scheme, Scheme::Mqtts);
        assert!(u.scheme.is_tls());
        assert_eq!(u.scheme.default_port(), 8883);
        assert_eq!(u.port, None);
        assert_eq!(parse_url("ws://h/t").unwrap().scheme, Scheme::Ws);
        assert!(parse_url("wss://h/t").unwrap().scheme.is_websocket());
        let u = parse_url("mqtt://user@h:abc/").unwrap();
        assert_eq!(u.username.as_deref(), Some("user"));
        assert_eq!(u.password, None);
        assert_eq!(u.port, Some(0));
        assert_eq!(u.topic, "");
    }

    #[test]
    fn url_errors() {
        assert_eq!(parse_url("http://h/t"), Err(UrlError::UnsupportedScheme));
        assert_eq!(parse_url("mqtt://h"), Err(UrlError::TopicMissing));
        assert_eq!(
            UrlError::UnsupportedScheme.to_string(),
            "Error: unsupported URL scheme."
        );
        assert_eq!(
            UrlError::TopicMissing.to_string(),
            "Error: Invalid URL for -L argument specified - topic missing."
        );
    }

    #[test]
    fn proxy_urls() {
        let p = parse_proxy("socks5h://u%40x:p%3Aw@proxy:1081").unwrap();
        assert_eq!(p.username.as_deref(), Some("u@x"));
        assert_eq!(p.password.as_deref(), Some("p:w"));
        assert_eq!((p.host.as_str(), p.port), ("proxy", 1081));
        assert_eq!(parse_proxy("socks5h://proxy").unwrap().port, 1080);
        let p = parse_proxy("http://u:p@proxy").unwrap();
        assert!(p.http);
        assert_eq!((p.host.as_str(), p.port), ("proxy", 80));
        assert_eq!(p.username.as_deref(), Some("u"));
        assert_eq!(
            parse_proxy("https://proxy").unwrap_err(),
            "Error: Unsupported proxy protocol: https://proxy"
        );
        assert_eq!(
            parse_proxy("socks5h://proxy:99999").unwrap_err(),
            "Error: Invalid proxy port 99999"
        );
        assert_eq!(
            parse_proxy("socks5h://").unwrap_err(),
            "Error: Invalid proxy."
        );
    }
}
