//! Enhanced authentication (5.0 §4.12): the application supplies the mechanism.

use bytes::Bytes;
use bytestring::ByteString;

/// An enhanced-authentication mechanism (SCRAM, Kerberos, a token exchange...), driven by the
/// state machine through CONNECT, AUTH and CONNACK.
pub trait Authenticator: Send + std::fmt::Debug {
    /// The Authentication Method named in CONNECT and every AUTH.
    fn method(&self) -> ByteString;

    /// Authentication Data for the CONNECT (or the AUTH that starts re-authentication).
    fn start(&mut self) -> Option<Bytes>;

    /// The server's challenge (AUTH, Continue authentication); returns the data of our answer,
    /// or an error that ends the connection.
    fn challenge(&mut self, data: Option<&Bytes>) -> Result<Option<Bytes>, String>;

    /// The server's final word (CONNACK or AUTH with Success) with its data, to verify.
    fn success(&mut self, data: Option<&Bytes>) -> Result<(), String> {
        let _ = data;
        Ok(())
    }
}
