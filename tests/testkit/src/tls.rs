//! The TLS listeners' configuration: a certificate chain, its private key and, optionally,
//! the certificate authorities client certificates must come from.

use std::fmt;
use std::io;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;
use tokio_rustls::rustls::server::WebPkiClientVerifier;

/// The server's certificate chain (leaf first) and private key, for
/// [`BrokerBuilder::tls`](crate::BrokerBuilder::tls) and
/// [`BrokerBuilder::websocket_tls`](crate::BrokerBuilder::websocket_tls). By default no
/// client certificate is asked for; see [`TlsConfig::client_auth_required`] and
/// [`TlsConfig::client_auth_optional`].
pub struct TlsConfig {
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_auth: ClientAuth,
}

/// Whether clients must present a certificate, and who must have issued it.
#[derive(Clone)]
enum ClientAuth {
    /// No certificate is asked for.
    None,
    /// A certificate issued by one of these roots is asked for; `required`: a client
    /// without one is refused (a client with a bad one always is).
    Roots {
        roots: Vec<CertificateDer<'static>>,
        required: bool,
    },
}

impl TlsConfig {
    /// From PEM: `cert_chain` holds one or more `CERTIFICATE` blocks (the server's first,
    /// then its issuers), `key` one private key (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> io::Result<Self> {
        let certs = CertificateDer::pem_slice_iter(cert_chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(format!("certificate chain: {e}")))?;
        let key =
            PrivateKeyDer::from_pem_slice(key).map_err(|e| invalid(format!("private key: {e}")))?;
        Self::from_der(certs, key)
    }

    /// From DER: the chain (the server's certificate first) and its private key.
    pub fn from_der(
        certs: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> io::Result<Self> {
        if certs.is_empty() {
            return Err(invalid("no certificate in the chain".to_owned()));
        }
        Ok(Self {
            certs,
            key,
            client_auth: ClientAuth::None,
        })
    }

    /// Require every TLS client to present a certificate issued by one of these
    /// certificate authorities (DER; verified by rustls' `WebPkiClientVerifier`: chain,
    /// validity dates, client authentication usage). A client without a certificate, or
    /// with one they did not issue, fails the handshake; that connection is closed (logged,
    /// no [`Event`](crate::Event)) and others are served as usual. With TLS 1.3 the client
    /// may only learn it when it next reads (the server's alert), after its own handshake
    /// completed. The broker starts only if at least one authority parses.
    pub fn client_auth_required(
        mut self,
        ca_certs: impl IntoIterator<Item = CertificateDer<'static>>,
    ) -> Self {
        self.client_auth = ClientAuth::Roots {
            roots: ca_certs.into_iter().collect(),
            required: true,
        };
        self
    }

    /// Like [`TlsConfig::client_auth_required`], but a client may also present no
    /// certificate at all (it is then served like any other); one that presents a
    /// certificate these authorities did not issue is still refused.
    pub fn client_auth_optional(
        mut self,
        ca_certs: impl IntoIterator<Item = CertificateDer<'static>>,
    ) -> Self {
        self.client_auth = ClientAuth::Roots {
            roots: ca_certs.into_iter().collect(),
            required: false,
        };
        self
    }

    /// Like [`TlsConfig::client_auth_required`], with the authorities' certificates as PEM
    /// (one or more `CERTIFICATE` blocks).
    pub fn client_auth_required_pem(self, ca_certs: &[u8]) -> io::Result<Self> {
        let roots = CertificateDer::pem_slice_iter(ca_certs)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(format!("client CA certificates: {e}")))?;
        if roots.is_empty() {
            return Err(invalid("no client CA certificate".to_owned()));
        }
        Ok(self.client_auth_required(roots))
    }

    /// The rustls server configuration (ring provider, TLS 1.2 and 1.3); fails if the key
    /// does not fit the certificate, or if client authentication is asked for and no
    /// authority certificate parses.
    pub(crate) fn server_config(&self) -> io::Result<Arc<rustls::ServerConfig>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = match &self.client_auth {
            ClientAuth::None => WebPkiClientVerifier::no_client_auth(),
            ClientAuth::Roots { roots, required } => {
                let mut store = rustls::RootCertStore::empty();
                for root in roots {
                    store
                        .add(root.clone())
                        .map_err(|e| invalid(format!("client CA certificate: {e}")))?;
                }
                let builder =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(store), provider.clone());
                let builder = if *required {
                    builder
                } else {
                    builder.allow_unauthenticated()
                };
                builder
                    .build()
                    .map_err(|e| invalid(format!("client certificate verifier: {e}")))?
            }
        };
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.certs.clone(), self.key.clone_key())
            .map_err(|e| invalid(format!("certificate and key: {e}")))?;
        Ok(Arc::new(config))
    }
}

impl Clone for TlsConfig {
    fn clone(&self) -> Self {
        Self {
            certs: self.certs.clone(),
            key: self.key.clone_key(),
            client_auth: self.client_auth.clone(),
        }
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key stays out of logs.
        f.debug_struct("TlsConfig")
            .field("certs", &self.certs.len())
            .field("client_auth", &self.client_auth)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Roots { roots, required } => f
                .debug_struct("Roots")
                .field("roots", &roots.len())
                .field("required", required)
                .finish(),
        }
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}
