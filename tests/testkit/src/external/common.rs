//! What the launchers share: the rule for what is missing ([`or_skip`], `MQTT_INTEROP`),
//! finding programs, temporary directories, ports (see the parent module's doc).

#![allow(clippy::expect_used, clippy::unwrap_used)] // test support: see the parent module

use std::fmt;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The environment variable that decides what a missing broker or tool means: `require`
/// makes it a failure, anything else a printed skip.
pub const INTEROP_VAR: &str = "MQTT_INTEROP";

/// How long a broker may take to start, and any one wait on a child's output may last.
pub const START_LIMIT: Duration = Duration::from_secs(20);

/// How many times a start is retried when a port it was given was taken meanwhile.
pub(crate) const PORT_RETRIES: usize = 5;

/// Why a broker or tool cannot be run here (not installed, not found).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    what: String,
}

impl Unavailable {
    /// `what` is missing, said the way a user can act on: "mosquitto is not installed
    /// (apt-get install mosquitto)".
    pub fn new(what: impl Into<String>) -> Self {
        Self { what: what.into() }
    }
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)
    }
}

impl std::error::Error for Unavailable {}

/// Whether `MQTT_INTEROP=require`: every broker and tool must be there.
pub fn interop_required() -> bool {
    std::env::var(INTEROP_VAR).as_deref() == Ok("require")
}

/// The rule for what is missing, in one place: `Some` when it is there; otherwise a failure
/// (panic) under `MQTT_INTEROP=require`, else a notice naming `test` on stderr and `None`
/// (the test returns and passes).
#[allow(clippy::print_stderr)] // the skip notice is for whoever runs `cargo test`
pub fn or_skip<T>(test: &str, found: Result<T, Unavailable>) -> Option<T> {
    match found {
        Ok(t) => Some(t),
        Err(missing) => {
            assert!(
                !interop_required(),
                "{INTEROP_VAR}=require, but {missing} ({test})"
            );
            eprintln!(
                "skipping {test}: {missing} (set {INTEROP_VAR}=require to make this a failure)"
            );
            None
        }
    }
}

/// Whether `program arg` can be started (its exit status does not matter: `mosquitto -h`
/// exits 3).
pub(crate) fn runs(program: &Path, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// These programs on PATH (each started with `--help`), e.g. `["mosquitto_pub",
/// "mosquitto_sub"]`; the error names the missing ones.
pub fn tools(names: &[&str]) -> Result<(), Unavailable> {
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !runs(Path::new(n), "--help"))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Unavailable::new(format!(
            "{} not on PATH (apt-get install mosquitto-clients)",
            missing.join(" / ")
        )))
    }
}

/// A program named by the environment variable `var` if set (then the only candidate, so
/// that its absence can be simulated), else the first of `candidates` that can be started
/// with `arg`.
pub(crate) fn find_program(var: &str, candidates: &[PathBuf], arg: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(path) => Some(PathBuf::from(path)).filter(|p| runs(p, arg)),
        None => candidates.iter().find(|p| runs(p, arg)).cloned(),
    }
}

/// A fresh empty directory under the system temp dir, removed on drop. It and the files
/// written with [`TempDir::write`] are readable by others: mosquitto started as root drops
/// its privileges before it reads its certificates.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// A new directory whose name holds `tag`, the process id and a counter.
    pub fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "mqtt-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        set_mode(&path, 0o755);
        Self { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `path()/name`.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Write `contents` to `name` in the directory (mode 0644); its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path.join(name);
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        set_mode(&path, 0o644);
        path
    }

    /// A subdirectory anyone may write to (mode 0777: a unix socket's place for a broker
    /// that drops its privileges); its path.
    pub fn shared_subdir(&self, name: &str) -> PathBuf {
        let path = self.path.join(name);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        set_mode(&path, 0o777);
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

pub(crate) fn set_mode(path: &Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
}

/// A loopback port that refuses connections for as long as this lives: a socket bound to it
/// and never listening, so nothing else can take the port meanwhile.
#[derive(Debug)]
pub struct ClosedPort {
    _socket: tokio::net::TcpSocket,
    addr: SocketAddr,
}

impl ClosedPort {
    /// Bind 127.0.0.1:0 without listening.
    pub fn new() -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind 127.0.0.1:0");
        let addr = socket.local_addr().expect("the bound address");
        Self {
            _socket: socket,
            addr,
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// 127.0.0.1 and the port.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Default for ClosedPort {
    fn default() -> Self {
        Self::new()
    }
}

/// `n` distinct loopback ports that were free a moment ago, for a broker that cannot listen
/// on port 0. Held together until all are read, so they differ; released for the broker to
/// bind: whoever starts it must retry if one was taken meanwhile.
pub(crate) fn ports_free_a_moment_ago(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("the bound address").port())
        .collect()
}
