//! Test certificates: a throwaway certificate authority that issues server and client
//! certificates, for TLS tests of the broker and of clients.
//!
//! Everything is generated in memory with rcgen (ECDSA P-256 keys), valid from 1975 to
//! 4096, and must never be trusted outside a test.
//!
//! ```
//! use mqtt_testkit::certs::TestCa;
//!
//! let ca = TestCa::new("example");
//! let server = ca.server_cert(&["localhost", "127.0.0.1"]);
//! let client = ca.client_cert("alice");
//! // The broker serves `server`; clients trust `ca` (and may present `client`).
//! let tls = server.tls_config().client_auth_required([ca.cert_der()]);
//! let client_config = ca.client_config_with_cert(&client);
//! # let _ = (tls, client_config);
//! ```

use std::fmt;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls;

use crate::tls::TlsConfig;

/// A self-signed certificate authority that issues certificates for tests.
///
/// Each `TestCa` has its own fresh key, so certificates of one are not trusted by another:
/// two of them make a "right CA" and a "wrong CA".
pub struct TestCa {
    name: String,
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    /// A new CA whose certificate's common name is "`name` test CA".
    ///
    /// # Panics
    /// If the key cannot be generated or the certificate signed (not expected: the
    /// parameters are fixed).
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer = CertifiedIssuer::self_signed(params, generate_key())
            .unwrap_or_else(|e| panic!("cannot self-sign the test CA {name:?}: {e}"));
        Self {
            name: name.to_owned(),
            issuer,
        }
    }

    /// The name the CA was created with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The CA's certificate, PEM (one `CERTIFICATE` block).
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// The CA's certificate, DER: a trust anchor for clients, or for the broker's client
    /// certificate authentication
    /// ([`TlsConfig::client_auth_required`](crate::TlsConfig::client_auth_required)).
    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// A server certificate signed by this CA, valid for these names: each one that parses
    /// as an IP address (`127.0.0.1`, `::1`) becomes an IP address subject alternative
    /// name, any other a DNS name. The first name is also the common name. Its extended
    /// key usage is server authentication.
    ///
    /// # Panics
    /// If a name is neither an IP address nor a valid DNS name (not IA5 text), or if
    /// `names` is empty.
    pub fn server_cert(&self, names: &[&str]) -> TestCert {
        let Some(first) = names.first() else {
            panic!("a server certificate needs at least one name");
        };
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap_or_else(|e| panic!("invalid server certificate names {names:?}: {e}"));
        params.distinguished_name.push(DnType::CommonName, *first);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(params)
    }

    /// A client certificate signed by this CA, with `name` as its common name and
    /// client authentication as its extended key usage (no subject alternative name).
    ///
    /// # Panics
    /// If the certificate cannot be signed (not expected).
    pub fn client_cert(&self, name: &str) -> TestCert {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(params)
    }

    /// A root store holding only this CA.
    ///
    /// # Panics
    /// Never in practice: the CA certificate is well formed.
    pub fn root_store(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.cert_der())
            .unwrap_or_else(|e| panic!("the test CA certificate is refused by rustls: {e}"));
        roots
    }

    /// A rustls client configuration (ring provider, TLS 1.2 and 1.3) that trusts only this
    /// CA and presents no client certificate.
    pub fn client_config(&self) -> rustls::ClientConfig {
        client_builder()
            .with_root_certificates(self.root_store())
            .with_no_client_auth()
    }

    /// Like [`TestCa::client_config`], presenting `cert` (and its issuer) as the client
    /// certificate. `cert` may come from another CA, to test a refusal.
    ///
    /// # Panics
    /// If rustls refuses the certificate and key (not expected for a [`TestCert`]).
    pub fn client_config_with_cert(&self, cert: &TestCert) -> rustls::ClientConfig {
        client_builder()
            .with_root_certificates(self.root_store())
            .with_client_auth_cert(cert.chain_der(), cert.key_der())
            .unwrap_or_else(|e| panic!("rustls refuses the test client certificate: {e}"))
    }

    fn issue(&self, params: CertificateParams) -> TestCert {
        let key = generate_key();
        let cert = params
            .signed_by(&key, &self.issuer)
            .unwrap_or_else(|e| panic!("cannot sign a certificate with {:?}: {e}", self.name));
        TestCert {
            cert_der: cert.der().clone(),
            cert_pem: cert.pem(),
            key_der: key.serialize_der(),
            key_pem: key.serialize_pem(),
            ca_der: self.cert_der(),
            ca_pem: self.cert_pem(),
        }
    }
}

impl fmt::Debug for TestCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCa")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A certificate issued by a [`TestCa`], with its private key (PKCS#8) and its issuer's
/// certificate.
#[derive(Clone)]
pub struct TestCert {
    cert_der: CertificateDer<'static>,
    cert_pem: String,
    key_der: Vec<u8>,
    key_pem: String,
    ca_der: CertificateDer<'static>,
    ca_pem: String,
}

impl TestCert {
    /// The certificate, PEM (one `CERTIFICATE` block).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The certificate, DER.
    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.cert_der.clone()
    }

    /// The private key, PEM (`PRIVATE KEY`, PKCS#8).
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The private key, DER (PKCS#8).
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }

    /// The chain, PEM: this certificate then its issuer's.
    pub fn chain_pem(&self) -> String {
        format!("{}{}", self.cert_pem, self.ca_pem)
    }

    /// The chain, DER: this certificate then its issuer's.
    pub fn chain_der(&self) -> Vec<CertificateDer<'static>> {
        vec![self.cert_der.clone(), self.ca_der.clone()]
    }

    /// The broker's TLS configuration serving this certificate (and its issuer's) with its
    /// key, for [`BrokerBuilder::tls`](crate::BrokerBuilder::tls) and
    /// [`BrokerBuilder::websocket_tls`](crate::BrokerBuilder::websocket_tls).
    ///
    /// # Panics
    /// Never: the chain is not empty.
    pub fn tls_config(&self) -> TlsConfig {
        TlsConfig::from_der(self.chain_der(), self.key_der())
            .unwrap_or_else(|e| panic!("the test certificate chain is refused: {e}"))
    }
}

impl fmt::Debug for TestCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key stays out of logs, as in `TlsConfig`.
        f.debug_struct("TestCert")
            .field("cert_der", &self.cert_der.len())
            .finish_non_exhaustive()
    }
}

/// An ECDSA P-256 key (rcgen's default).
fn generate_key() -> KeyPair {
    KeyPair::generate().unwrap_or_else(|e| panic!("cannot generate a test key: {e}"))
}

/// A client configuration builder: ring provider, TLS 1.2 and 1.3.
fn client_builder() -> rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| panic!("ring supports the default protocol versions: {e}"))
}
