//! Debian's mosquitto broker (2.0), one process per [`Mosquitto`], configured from a file in
//! a temporary directory.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::common::{PORT_RETRIES, TempDir, Unavailable, or_skip, ports_free_a_moment_ago};
use super::process::Process;
use crate::certs::TestCa;

/// The line mosquitto logs once every listener is open.
const RUNNING: &str = " running";
/// The line it logs when a port is taken (then it exits).
const IN_USE: &str = "Address already in use";

/// The mosquitto binary: `$MOSQUITTO` if set (then the only candidate), else
/// `/usr/sbin/mosquitto` or `mosquitto` on PATH.
pub fn binary() -> Result<PathBuf, Unavailable> {
    let candidates = [
        PathBuf::from("/usr/sbin/mosquitto"),
        PathBuf::from("mosquitto"),
    ];
    super::common::find_program("MOSQUITTO", &candidates, "-h").ok_or_else(|| {
        Unavailable::new(
            "the mosquitto broker is not installed (apt-get install mosquitto, or set MOSQUITTO \
             to its path)",
        )
    })
}

/// The listeners a [`Mosquitto`] can have besides its plain TCP one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Extra {
    /// MQTT over TLS (server certificate for 127.0.0.1 and localhost).
    Tls,
    /// MQTT over TLS, a client certificate from the CA required.
    ClientCertTls,
    /// MQTT over WebSocket.
    WebSocket,
    /// MQTT over secure WebSocket.
    SecureWebSocket,
}

/// What to start: [`Mosquitto::builder`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct MosquittoBuilder {
    lines: Vec<String>,
    extra: Vec<Extra>,
    unix: bool,
}

impl MosquittoBuilder {
    /// A configuration line (`allow_anonymous true`, `max_topic_alias 2`, `log_type all`,
    /// ...). Lines are written after the plain TCP listener (so per-listener options apply to
    /// it) and before any other listener. `$DIR` stands for the broker's directory. The log
    /// goes to stderr (do not set `log_dest`), and its start must be seen there: keep the
    /// notice and error levels if you choose `log_type`s.
    pub fn config_line(mut self, line: &str) -> Self {
        self.lines.push(line.to_owned());
        self
    }

    /// A TLS listener ([`Mosquitto::tls_port`]); the certificates come from
    /// [`Mosquitto::ca`] and are in its directory (`ca.pem`, `server.pem`, `server.key`).
    pub fn tls(mut self) -> Self {
        self.extra.push(Extra::Tls);
        self
    }

    /// A TLS listener requiring a client certificate issued by [`Mosquitto::ca`]
    /// ([`Mosquitto::client_cert_tls_port`]); one for the client `device-1` is in its
    /// directory (`client.pem`, `client.key`).
    pub fn client_cert_tls(mut self) -> Self {
        self.extra.push(Extra::ClientCertTls);
        self
    }

    /// A WebSocket listener ([`Mosquitto::ws_port`]).
    pub fn websocket(mut self) -> Self {
        self.extra.push(Extra::WebSocket);
        self
    }

    /// A secure WebSocket listener ([`Mosquitto::wss_port`]).
    pub fn secure_websocket(mut self) -> Self {
        self.extra.push(Extra::SecureWebSocket);
        self
    }

    /// A unix socket listener ([`Mosquitto::unix_path`]).
    pub fn unix_socket(mut self) -> Self {
        self.unix = true;
        self
    }

    /// Start mosquitto and return once every listener accepts connections; `Err` if
    /// mosquitto is not installed. Panics (with its log) if it is and does not start.
    pub fn start(self) -> Result<Mosquitto, Unavailable> {
        self.start_on(ports_free_a_moment_ago)
    }

    /// Start on the ports `ports(n)` gives, asked again after a port was taken.
    fn start_on(self, mut ports: impl FnMut(usize) -> Vec<u16>) -> Result<Mosquitto, Unavailable> {
        let binary = binary()?;
        let mut dir = TempDir::new("mosquitto");
        let mut ca = TestCa::new("mosquitto");
        let server = ca.server_cert(&["127.0.0.1", "localhost"]);
        let client = ca.client_cert("device-1");
        let files = [
            ("ca.pem", ca.cert_pem()),
            ("server.pem", server.chain_pem()),
            ("server.key", server.key_pem().to_owned()),
            ("client.pem", client.chain_pem()),
            ("client.key", client.key_pem().to_owned()),
        ];
        for (name, contents) in files {
            dir.write(name, contents);
        }
        let unix = self
            .unix
            .then(|| dir.shared_subdir("sock").join("mosquitto.sock"));
        for _ in 0..PORT_RETRIES {
            let ports = ports(1 + self.extra.len());
            let conf = dir.write("mosquitto.conf", self.config(&dir, &ports, unix.as_deref()));
            let mut m = Mosquitto {
                process: spawn(&binary, &conf),
                binary: binary.clone(),
                conf,
                ports,
                extra: self.extra.clone(),
                unix: unix.clone(),
                ca,
                dir,
            };
            if m.wait_running() {
                return Ok(m);
            }
            // A port was taken between ports_free_a_moment_ago() and mosquitto's bind.
            (dir, ca) = m.into_parts();
        }
        panic!("mosquitto found its ports taken {PORT_RETRIES} times");
    }

    /// [`start`](Self::start), with a missing mosquitto a skip or, under
    /// `MQTT_INTEROP=require`, a failure ([`or_skip`]).
    pub fn start_or_skip(self, test: &str) -> Option<Mosquitto> {
        or_skip(test, self.start())
    }

    fn config(&self, dir: &TempDir, ports: &[u16], unix: Option<&Path>) -> String {
        let d = dir.path().display();
        let tls = format!("certfile {d}/server.pem\nkeyfile {d}/server.key\n");
        let mut conf = format!("listener {} 127.0.0.1\nlog_dest stderr\n", ports[0]);
        for line in &self.lines {
            conf.push_str(&line.replace("$DIR", &d.to_string()));
            conf.push('\n');
        }
        for (kind, port) in self.extra.iter().zip(&ports[1..]) {
            conf.push_str(&format!("listener {port} 127.0.0.1\n"));
            match kind {
                Extra::Tls => conf.push_str(&tls),
                Extra::ClientCertTls => conf.push_str(&format!(
                    "{tls}cafile {d}/ca.pem\nrequire_certificate true\n"
                )),
                Extra::WebSocket => conf.push_str("protocol websockets\n"),
                Extra::SecureWebSocket => conf.push_str(&format!("protocol websockets\n{tls}")),
            }
        }
        if let Some(path) = unix {
            conf.push_str(&format!("listener 0 {}\n", path.display()));
        }
        conf
    }
}

/// A mosquitto process, killed and reaped on drop (then its directory is removed).
#[derive(Debug)]
pub struct Mosquitto {
    process: Process,
    binary: PathBuf,
    conf: PathBuf,
    /// The plain TCP port, then one per extra listener, in `extra`'s order.
    ports: Vec<u16>,
    extra: Vec<Extra>,
    unix: Option<PathBuf>,
    ca: TestCa,
    // Last: removed after the process is gone.
    dir: TempDir,
}

fn spawn(binary: &Path, conf: &Path) -> Process {
    let mut command = Command::new(binary);
    command.arg("-c").arg(conf);
    Process::spawn(command, false)
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()))
}

impl Mosquitto {
    /// A mosquitto with one plain TCP listener; add to it with the builder's methods.
    pub fn builder() -> MosquittoBuilder {
        MosquittoBuilder::default()
    }

    /// Wait for the "running" line, then check that every listener accepts. `false` if a
    /// port was taken; panics with the log on any other failure.
    fn wait_running(&mut self) -> bool {
        let seen = self
            .process
            .output()
            .next_where(|l| l.contains(RUNNING) || l.contains(IN_USE));
        match seen {
            Some(line) if line.contains(RUNNING) => {}
            _ if self.process.output().count(IN_USE) > 0 => return false,
            _ => panic!(
                "mosquitto did not start ({:?}):\n{}",
                self.process.try_wait(),
                self.log_text()
            ),
        }
        for port in &self.ports {
            if let Err(e) = TcpStream::connect(("127.0.0.1", *port)) {
                panic!(
                    "mosquitto does not accept on {port}: {e}\n{}",
                    self.log_text()
                );
            }
        }
        #[cfg(unix)]
        if let Some(path) = &self.unix
            && let Err(e) = std::os::unix::net::UnixStream::connect(path)
        {
            panic!(
                "mosquitto does not accept on {}: {e}\n{}",
                path.display(),
                self.log_text()
            );
        }
        true
    }

    fn into_parts(mut self) -> (TempDir, TestCa) {
        self.process.kill();
        let Self { dir, ca, .. } = self;
        (dir, ca)
    }

    /// Kill the broker (every connection drops; without persistence every session is lost)
    /// and start it again on the same ports.
    pub fn restart(&mut self) {
        self.process.kill();
        if let Some(path) = &self.unix {
            let _ = std::fs::remove_file(path);
        }
        self.process = spawn(&self.binary, &self.conf);
        assert!(
            self.wait_running(),
            "mosquitto could not restart: a port of its was taken meanwhile\n{}",
            self.log_text()
        );
    }

    fn port_of(&self, kind: Extra) -> u16 {
        let i = self
            .extra
            .iter()
            .position(|k| *k == kind)
            .unwrap_or_else(|| panic!("this mosquitto has no {kind:?} listener"));
        self.ports[i + 1]
    }

    /// The plain TCP port.
    pub fn port(&self) -> u16 {
        self.ports[0]
    }

    /// 127.0.0.1 and the plain TCP port.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port()))
    }

    /// `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://{}", self.addr())
    }

    /// The TLS port ([`MosquittoBuilder::tls`]).
    pub fn tls_port(&self) -> u16 {
        self.port_of(Extra::Tls)
    }

    /// The port requiring a client certificate ([`MosquittoBuilder::client_cert_tls`]).
    pub fn client_cert_tls_port(&self) -> u16 {
        self.port_of(Extra::ClientCertTls)
    }

    /// The WebSocket port ([`MosquittoBuilder::websocket`]).
    pub fn ws_port(&self) -> u16 {
        self.port_of(Extra::WebSocket)
    }

    /// The secure WebSocket port ([`MosquittoBuilder::secure_websocket`]).
    pub fn wss_port(&self) -> u16 {
        self.port_of(Extra::SecureWebSocket)
    }

    /// The unix socket ([`MosquittoBuilder::unix_socket`]).
    pub fn unix_path(&self) -> &Path {
        self.unix
            .as_deref()
            .expect("this mosquitto has no unix socket")
    }

    /// The CA that issued its server certificate and the client certificate.
    pub fn ca(&self) -> &TestCa {
        &self.ca
    }

    /// Its directory: the configuration, the certificates, the unix socket.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The path of `name` in its directory (`ca.pem`, `client.pem`, `client.key`, ...).
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Its log (stderr), as it comes.
    pub fn log(&self) -> &super::process::Lines {
        self.process.output()
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        self.process.output().text()
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    /// A port taken between the choice and mosquitto's bind: mosquitto says "Address
    /// already in use" and exits, and the start is retried on new ports.
    #[test]
    fn a_port_taken_meanwhile_is_retried_on_new_ports() {
        let Some(_) = or_skip("a_port_taken_meanwhile_is_retried_on_new_ports", binary()) else {
            return;
        };
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let taken_port = taken.local_addr().unwrap().port();
        let mut asked = 0;
        let m = Mosquitto::builder()
            .config_line("allow_anonymous true")
            .tls()
            .start_on(|n| {
                asked += 1;
                if asked == 1 {
                    // The TLS listener's port is taken.
                    let mut ports = ports_free_a_moment_ago(n - 1);
                    ports.push(taken_port);
                    ports
                } else {
                    ports_free_a_moment_ago(n)
                }
            })
            .unwrap();
        assert_eq!(asked, 2);
        assert_ne!(m.tls_port(), taken_port);
        assert!(TcpStream::connect(m.addr()).is_ok());
        assert!(TcpStream::connect(("127.0.0.1", m.tls_port())).is_ok());
        // Its log is the second start's: it runs.
        assert!(m.log_text().contains(" running"), "{}", m.log_text());
        drop(taken);
    }

    #[test]
    fn restart_keeps_the_ports() {
        let Some(mut m) = Mosquitto::builder()
            .config_line("allow_anonymous true")
            .unix_socket()
            .start_or_skip("restart_keeps_the_ports")
        else {
            return;
        };
        let before = (m.port(), m.unix_path().to_owned());
        let pid = m.process.id();
        m.restart();
        assert_ne!(m.process.id(), pid);
        assert_eq!((m.port(), m.unix_path().to_owned()), before);
        assert!(TcpStream::connect(m.addr()).is_ok());
    }

    #[test]
    fn the_configuration_has_every_listener_asked_for() {
        let b = Mosquitto::builder()
            .config_line("max_topic_alias 2")
            .config_line("password_file $DIR/passwd")
            .tls()
            .client_cert_tls()
            .websocket()
            .secure_websocket();
        let dir = TempDir::new("conf");
        let d = dir.path().display();
        let conf = b.config(&dir, &[1, 2, 3, 4, 5], Some(Path::new("/s/m.sock")));
        let tls = format!("certfile {d}/server.pem\nkeyfile {d}/server.key\n");
        assert_eq!(
            conf,
            format!(
                "listener 1 127.0.0.1\nlog_dest stderr\nmax_topic_alias 2\n\
                 password_file {d}/passwd\n\
                 listener 2 127.0.0.1\n{tls}\
                 listener 3 127.0.0.1\n{tls}cafile {d}/ca.pem\nrequire_certificate true\n\
                 listener 4 127.0.0.1\nprotocol websockets\n\
                 listener 5 127.0.0.1\nprotocol websockets\n{tls}\
                 listener 0 /s/m.sock\n"
            )
        );
    }
}
