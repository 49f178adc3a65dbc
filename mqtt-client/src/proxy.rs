//! Proxies between the client and the broker: SOCKS5 (RFC 1928, with RFC 1929 user name
//! and password) and HTTP CONNECT (RFC 9110 section 9.3.6, with Basic authentication).
//!
//! Both are written here rather than taken from a crate. Each is one request and one
//! reply on a fresh TCP connection, before any MQTT, TLS or WebSocket byte: a few dozen
//! lines. The SOCKS5 crate that would fit (`tokio-socks`) brings a second major version of
//! `thiserror` and `either` into the build, and refuses an empty password, which
//! mosquitto's `--proxy socks5h://user@host` sends; HTTP client crates are far larger
//! than a CONNECT request. Written here, every refusal is a [`ProxyError`] of our own with
//! the proxy's code in it.
//!
//! Replies are read exactly (SOCKS5 replies have a known length; an HTTP reply is read
//! byte by byte up to its blank line, at most 16 KiB), so no byte of the broker's is read
//! into a buffer and lost.

use std::fmt;
use std::net::IpAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::endpoint::Endpoint;
use crate::error::{ConnectError, ProxyError};

/// A proxy to reach the broker through (see [`Options::proxy`](crate::Options::proxy)).
///
/// ```
/// use mqtt_client::{Proxy, ProxyKind};
///
/// let p = Proxy::from_url("socks5h://alice:s3cret@proxy.example:1080").unwrap();
/// assert_eq!(p.kind, ProxyKind::Socks5h);
/// assert_eq!(p.username.as_deref(), Some("alice"));
/// // The password is never shown.
/// assert_eq!(p.to_string(), "socks5h://alice@proxy.example:1080");
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Proxy {
    /// The protocol spoken to the proxy.
    pub kind: ProxyKind,
    /// The proxy's host name or address.
    pub host: String,
    /// The proxy's port.
    pub port: u16,
    /// User name (SOCKS5 username/password authentication, HTTP Basic authentication).
    pub username: Option<String>,
    /// Password (used only with a user name; none is sent as an empty one).
    pub password: Option<String>,
}

/// The protocol spoken to a [`Proxy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyKind {
    /// `socks5://`: SOCKS5; the client resolves the broker's host name and sends the
    /// proxy an address.
    Socks5,
    /// `socks5h://`: SOCKS5; the proxy resolves the broker's host name (what mosquitto's
    /// `--proxy` does, and what a network where only the proxy can resolve names needs).
    Socks5h,
    /// `http://`: an HTTP proxy's CONNECT method (the proxy resolves the name).
    HttpConnect,
}

impl ProxyKind {
    fn scheme(self) -> &'static str {
        match self {
            Self::Socks5 => "socks5",
            Self::Socks5h => "socks5h",
            Self::HttpConnect => "http",
        }
    }
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.kind.scheme())?;
        if let Some(u) = &self.username {
            write!(f, "{u}@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

impl Proxy {
    /// A proxy of this kind, without credentials.
    pub fn new(kind: ProxyKind, host: impl Into<String>, port: u16) -> Self {
        Self {
            kind,
            host: host.into(),
            port,
            username: None,
            password: None,
        }
    }

    /// Authenticate with this user name and password.
    pub fn with_credentials(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.username = Some(username.into());
        self.password = Some(password.into());
        self
    }

    /// A proxy from a URL: `socks5://`, `socks5h://` (default port 1080) or `http://`
    /// (HTTP CONNECT, default port 80), with an optional percent-encoded
    /// `user:password@`. `https://` (TLS to the proxy itself) is not supported.
    pub fn from_url(url: &str) -> Result<Self, ConnectError> {
        let bad = |why: &str| ConnectError::InvalidUrl(format!("proxy {why}: {url:?}"));
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("URL without a scheme (socks5h://, socks5://, http://)"))?;
        let (kind, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "socks5" => (ProxyKind::Socks5, 1080),
            "socks5h" => (ProxyKind::Socks5h, 1080),
            "http" => (ProxyKind::HttpConnect, 80),
            _ => return Err(bad("scheme not supported (socks5h://, socks5://, http://)")),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err(bad("URL with a path"));
        }
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (host, port) = split_host_port(hostport).ok_or_else(|| bad("address not valid"))?;
        let mut proxy = Self::new(kind, host, port.unwrap_or(default_port));
        if let Some(u) = userinfo {
            let (user, pass) = match u.split_once(':') {
                Some((user, pass)) => (user, Some(pass)),
                None => (u, None),
            };
            let decode = |s: &str| decode(s).ok_or_else(|| bad("bad percent-encoding"));
            proxy.username = Some(decode(user)?);
            proxy.password = pass.map(decode).transpose()?;
        }
        Ok(proxy)
    }

    /// The proxy the environment names for this endpoint, as curl reads it:
    /// `<scheme>_proxy` (`mqtt_proxy`, `mqtts_proxy`, `http_proxy` for `ws://`,
    /// `https_proxy` for `wss://`; each also in upper case, except `HTTP_PROXY`, which a
    /// CGI request can set), then `all_proxy` / `ALL_PROXY`; none when `no_proxy` /
    /// `NO_PROXY` names the broker's host (see [`no_proxy_matches`]) or the endpoint is a
    /// unix socket. An empty variable counts as unset.
    ///
    /// Nothing reads the environment unless asked:
    /// [`Options::with_proxy_from_env`](crate::Options::with_proxy_from_env) calls this.
    pub fn from_env(endpoint: &Endpoint) -> Result<Option<Self>, ConnectError> {
        Self::from_env_with(endpoint, |name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with the variables looked up by `var` (for tests, and
    /// for programs that keep their settings elsewhere).
    pub fn from_env_with(
        endpoint: &Endpoint,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ConnectError> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let (host, names): (&str, &[&str]) = match endpoint {
            Endpoint::Tcp { host, .. } => (host, &["mqtt_proxy", "MQTT_PROXY"]),
            Endpoint::Tls { host, .. } => (host, &["mqtts_proxy", "MQTTS_PROXY"]),
            Endpoint::WebSocket { host, .. } => (host, &["http_proxy"]),
            Endpoint::SecureWebSocket { host, .. } => (host, &["https_proxy", "HTTPS_PROXY"]),
            Endpoint::Unix { .. } => return Ok(None),
        };
        if let Some(list) = get("no_proxy").or_else(|| get("NO_PROXY"))
            && no_proxy_matches(&list, host)
        {
            return Ok(None);
        }
        let url = names
            .iter()
            .chain(&["all_proxy", "ALL_PROXY"])
            .find_map(|n| get(n));
        url.map(|u| Self::from_url(u.trim())).transpose()
    }
}

/// Whether a `no_proxy` list (comma- or space-separated) names `host`: `*` names every
/// host; a name names itself and its subdomains (`example.com` and `.example.com` both
/// name `a.example.com`); an address names itself, and `addr/bits` a network of them.
/// Case does not matter; a `:port` after an entry is ignored.
pub fn no_proxy_matches(list: &str, host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let host_ip: Option<IpAddr> = host.parse().ok();
    list.split([',', ' ', '\t'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let entry = entry.to_ascii_lowercase();
            if let Some(ip) = host_ip {
                return match entry.split_once('/') {
                    Some((net, bits)) => cidr_contains(net, bits, ip),
                    None => {
                        let e = entry.trim_start_matches('[');
                        let e = e.split_once(']').map_or(e, |(a, _)| a);
                        e.parse::<IpAddr>().is_ok_and(|a| a == ip)
                            || strip_port(e).parse::<IpAddr>().is_ok_and(|a| a == ip)
                    }
                };
            }
            let name = strip_port(&entry);
            let name = name.strip_prefix('.').unwrap_or(name);
            host == name || host.ends_with(&format!(".{name}"))
        })
}

fn strip_port(entry: &str) -> &str {
    match entry.rsplit_once(':') {
        // One colon: a port; more: an IPv6 address.
        Some((h, p)) if !h.contains(':') && p.parse::<u16>().is_ok() => h,
        _ => entry,
    }
}

fn cidr_contains(net: &str, bits: &str, ip: IpAddr) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(h) = s.strip_prefix('[') {
        let (h, after) = h.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (h, port)
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p != 0)?),
        None => None,
    };
    Some((host.to_string(), port))
}

fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Ask the proxy, over `stream` (a connection to it), for a tunnel to `host:port`.
/// `host` is sent as given (a name the proxy resolves, or an address).
pub(crate) async fn handshake<S>(
    proxy: &Proxy,
    stream: &mut S,
    host: &str,
    port: u16,
) -> Result<(), ProxyError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match proxy.kind {
        ProxyKind::Socks5 | ProxyKind::Socks5h => socks5(proxy, stream, host, port).await,
        ProxyKind::HttpConnect => http_connect(proxy, stream, host, port).await,
    }
}

/// A reply that ends before its length: the proxy closed the connection.
fn eof(e: std::io::Error) -> ProxyError {
    ProxyError::io(e)
}

async fn socks5<S>(proxy: &Proxy, s: &mut S, host: &str, port: u16) -> Result<(), ProxyError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    const NO_AUTH: u8 = 0x00;
    const USER_PASS: u8 = 0x02;
    // Greeting: version 5, the methods we offer.
    let greeting: &[u8] = if proxy.username.is_some() {
        &[5, 2, NO_AUTH, USER_PASS]
    } else {
        &[5, 1, NO_AUTH]
    };
    s.write_all(greeting).await.map_err(ProxyError::io)?;
    s.flush().await.map_err(ProxyError::io)?;
    let mut choice = [0u8; 2];
    s.read_exact(&mut choice).await.map_err(eof)?;
    if choice[0] != 5 {
        return Err(ProxyError::Protocol(format!(
            "not a SOCKS5 proxy (version {} in its answer)",
            choice[0]
        )));
    }
    match choice[1] {
        NO_AUTH => {}
        USER_PASS if proxy.username.is_some() => {
            // RFC 1929: version 1, user name, password (each 0..=255 bytes).
            let user = proxy.username.as_deref().unwrap_or("").as_bytes();
            let pass = proxy.password.as_deref().unwrap_or("").as_bytes();
            let (Ok(ulen), Ok(plen)) = (u8::try_from(user.len()), u8::try_from(pass.len())) else {
                return Err(ProxyError::Protocol(
                    "a SOCKS5 user name and password have at most 255 bytes each".into(),
                ));
            };
            let mut req = Vec::with_capacity(3 + user.len() + pass.len());
            req.extend_from_slice(&[1, ulen]);
            req.extend_from_slice(user);
            req.push(plen);
            req.extend_from_slice(pass);
            s.write_all(&req).await.map_err(ProxyError::io)?;
            s.flush().await.map_err(ProxyError::io)?;
            let mut status = [0u8; 2];
            s.read_exact(&mut status).await.map_err(eof)?;
            if status[1] != 0 {
                return Err(ProxyError::AuthenticationFailed);
            }
        }
        0xFF => return Err(ProxyError::AuthenticationRequired),
        other => {
            return Err(ProxyError::Protocol(format!(
                "the SOCKS5 proxy chose authentication method {other:#04x}, which was not offered"
            )));
        }
    }
    // CONNECT request: version, command 1, reserved, address, port.
    let mut req = vec![5, 1, 0];
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => {
            req.push(1);
            req.extend_from_slice(&a.octets());
        }
        Ok(IpAddr::V6(a)) => {
            req.push(4);
            req.extend_from_slice(&a.octets());
        }
        Err(_) => {
            let len = u8::try_from(host.len()).map_err(|_| {
                ProxyError::Protocol("a host name longer than 255 bytes cannot go to SOCKS5".into())
            })?;
            req.push(3);
            req.push(len);
            req.extend_from_slice(host.as_bytes());
        }
    }
    req.extend_from_slice(&port.to_be_bytes());
    s.write_all(&req).await.map_err(ProxyError::io)?;
    s.flush().await.map_err(ProxyError::io)?;
    // Reply: version, reply code, reserved, bound address (read and dropped), port.
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await.map_err(eof)?;
    if head[0] != 5 {
        return Err(ProxyError::Protocol(format!(
            "not a SOCKS5 reply (version {})",
            head[0]
        )));
    }
    if head[1] != 0 {
        return Err(ProxyError::Socks5 { reply: head[1] });
    }
    let addr_len = match head[3] {
        1 => 4,
        4 => 16,
        3 => {
            let mut n = [0u8; 1];
            s.read_exact(&mut n).await.map_err(eof)?;
            usize::from(n[0])
        }
        other => {
            return Err(ProxyError::Protocol(format!(
                "unknown address type {other} in the SOCKS5 reply"
            )));
        }
    };
    let mut rest = vec![0u8; addr_len + 2];
    s.read_exact(&mut rest).await.map_err(eof)?;
    Ok(())
}

/// The largest HTTP reply head accepted from a proxy.
const HTTP_HEAD_MAX: usize = 16 * 1024;

async fn http_connect<S>(proxy: &Proxy, s: &mut S, host: &str, port: u16) -> Result<(), ProxyError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut req = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(user) = &proxy.username {
        let pass = proxy.password.as_deref().unwrap_or("");
        req.push_str("Proxy-Authorization: Basic ");
        req.push_str(&base64(format!("{user}:{pass}").as_bytes()));
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.map_err(ProxyError::io)?;
    s.flush().await.map_err(ProxyError::io)?;
    // The head, byte by byte up to CRLF CRLF: the tunnel's first byte is the broker's.
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= HTTP_HEAD_MAX {
            return Err(ProxyError::Protocol(format!(
                "the proxy's reply head is longer than {HTTP_HEAD_MAX} bytes"
            )));
        }
        s.read_exact(&mut byte).await.map_err(eof)?;
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let status_line = head.lines().next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let status = parts.next().and_then(|c| c.parse::<u16>().ok());
    let reason = parts.next().unwrap_or("").trim().to_string();
    let Some(status) = status.filter(|_| version.starts_with("HTTP/1.")) else {
        return Err(ProxyError::Protocol(format!(
            "not an HTTP reply: {status_line:?}"
        )));
    };
    match status {
        200..=299 => Ok(()),
        // 407 is the standard refusal; tinyproxy answers wrong credentials with 401.
        401 | 407 if proxy.username.is_some() => Err(ProxyError::AuthenticationFailed),
        407 => Err(ProxyError::AuthenticationRequired),
        _ => Err(ProxyError::Http { status, reason }),
    }
}

/// Standard base64 with padding (RFC 4648 section 4), for the Basic credentials.
fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(T[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o, "{i:?}");
        }
    }

    #[test]
    fn urls() {
        let p = Proxy::from_url("socks5h://u%40x:p%3Aw@[::1]:9050").unwrap();
        assert_eq!(p.kind, ProxyKind::Socks5h);
        assert_eq!(p.host, "::1");
        assert_eq!(p.port, 9050);
        assert_eq!(p.username.as_deref(), Some("u@x"));
        assert_eq!(p.password.as_deref(), Some("p:w"));
        assert_eq!(p.to_string(), "socks5h://u@x@[::1]:9050");
        assert!(!format!("{p:?}").contains("p:w"));
        let p = Proxy::from_url("http://proxy/").unwrap();
        assert_eq!((p.kind, p.port), (ProxyKind::HttpConnect, 80));
        let p = Proxy::from_url("SOCKS5://h").unwrap();
        assert_eq!((p.kind, p.port), (ProxyKind::Socks5, 1080));
        for bad in [
            "h:1080",
            "https://h",
            "socks4://h",
            "socks5h://",
            "socks5h://h:0",
            "socks5h://h:x",
            "socks5h://h/path",
            "socks5h://u%zz@h",
        ] {
            assert!(
                matches!(Proxy::from_url(bad), Err(ConnectError::InvalidUrl(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn no_proxy_lists() {
        let l = "localhost, .internal.example,10.0.0.0/8 ::1,[fd00::1]:8080,broker.lan:1883";
        for (host, yes) in [
            ("localhost", true),
            ("LOCALHOST", true),
            ("a.internal.example", true),
            ("internal.example", true),
            ("xinternal.example", false),
            ("10.1.2.3", true),
            ("11.1.2.3", false),
            ("::1", true),
            ("fd00::1", true),
            ("broker.lan", true),
            ("example.com", false),
        ] {
            assert_eq!(no_proxy_matches(l, host), yes, "{host}");
        }
        assert!(no_proxy_matches("*", "anything"));
        assert!(!no_proxy_matches("", "anything"));
    }

    #[test]
    fn environment_by_scheme() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |n: &str| {
                vars.iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| v.to_string())
            }
        };
        let tcp = Endpoint::Tcp {
            host: "broker".into(),
            port: 1883,
        };
        let wss = Endpoint::SecureWebSocket {
            host: "broker".into(),
            port: 443,
            path: "/mqtt".into(),
        };
        let ws = Endpoint::WebSocket {
            host: "broker".into(),
            port: 80,
            path: "/mqtt".into(),
        };
        let vars: &[(&str, &str)] = &[
            ("ALL_PROXY", "socks5h://all:1080"),
            ("https_proxy", "http://web:3128"),
            ("HTTP_PROXY", "http://cgi-set:1"),
        ];
        let p = Proxy::from_env_with(&tcp, env(vars)).unwrap().unwrap();
        assert_eq!(p.host, "all");
        let p = Proxy::from_env_with(&wss, env(vars)).unwrap().unwrap();
        assert_eq!((p.kind, p.host.as_str()), (ProxyKind::HttpConnect, "web"));
        // HTTP_PROXY (upper case) is not read: a CGI request's Proxy header sets it.
        let p = Proxy::from_env_with(&ws, env(vars)).unwrap().unwrap();
        assert_eq!(p.host, "all");
        let vars: &[(&str, &str)] = &[("all_proxy", "socks5h://all"), ("NO_PROXY", "broker")];
        assert_eq!(Proxy::from_env_with(&tcp, env(vars)).unwrap(), None);
        let vars: &[(&str, &str)] = &[("mqtt_proxy", ""), ("all_proxy", "bogus")];
        assert!(matches!(
            Proxy::from_env_with(&tcp, env(vars)),
            Err(ConnectError::InvalidUrl(_))
        ));
        let unix = Endpoint::Unix {
            path: "/tmp/s".into(),
        };
        let vars: &[(&str, &str)] = &[("all_proxy", "socks5h://all")];
        assert_eq!(Proxy::from_env_with(&unix, env(vars)).unwrap(), None);
    }
}
