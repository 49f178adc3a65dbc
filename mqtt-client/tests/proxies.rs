//! Proxies and the connector hook, against real proxy servers from Debian started by the
//! tests on free loopback ports (`microsocks` for SOCKS5, with and without a user name and
//! password; `tinyproxy` for HTTP CONNECT with Basic authentication), with the reference
//! broker behind them on TCP, TLS, WebSocket and secure WebSocket. Refusals (credentials,
//! an unreachable broker, a dead proxy) are typed errors; a proxy that dies mid-session is
//! survived by reconnection once it is back.
//!
//! When `microsocks` or `tinyproxy` cannot be found these tests print a notice and pass;
//! with `MQTT_INTEROP=require` (CI) they fail instead.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mqtt_client::{
    BoxStream, Client, ConnectError, ConnectionStatus, Endpoint, Options, Proxy, ProxyError,
    ProxyKind, QoS, TlsOptions,
};
use mqtt_testkit::Broker;
use mqtt_testkit::certs::TestCa;

mod common;

use common::within_limit as within;

/// The binary, if installed; panics if it is not and `MQTT_INTEROP=require`.
#[allow(clippy::print_stderr)] // the skip notice is for whoever runs `cargo test`
fn binary(name: &str, test: &str) -> Option<PathBuf> {
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return Some(p);
        }
    }
    if std::env::var("MQTT_INTEROP").as_deref() == Ok("require") {
        panic!("MQTT_INTEROP=require, but {name} is not installed (apt-get install {name})");
    }
    eprintln!("skipping {test}: {name} is not installed (apt-get install {name})");
    None
}

/// A free loopback port: bound to port 0, read, released (the proxy binds it next).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A proxy process, killed (and reaped) on drop.
struct ProxyProcess {
    child: Child,
    binary: PathBuf,
    args: Vec<String>,
    port: u16,
    log: PathBuf,
    dir: PathBuf,
}

impl ProxyProcess {
    /// microsocks on a free port, with a user name and password if given.
    fn microsocks(test: &str, auth: Option<(&str, &str)>) -> Option<Self> {
        let binary = binary("microsocks", test)?;
        let port = free_port();
        let mut args = vec![
            "-i".to_string(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
        ];
        if let Some((u, p)) = auth {
            args.extend(["-u".to_string(), u.into(), "-P".into(), p.into()]);
        }
        Some(Self::start(binary, args, port, None))
    }

    /// tinyproxy in the foreground on a free port, any CONNECT port allowed, with Basic
    /// authentication if given.
    fn tinyproxy(test: &str, auth: Option<(&str, &str)>) -> Option<Self> {
        let binary = binary("tinyproxy", test)?;
        let port = free_port();
        let mut conf = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nAllow 127.0.0.1\nMaxClients 50\n\
             LogLevel Info\n"
        );
        if let Some((u, p)) = auth {
            conf.push_str(&format!("BasicAuth {u} {p}\n"));
        }
        let args = vec!["-d".to_string(), "-c".into()];
        Some(Self::start(binary, args, port, Some(conf)))
    }

    fn start(binary: PathBuf, mut args: Vec<String>, port: u16, conf: Option<String>) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mqtt-client-proxy-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if let Some(conf) = conf {
            let path = dir.join("proxy.conf");
            std::fs::write(&path, conf).unwrap();
            args.push(path.display().to_string());
        }
        let log = dir.join("proxy.log");
        let child = spawn(&binary, &args, &log);
        let mut p = Self {
            child,
            binary,
            args,
            port,
            log,
            dir,
        };
        p.wait_ready();
        p
    }

    /// Poll-connect the port (at most 5 s); fail with the proxy's log if it never opens.
    fn wait_ready(&mut self) {
        let mut tries = 0;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "{} exited ({status}):\n{}",
                    self.binary.display(),
                    self.log()
                );
            }
            tries += 1;
            assert!(tries < 100, "the proxy does not listen:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Start the same proxy again on the same port.
    fn restart(&mut self) {
        self.kill();
        self.child = spawn(&self.binary, &self.args, &self.log);
        self.wait_ready();
    }

    fn proxy(&self, kind: ProxyKind) -> Proxy {
        Proxy::new(kind, "127.0.0.1", self.port)
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spawn(binary: &Path, args: &[String], log: &Path) -> Child {
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// The reference broker on TCP, TLS, ws and wss, with a certificate for 127.0.0.1 and
/// localhost.
struct Brokers {
    broker: Broker,
    ca: TestCa,
}

impl Brokers {
    async fn start() -> Self {
        let ca = TestCa::new("proxy tests");
        let server = ca.server_cert(&["127.0.0.1", "localhost"]);
        let broker = Broker::builder()
            .tls(server.tls_config())
            .websocket()
            .websocket_tls(server.tls_config())
            .start()
            .await
            .unwrap();
        Self { broker, ca }
    }

    /// One URL per transport, with `host` as the broker's name.
    fn urls(&self, host: &str) -> Vec<String> {
        let b = &self.broker;
        vec![
            format!("mqtt://{host}:{}", b.local_addr().port()),
            format!("mqtts://{host}:{}", b.tls_addr().unwrap().port()),
            format!("ws://{host}:{}/mqtt", b.ws_addr().unwrap().port()),
            format!("wss://{host}:{}/mqtt", b.wss_addr().unwrap().port()),
        ]
    }

    fn opts(&self, url: &str) -> Options {
        Options::from_url(url)
            .unwrap()
            .with_tls(TlsOptions::default().with_ca_pem(self.ca.cert_pem()))
    }
}

/// Connect, subscribe, publish QoS 1 to ourselves, receive it, disconnect.
async fn round_trip(opts: Options) {
    let what = format!("{:?} via {:?}", opts.endpoint, opts.proxy);
    let (client, _all) = Client::connect(opts)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let mut sub = client.subscribe("proxy/t", QoS::AtLeastOnce).await.unwrap();
    client
        .publish("proxy/t", QoS::AtLeastOnce, false, "tunnelled")
        .await
        .unwrap()
        .await
        .unwrap();
    let m = sub.recv().await.unwrap();
    assert_eq!(m.payload().as_ref(), b"tunnelled", "{what}");
    client.disconnect(Duration::from_secs(1)).await.unwrap();
}

fn proxy_error(r: Result<(Client, mqtt_client::Messages), ConnectError>) -> ProxyError {
    match r {
        Err(ConnectError::Proxy { source, .. }) => source,
        Err(other) => panic!("expected ConnectError::Proxy, got {other:?}"),
        Ok(_) => panic!("expected ConnectError::Proxy, got a connection"),
    }
}

#[tokio::test]
async fn socks5_carries_every_transport() {
    let Some(open) = ProxyProcess::microsocks("socks5_carries_every_transport", None) else {
        return;
    };
    let Some(auth) = ProxyProcess::microsocks("socks5", Some(("alice", "s3cret"))) else {
        return;
    };
    let b = Brokers::start().await;
    within(async {
        // socks5h: the proxy resolves "localhost"; socks5: we resolve it, it gets 127.0.0.1.
        for kind in [ProxyKind::Socks5h, ProxyKind::Socks5] {
            for url in b.urls("localhost") {
                round_trip(b.opts(&url).with_proxy(open.proxy(kind))).await;
                round_trip(
                    b.opts(&url)
                        .with_proxy(auth.proxy(kind).with_credentials("alice", "s3cret")),
                )
                .await;
            }
        }
        // An address as the broker's host goes to the proxy as an address.
        for url in b.urls("127.0.0.1") {
            round_trip(b.opts(&url).with_proxy(open.proxy(ProxyKind::Socks5h))).await;
        }
    })
    .await;
    b.broker.shutdown().await;
}

#[tokio::test]
async fn http_connect_carries_every_transport() {
    let Some(tp) = ProxyProcess::tinyproxy("http_connect_carries_every_transport", None) else {
        return;
    };
    let Some(auth) = ProxyProcess::tinyproxy("http_connect", Some(("alice", "s3cret"))) else {
        return;
    };
    let b = Brokers::start().await;
    within(async {
        for url in b.urls("localhost") {
            round_trip(b.opts(&url).with_proxy(tp.proxy(ProxyKind::HttpConnect))).await;
            let p =
                Proxy::from_url(&format!("http://alice:s3cret@127.0.0.1:{}", auth.port)).unwrap();
            round_trip(b.opts(&url).with_proxy(p)).await;
        }
    })
    .await;
    b.broker.shutdown().await;
}

#[tokio::test]
async fn socks5_refusals_are_typed() {
    let Some(auth) = ProxyProcess::microsocks("socks5_refusals_are_typed", Some(("alice", "pw")))
    else {
        return;
    };
    let Some(open) = ProxyProcess::microsocks("socks5_refusals_are_typed", None) else {
        return;
    };
    let b = Brokers::start().await;
    let url = b.urls("127.0.0.1").remove(0);
    within(async {
        // No credentials for a proxy that wants them.
        let e = proxy_error(
            Client::connect(b.opts(&url).with_proxy(auth.proxy(ProxyKind::Socks5h))).await,
        );
        assert!(matches!(e, ProxyError::AuthenticationRequired), "{e:?}");
        // Wrong password.
        let e = proxy_error(
            Client::connect(
                b.opts(&url).with_proxy(
                    auth.proxy(ProxyKind::Socks5h)
                        .with_credentials("alice", "no"),
                ),
            )
            .await,
        );
        assert!(matches!(e, ProxyError::AuthenticationFailed), "{e:?}");
        // The proxy cannot reach the broker: SOCKS5 reply 5, connection refused.
        let dead = format!("mqtt://127.0.0.1:{}", free_port());
        let e = proxy_error(
            Client::connect(b.opts(&dead).with_proxy(open.proxy(ProxyKind::Socks5h))).await,
        );
        assert!(matches!(e, ProxyError::Socks5 { reply: 5 }), "{e:?}");
        // A name the proxy cannot resolve: a general failure.
        let e = proxy_error(
            Client::connect(
                b.opts("mqtt://no-such-host.invalid:1883")
                    .with_proxy(open.proxy(ProxyKind::Socks5h)),
            )
            .await,
        );
        assert!(matches!(e, ProxyError::Socks5 { reply: 1 }), "{e:?}");
        // No proxy there at all: the I/O error, with its kind, as the source.
        let nobody = Proxy::new(ProxyKind::Socks5h, "127.0.0.1", free_port());
        let err = Client::connect(b.opts(&url).with_proxy(nobody))
            .await
            .unwrap_err();
        assert_eq!(
            err.io_kind(),
            Some(std::io::ErrorKind::ConnectionRefused),
            "{err:?}"
        );
        let source = std::error::Error::source(&err).expect("a source");
        let proxy_source = source.downcast_ref::<ProxyError>().expect("a ProxyError");
        let io = std::error::Error::source(proxy_source)
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .expect("the io::Error");
        assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
        // The message names the proxy but never its password.
        let shown = ConnectError::to_string(
            &Client::connect(
                b.opts(&url).with_proxy(
                    auth.proxy(ProxyKind::Socks5h)
                        .with_credentials("alice", "zzz"),
                ),
            )
            .await
            .unwrap_err(),
        );
        assert!(shown.contains(&format!("socks5h://alice@127.0.0.1:{}", auth.port)));
        assert!(!shown.contains("zzz"), "{shown}");
    })
    .await;
    b.broker.shutdown().await;
}

#[tokio::test]
async fn http_connect_refusals_are_typed() {
    let Some(auth) = ProxyProcess::tinyproxy("http_connect_refusals", Some(("alice", "pw"))) else {
        return;
    };
    let b = Brokers::start().await;
    let url = b.urls("127.0.0.1").remove(0);
    let p = || auth.proxy(ProxyKind::HttpConnect);
    within(async {
        let e = proxy_error(Client::connect(b.opts(&url).with_proxy(p())).await);
        assert!(matches!(e, ProxyError::AuthenticationRequired), "{e:?}");
        let e = proxy_error(
            Client::connect(
                b.opts(&url)
                    .with_proxy(p().with_credentials("alice", "wrong")),
            )
            .await,
        );
        assert!(matches!(e, ProxyError::AuthenticationFailed), "{e:?}");
        // tinyproxy answers 500 when it cannot connect to the broker.
        let dead = format!("mqtt://127.0.0.1:{}", free_port());
        let e = proxy_error(
            Client::connect(
                b.opts(&dead)
                    .with_proxy(p().with_credentials("alice", "pw")),
            )
            .await,
        );
        assert!(matches!(e, ProxyError::Http { status: 500, .. }), "{e:?}");
    })
    .await;
    b.broker.shutdown().await;
}

#[tokio::test]
async fn a_proxy_that_dies_mid_session_is_survived() {
    let Some(mut socks) = ProxyProcess::microsocks("a_proxy_that_dies_mid_session", None) else {
        return;
    };
    let b = Brokers::start().await;
    let url = b.urls("127.0.0.1").remove(0);
    within(async {
        let opts = b
            .opts(&url)
            .with_client_id("through-socks")
            .with_reconnect(common::fast_reconnect())
            .with_proxy(socks.proxy(ProxyKind::Socks5h));
        let (client, _all) = Client::connect(opts).await.unwrap();
        let mut sub = client.subscribe("proxy/t", QoS::AtLeastOnce).await.unwrap();
        // The proxy dies: the tunnel, and every attempt through the dead proxy, fail.
        socks.kill();
        let s = common::status(&client, "reconnecting through a dead proxy", |s| {
            matches!(
                s,
                ConnectionStatus::Reconnecting {
                    last_error: ConnectError::Proxy { .. },
                    ..
                }
            )
        })
        .await;
        let ConnectionStatus::Reconnecting { last_error, .. } = s else {
            unreachable!()
        };
        assert_eq!(
            last_error.io_kind(),
            Some(std::io::ErrorKind::ConnectionRefused)
        );
        // Back on the same port: the client reconnects and carries messages again.
        socks.restart();
        common::status(&client, "reconnected", ConnectionStatus::is_connected).await;
        client
            .publish("proxy/t", QoS::AtLeastOnce, false, "after")
            .await
            .unwrap()
            .await
            .unwrap();
        assert_eq!(sub.recv().await.unwrap().payload().as_ref(), b"after");
        client.disconnect(Duration::from_secs(1)).await.unwrap();
    })
    .await;
    b.broker.shutdown().await;
}

#[tokio::test]
async fn a_connector_brings_its_own_transport() {
    let b = Brokers::start().await;
    let tcp = b.broker.local_addr();
    let tls = b.broker.tls_addr().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    within(async {
        // The endpoint names a host that does not resolve; the connector knows where the
        // broker is. TLS still runs over the connector's stream and verifies "localhost".
        for (url, addr) in [
            ("mqtt://broker.invalid:1883", tcp),
            ("mqtts://localhost:1", tls),
        ] {
            let seen = calls.clone();
            let opts = b.opts(url).with_connector(move |e: &Endpoint| {
                assert!(matches!(e, Endpoint::Tcp { .. } | Endpoint::Tls { .. }));
                seen.fetch_add(1, Ordering::Relaxed);
                async move {
                    let s = tokio::net::TcpStream::connect(addr).await?;
                    Ok(Box::new(s) as BoxStream)
                }
            });
            round_trip(opts).await;
        }
        assert_eq!(calls.load(Ordering::Relaxed), 2);
        // A connector's error is the source of Unreachable, kind and all.
        let opts = b.opts("mqtt://broker.invalid:1883").with_connector(|_: &Endpoint| async {
            Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "the tunnel said no",
            ))
        });
        let err = Client::connect(opts).await.unwrap_err();
        assert!(
            matches!(&err, ConnectError::Unreachable { source, .. } if source.to_string() == "the tunnel said no"),
            "{err:?}"
        );
        assert_eq!(err.io_kind(), Some(std::io::ErrorKind::PermissionDenied));
        let io = std::error::Error::source(&err)
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .unwrap();
        assert_eq!(io.kind(), std::io::ErrorKind::PermissionDenied);
        // A proxy and a connector together: refused, not one silently ignored.
        let opts = b
            .opts("mqtt://broker.invalid:1883")
            .with_proxy(Proxy::new(ProxyKind::Socks5h, "127.0.0.1", 1))
            .with_connector(|_: &Endpoint| async {
                Err(std::io::Error::other("not called"))
            });
        let err = Client::connect(opts).await.unwrap_err();
        assert!(matches!(err, ConnectError::InvalidOptions(_)), "{err:?}");
    })
    .await;
    b.broker.shutdown().await;
}
