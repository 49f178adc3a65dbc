//! The TLS listener's configuration: a certificate chain and its private key.

use std::fmt;
use std::io;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;

/// The server's certificate chain (leaf first) and private key, for
/// [`BrokerBuilder::tls`](crate::BrokerBuilder::tls). No client certificates are asked for.
pub struct TlsConfig {
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
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
        Ok(Self { certs, key })
    }

    /// The rustls server configuration (ring provider, TLS 1.2 and 1.3); fails if the key
    /// does not fit the certificate.
    pub(crate) fn server_config(&self) -> io::Result<Arc<rustls::ServerConfig>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(e.to_string()))?
            .with_no_client_auth()
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
        }
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key stays out of logs.
        f.debug_struct("TlsConfig")
            .field("certs", &self.certs.len())
            .finish_non_exhaustive()
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}
