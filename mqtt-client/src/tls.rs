//! TLS settings (rustls): trust anchors, client certificate, ALPN, SNI, and the dangerous
//! option to skip verification.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::{
    self, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::error::ConnectError;

/// Where trusted CA certificates come from.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CaSource {
    /// The Mozilla root store compiled in (webpki-roots). The default.
    #[default]
    WebPkiRoots,
    /// The operating system's trust store, loaded (with rustls-native-certs) when the
    /// connection is set up: what OpenSSL and mosquitto's `--tls-use-os-certs` trust. On
    /// Linux and the BSDs the bundle OpenSSL would use (`/etc/ssl/certs/ca-certificates.crt`
    /// and the like), or only `SSL_CERT_FILE` / `SSL_CERT_DIR` when either is set; the
    /// keychain on macOS; the system store on Windows. A store that cannot be read or holds
    /// no usable certificate fails the attempt with [`ConnectError::InvalidOptions`];
    /// certificates in it that cannot be parsed are skipped (and logged).
    OsStore,
    /// PEM text holding one or more certificates.
    Pem(Vec<u8>),
    /// A PEM file holding one or more certificates.
    PemFile(PathBuf),
    /// DER certificates.
    Der(Vec<CertificateDer<'static>>),
    /// Every certificate of each of these sources (the OS store and a private CA, say).
    Multiple(Vec<CaSource>),
}

impl fmt::Debug for CaSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WebPkiRoots => f.write_str("WebPkiRoots"),
            Self::OsStore => f.write_str("OsStore"),
            Self::Multiple(m) => f.debug_tuple("Multiple").field(m).finish(),
            Self::Pem(p) => write!(f, "Pem({} bytes)", p.len()),
            Self::PemFile(p) => write!(f, "PemFile({})", p.display()),
            Self::Der(d) => write!(f, "Der({} certificates)", d.len()),
        }
    }
}

/// A client certificate chain and its private key, as PEM (the key may be PKCS#8, PKCS#1
/// RSA or SEC1 EC: the type is detected).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientCert {
    /// PEM text.
    Pem {
        /// The certificate chain, leaf first.
        cert_chain: Vec<u8>,
        /// The private key.
        key: Vec<u8>,
    },
    /// PEM files.
    PemFiles {
        /// The certificate chain file.
        cert_chain: PathBuf,
        /// The private key file.
        key: PathBuf,
    },
}

impl fmt::Debug for ClientCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pem { .. } => f.write_str("ClientCert::Pem(..)"),
            Self::PemFiles { cert_chain, key } => write!(
                f,
                "ClientCert::PemFiles({}, {})",
                cert_chain.display(),
                key.display()
            ),
        }
    }
}

/// A TLS protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

/// TLS settings for `mqtts://` and `wss://`. The default verifies the server against the
/// webpki roots, with the host name of the URL; [`with_os_certs`](Self::with_os_certs)
/// trusts the operating system's store instead, [`add_ca`](Self::add_ca) adds a source.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct TlsOptions {
    /// Trusted CA certificates.
    pub ca: CaSource,
    /// A client certificate, for brokers that authenticate clients by certificate.
    pub client_cert: Option<ClientCert>,
    /// ALPN protocols to offer (AWS IoT Core on port 443 wants `x-amzn-mqtt-ca`).
    pub alpn: Vec<Vec<u8>>,
    /// The name to verify the server certificate against (and send as SNI), instead of the
    /// URL's host.
    pub server_name: Option<String>,
    /// Accept any server certificate: no authentication of the server at all. For tests
    /// against self-signed brokers only.
    pub dangerous_skip_verification: bool,
    /// Verify the certificate chain but accept a certificate issued for another name
    /// (mosquitto's `--insecure`). Anyone holding a certificate from a trusted CA can then
    /// pose as the broker.
    pub dangerous_skip_hostname_verification: bool,
    /// Allow only this TLS version (default: TLS 1.2 and 1.3).
    pub only_version: Option<TlsVersion>,
    /// Append the TLS secrets of every connection to this file, one NSS key-log line each
    /// (`LABEL <client_random hex> <secret hex>`), for decrypting packet captures
    /// (Wireshark's "(Pre)-Master-Secret log filename"). The file is created if missing and
    /// opened when the connection is set up. Anyone who can read it can decrypt the
    /// traffic. Ignored when [`config`](Self::config) is given.
    pub key_log_file: Option<PathBuf>,
    /// A complete rustls configuration, overriding every other field.
    pub config: Option<Arc<ClientConfig>>,
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsOptions")
            .field("ca", &self.ca)
            .field("client_cert", &self.client_cert)
            .field("alpn", &self.alpn)
            .field("server_name", &self.server_name)
            .field(
                "dangerous_skip_verification",
                &self.dangerous_skip_verification,
            )
            .field(
                "dangerous_skip_hostname_verification",
                &self.dangerous_skip_hostname_verification,
            )
            .field("only_version", &self.only_version)
            .field("key_log_file", &self.key_log_file)
            .field("config", &self.config.is_some())
            .finish()
    }
}

impl TlsOptions {
    /// Trust the certificates of this PEM text (instead of the webpki roots).
    pub fn with_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca = CaSource::Pem(pem.into());
        self
    }

    /// Trust the certificates of this PEM file (instead of the webpki roots).
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca = CaSource::PemFile(path.into());
        self
    }

    /// Trust the operating system's store (instead of the webpki roots): see
    /// [`CaSource::OsStore`].
    pub fn with_os_certs(mut self) -> Self {
        self.ca = CaSource::OsStore;
        self
    }

    /// Trust the certificates of `source` as well as those already trusted.
    ///
    /// ```
    /// use mqtt_client::{CaSource, TlsOptions};
    ///
    /// // The OS store and a private CA.
    /// let tls = TlsOptions::default()
    ///     .with_os_certs()
    ///     .add_ca(CaSource::PemFile("/etc/mqtt/private-ca.pem".into()));
    /// assert!(matches!(tls.ca, CaSource::Multiple(ref s) if s.len() == 2));
    /// ```
    pub fn add_ca(mut self, source: CaSource) -> Self {
        self.ca = match std::mem::take(&mut self.ca) {
            CaSource::Multiple(mut v) => {
                v.push(source);
                CaSource::Multiple(v)
            }
            first => CaSource::Multiple(vec![first, source]),
        };
        self
    }

    /// Present this client certificate chain and key (PEM).
    pub fn with_client_cert_pem(
        mut self,
        cert_chain: impl Into<Vec<u8>>,
        key: impl Into<Vec<u8>>,
    ) -> Self {
        self.client_cert = Some(ClientCert::Pem {
            cert_chain: cert_chain.into(),
            key: key.into(),
        });
        self
    }

    /// Offer these ALPN protocols.
    pub fn with_alpn(mut self, protocols: &[&[u8]]) -> Self {
        self.alpn = protocols.iter().map(|p| p.to_vec()).collect();
        self
    }

    /// Verify the server (and send SNI) under this name instead of the URL's host.
    pub fn with_server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Append the TLS secrets to this NSS key-log file (see
    /// [`key_log_file`](Self::key_log_file)).
    pub fn with_key_log_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.key_log_file = Some(path.into());
        self
    }

    /// Accept any server certificate. Dangerous: anyone on the path can read and change
    /// the traffic.
    pub fn dangerous_skip_verification(mut self) -> Self {
        self.dangerous_skip_verification = true;
        self
    }

    /// Build the rustls configuration.
    pub(crate) fn client_config(&self) -> Result<Arc<ClientConfig>, ConnectError> {
        if let Some(c) = &self.config {
            return Ok(c.clone());
        }
        let provider = Arc::new(provider());
        let builder = ClientConfig::builder_with_provider(provider.clone());
        let builder = match self.only_version {
            None => builder.with_safe_default_protocol_versions(),
            Some(TlsVersion::Tls12) => builder.with_protocol_versions(&[&rustls::version::TLS12]),
            Some(TlsVersion::Tls13) => builder.with_protocol_versions(&[&rustls::version::TLS13]),
        }
        .map_err(invalid)?;
        let builder = if self.dangerous_skip_verification {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
        } else {
            let mut roots = RootCertStore::empty();
            add_source(&mut roots, &self.ca)?;
            if self.dangerous_skip_hostname_verification {
                let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(invalid)?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AnyName(inner)))
            } else {
                builder.with_root_certificates(roots)
            }
        };
        let mut config = match &self.client_cert {
            None => builder.with_no_client_auth(),
            Some(cert) => {
                let (chain, key) = match cert {
                    ClientCert::Pem { cert_chain, key } => (cert_chain.clone(), key.clone()),
                    ClientCert::PemFiles { cert_chain, key } => (read(cert_chain)?, read(key)?),
                };
                let chain = CertificateDer::pem_slice_iter(&chain)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| {
                        ConnectError::InvalidOptions(format!("client certificate: {e}"))
                    })?;
                if chain.is_empty() {
                    return Err(ConnectError::InvalidOptions(
                        "client certificate: no certificate in the PEM".into(),
                    ));
                }
                let key = PrivateKeyDer::from_pem_slice(&key)
                    .map_err(|e| ConnectError::InvalidOptions(format!("client key: {e}")))?;
                builder.with_client_auth_cert(chain, key).map_err(invalid)?
            }
        };
        config.alpn_protocols.clone_from(&self.alpn);
        if let Some(path) = &self.key_log_file {
            config.key_log = Arc::new(KeyLogFile::open(path)?);
        }
        Ok(Arc::new(config))
    }

    /// The name to verify and send as SNI.
    pub(crate) fn server_name(&self, host: &str) -> Result<ServerName<'static>, ConnectError> {
        let name = self.server_name.as_deref().unwrap_or(host);
        ServerName::try_from(name.to_string())
            .map_err(|e| ConnectError::InvalidOptions(format!("TLS server name {name:?}: {e}")))
    }
}

#[cfg(not(feature = "aws-lc-rs"))]
fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

#[cfg(feature = "aws-lc-rs")]
fn provider() -> CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

fn invalid(e: impl fmt::Display) -> ConnectError {
    ConnectError::InvalidOptions(format!("TLS: {e}"))
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, ConnectError> {
    std::fs::read(path)
        .map_err(|e| ConnectError::InvalidOptions(format!("cannot read {}: {e}", path.display())))
}

fn add_source(roots: &mut RootCertStore, source: &CaSource) -> Result<(), ConnectError> {
    match source {
        CaSource::WebPkiRoots => {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        CaSource::OsStore => add_os_store(roots)?,
        CaSource::Pem(pem) => add_pem(roots, pem, "CA PEM")?,
        CaSource::PemFile(path) => {
            let pem = read(path)?;
            add_pem(roots, &pem, &path.display().to_string())?;
        }
        CaSource::Der(certs) => {
            for c in certs {
                roots.add(c.clone()).map_err(invalid)?;
            }
        }
        CaSource::Multiple(sources) => {
            for s in sources {
                add_source(roots, s)?;
            }
        }
    }
    Ok(())
}

/// The OS store, through rustls-native-certs: the same files OpenSSL reads on Unix (so
/// `SSL_CERT_FILE` / `SSL_CERT_DIR` redirect both), the platform store elsewhere.
fn add_os_store(roots: &mut RootCertStore) -> Result<(), ConnectError> {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::warn!(error = %e, "part of the OS trust store could not be loaded");
    }
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    if ignored > 0 {
        tracing::warn!(
            ignored,
            "certificates of the OS trust store could not be parsed"
        );
    }
    if added == 0 {
        let why = match found.errors.first() {
            Some(e) => format!(": {e}"),
            None => String::new(),
        };
        return Err(ConnectError::InvalidOptions(format!(
            "the OS trust store has no usable CA certificate{why}"
        )));
    }
    Ok(())
}

fn add_pem(roots: &mut RootCertStore, pem: &[u8], what: &str) -> Result<(), ConnectError> {
    let mut n = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| ConnectError::InvalidOptions(format!("{what}: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| ConnectError::InvalidOptions(format!("{what}: {e}")))?;
        n += 1;
    }
    if n == 0 {
        return Err(ConnectError::InvalidOptions(format!(
            "{what}: no certificate found"
        )));
    }
    Ok(())
}

/// Appends NSS key-log lines (`LABEL <client_random> <secret>`, lowercase hex) to a file.
struct KeyLogFile {
    path: PathBuf,
    file: std::sync::Mutex<std::fs::File>,
}

impl KeyLogFile {
    fn open(path: &std::path::Path) -> Result<Self, ConnectError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| {
                ConnectError::InvalidOptions(format!(
                    "cannot open the TLS key log file {}: {e}",
                    path.display()
                ))
            })?;
        Ok(Self {
            path: path.to_path_buf(),
            file: std::sync::Mutex::new(file),
        })
    }
}

impl fmt::Debug for KeyLogFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyLogFile({})", self.path.display())
    }
}

impl rustls::KeyLog for KeyLogFile {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        use std::fmt::Write as _;
        use std::io::Write as _;

        let mut line =
            String::with_capacity(label.len() + 2 * (client_random.len() + secret.len()) + 3);
        line.push_str(label);
        line.push(' ');
        for b in client_random {
            let _ = write!(line, "{b:02x}");
        }
        line.push(' ');
        for b in secret {
            let _ = write!(line, "{b:02x}");
        }
        line.push('\n');
        // One write per line, so that lines of concurrent connections do not interleave.
        // A key log is a debugging aid: a failed write must not break the connection.
        if let Ok(mut file) = self.file.lock() {
            let _ = file.write_all(line.as_bytes());
        }
    }
}

/// Verifies the chain as usual but accepts a certificate issued for another name.
#[derive(Debug)]
struct AnyName(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Accepts every server certificate but still checks the handshake signatures (so the
/// connection is at least consistent).
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
