//! Enhanced authentication (5.0 §4.12): the AUTH exchange at connection time and
//! re-authentication, through an authenticator the application supplies.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use bytestring::ByteString;
use mqtt_proto::client::{Authenticator, ConnectionError, ConnectionState, Event, ProtocolError};
use mqtt_proto::{Auth, AuthReason, ConnectReason, DisconnectReason, Packet};

use crate::harness::{Harness, V5, V311, connack, opts};

/// A challenge-response mechanism for tests: the client opens with `FIRST`, answers each
/// challenge `x` with `answer:x`, and accepts the server's final data only if it is `PROOF`.
/// A challenge of `bad` makes it give up. Every call is logged.
#[derive(Debug, Clone, Default)]
pub(crate) struct TestAuth {
    pub(crate) log: Arc<Mutex<Vec<String>>>,
}

impl TestAuth {
    pub(crate) const METHOD: &'static str = "TEST-CR";
    pub(crate) const FIRST: &'static [u8] = b"client-first";
    pub(crate) const PROOF: &'static [u8] = b"server-proof";

    fn log(&self, s: String) {
        self.log.lock().unwrap().push(s);
    }

    fn calls(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Authenticator for TestAuth {
    fn method(&self) -> ByteString {
        Self::METHOD.into()
    }

    fn start(&mut self) -> Option<Bytes> {
        self.log("start".into());
        Some(Bytes::from_static(Self::FIRST))
    }

    fn challenge(&mut self, data: Option<&Bytes>) -> Result<Option<Bytes>, String> {
        let data = data.map(|d| String::from_utf8_lossy(d).into_owned());
        self.log(format!("challenge {data:?}"));
        match data.as_deref() {
            Some("bad") => Err("cannot answer".into()),
            Some(d) => Ok(Some(Bytes::from(format!("answer:{d}")))),
            None => Ok(None),
        }
    }

    fn success(&mut self, data: Option<&Bytes>) -> Result<(), String> {
        self.log(format!(
            "success {:?}",
            data.map(|d| String::from_utf8_lossy(d).into_owned())
        ));
        match data {
            Some(d) if d == Self::PROOF => Ok(()),
            _ => Err("the server did not prove itself".into()),
        }
    }
}

fn auth(reason: AuthReason, method: &str, data: &'static [u8]) -> Auth {
    let mut a = Auth::new(reason);
    a.properties.authentication_method = Some(method.into());
    a.properties.authentication_data = Some(Bytes::from_static(data));
    a
}

fn connack_with_auth(proof: &'static [u8]) -> mqtt_proto::ConnAck {
    let mut ack = connack(false);
    ack.properties.authentication_method = Some(TestAuth::METHOD.into());
    ack.properties.authentication_data = Some(Bytes::from_static(proof));
    ack
}

#[test]
fn enhanced_auth_exchange_and_reauthentication() {
    let a = TestAuth::default();
    let mut h = Harness::new(opts(V5));
    h.client.set_authenticator(Box::new(a.clone()));
    let c = h.open();
    assert_eq!(
        c.properties.authentication_method.as_deref(),
        Some(TestAuth::METHOD)
    );
    assert_eq!(
        c.properties.authentication_data.as_deref(),
        Some(TestAuth::FIRST)
    );
    // [MQTT-4.12.0-2], [MQTT-4.12.0-3]: the server asks, the client answers with AUTH 0x18
    // naming the same method [MQTT-4.12.0-5].
    h.send(auth(
        AuthReason::ContinueAuthentication,
        TestAuth::METHOD,
        b"nonce-1",
    ));
    assert_eq!(
        h.recv_one(),
        auth(
            AuthReason::ContinueAuthentication,
            TestAuth::METHOD,
            b"answer:nonce-1"
        )
        .into()
    );
    assert_eq!(h.client.state(), ConnectionState::Connecting);
    h.send(auth(
        AuthReason::ContinueAuthentication,
        TestAuth::METHOD,
        b"nonce-2",
    ));
    assert_eq!(
        h.recv_one(),
        auth(
            AuthReason::ContinueAuthentication,
            TestAuth::METHOD,
            b"answer:nonce-2"
        )
        .into()
    );
    let events = h.accept(connack_with_auth(TestAuth::PROOF));
    assert!(matches!(events[..], [Event::Connected(_)]), "{events:?}");
    assert_eq!(
        a.calls(),
        vec![
            "start",
            "challenge Some(\"nonce-1\")",
            "challenge Some(\"nonce-2\")",
            "success Some(\"server-proof\")"
        ]
    );

    // Re-authentication [MQTT-4.12.1-1]: AUTH 0x19 with the same method.
    assert!(h.client.reauthenticate());
    assert_eq!(
        h.recv_one(),
        auth(
            AuthReason::ReAuthenticate,
            TestAuth::METHOD,
            TestAuth::FIRST
        )
        .into()
    );
    h.send(auth(
        AuthReason::ContinueAuthentication,
        TestAuth::METHOD,
        b"nonce-3",
    ));
    assert_eq!(
        h.recv_one(),
        auth(
            AuthReason::ContinueAuthentication,
            TestAuth::METHOD,
            b"answer:nonce-3"
        )
        .into()
    );
    h.send(auth(AuthReason::Success, TestAuth::METHOD, TestAuth::PROOF));
    h.recv_nothing();
    assert!(h.events().is_empty());
    assert_eq!(h.client.state(), ConnectionState::Connected);
    assert_eq!(a.calls().len(), 7);
    // The connection goes on.
    h.send(Packet::PingResp);
    assert_eq!(h.client.state(), ConnectionState::Connected);
}

#[test]
fn enhanced_auth_without_server_challenge() {
    let mut h = Harness::new(opts(V5));
    h.client.set_authenticator(Box::new(TestAuth::default()));
    h.reconnect_properties = connack_with_auth(TestAuth::PROOF).properties;
    h.open();
    let events = h.accept(connack_with_auth(TestAuth::PROOF));
    assert!(matches!(events[..], [Event::Connected(_)]), "{events:?}");
}

#[test]
fn enhanced_auth_failure_in_authenticator_closes_connection() {
    // The client cannot answer the challenge.
    let mut h = Harness::new(opts(V5));
    h.client.set_authenticator(Box::new(TestAuth::default()));
    h.reconnect_properties = connack_with_auth(TestAuth::PROOF).properties;
    h.open();
    h.send(auth(
        AuthReason::ContinueAuthentication,
        TestAuth::METHOD,
        b"bad",
    ));
    h.assert_closed_by_client(
        &ConnectionError::Auth("cannot answer".into()),
        DisconnectReason::NotAuthorized,
    );
}

#[test]
fn enhanced_auth_server_that_does_not_prove_itself_closes_connection() {
    let mut h = Harness::new(opts(V5));
    h.client.set_authenticator(Box::new(TestAuth::default()));
    h.reconnect_properties = connack_with_auth(TestAuth::PROOF).properties;
    h.open();
    h.send(connack_with_auth(b"forged"));
    h.assert_closed_by_client(
        &ConnectionError::Auth("the server did not prove itself".into()),
        DisconnectReason::NotAuthorized,
    );
}

#[test]
fn enhanced_auth_reauthentication_failure_closes_connection() {
    // [MQTT-4.12.1-2]
    let mut h = Harness::new(opts(V5));
    h.client.set_authenticator(Box::new(TestAuth::default()));
    h.reconnect_properties = connack_with_auth(TestAuth::PROOF).properties;
    h.open();
    h.accept(connack_with_auth(TestAuth::PROOF));
    assert!(h.client.reauthenticate());
    let _ = h.recv();
    h.send(auth(AuthReason::Success, TestAuth::METHOD, b"forged"));
    h.assert_closed_by_client(
        &ConnectionError::Auth("the server did not prove itself".into()),
        DisconnectReason::NotAuthorized,
    );
}

#[test]
fn enhanced_auth_refused_by_server_reports_reason() {
    // [MQTT-4.12.0-1], [MQTT-4.12.0-4]
    let mut h = Harness::new(opts(V5));
    h.client.set_authenticator(Box::new(TestAuth::default()));
    h.reconnect_properties = connack_with_auth(TestAuth::PROOF).properties;
    h.open();
    h.send(mqtt_proto::ConnAck::new(
        false,
        ConnectReason::BadAuthenticationMethod,
    ));
    assert_eq!(
        h.expect_disconnected(),
        ConnectionError::Refused {
            reason: ConnectReason::BadAuthenticationMethod,
            server_reference: None,
            reason_string: None,
        }
    );
    h.recv_nothing();
}

#[test]
fn auth_with_another_method_is_protocol_error_mqtt_4_12_0_5() {
    let mut h = Harness::new(opts(V5));
    h.client.set_authenticator(Box::new(TestAuth::default()));
    h.reconnect_properties = connack_with_auth(TestAuth::PROOF).properties;
    h.open();
    h.send(auth(AuthReason::ContinueAuthentication, "OTHER", b"x"));
    h.assert_closed_by_client(
        &ProtocolError::AuthMethodMismatch.into(),
        DisconnectReason::ProtocolError,
    );
}

#[test]
fn connack_with_another_method_is_protocol_error_mqtt_4_12_0_5() {
    let mut h = Harness::new(opts(V5));
    h.client.set_authenticator(Box::new(TestAuth::default()));
    h.reconnect_properties = connack_with_auth(TestAuth::PROOF).properties;
    h.open();
    let mut ack = connack(false);
    ack.properties.authentication_method = Some("OTHER".into());
    h.send(ack);
    h.assert_closed_by_client(
        &ProtocolError::AuthMethodMismatch.into(),
        DisconnectReason::ProtocolError,
    );
}

#[test]
fn auth_without_method_in_connect_is_protocol_error_mqtt_4_12_0_6() {
    // Before CONNACK...
    let mut h = Harness::new(opts(V5));
    h.open();
    h.send(auth(
        AuthReason::ContinueAuthentication,
        TestAuth::METHOD,
        b"x",
    ));
    h.assert_closed_by_client(
        &ProtocolError::UnexpectedAuth.into(),
        DisconnectReason::ProtocolError,
    );
    // ... after it...
    let mut h = Harness::connected(opts(V5));
    h.send(auth(AuthReason::ReAuthenticate, TestAuth::METHOD, b"x"));
    h.assert_closed_by_client(
        &ProtocolError::UnexpectedAuth.into(),
        DisconnectReason::ProtocolError,
    );
    // ... and an Authentication Method in CONNACK.
    let mut h = Harness::new(opts(V5));
    h.open();
    h.send(connack_with_auth(TestAuth::PROOF));
    h.assert_closed_by_client(
        &ProtocolError::UnexpectedAuth.into(),
        DisconnectReason::ProtocolError,
    );
}

#[test]
fn reauthenticate_needs_a_connection_an_authenticator_and_5_0() {
    // [MQTT-4.12.0-7]: no AUTH from a client that named no method.
    let mut h = Harness::connected(opts(V5));
    assert!(!h.client.reauthenticate());
    h.recv_nothing();
    let mut h = Harness::new(opts(V5));
    h.client.set_authenticator(Box::new(TestAuth::default()));
    assert!(!h.client.reauthenticate());
    h.open();
    assert!(!h.client.reauthenticate(), "not before CONNACK");
    let mut h = Harness::new(opts(V311));
    h.client.set_authenticator(Box::new(TestAuth::default()));
    let c = h.open();
    assert!(c.properties.is_empty(), "no authentication method on 3.1.1");
    h.accept(connack(false));
    assert!(!h.client.reauthenticate());
    h.recv_nothing();
}

#[test]
fn server_reauthenticate_is_not_for_a_client() {
    // 5.0 §4.12.1: only the client starts re-authentication (AUTH 0x19); the server answers
    // with 0x18 or 0x00.
    let mut h = Harness::new(opts(V5));
    h.client.set_authenticator(Box::new(TestAuth::default()));
    h.reconnect_properties = connack_with_auth(TestAuth::PROOF).properties;
    h.open();
    let events = h.accept(connack_with_auth(TestAuth::PROOF));
    assert!(matches!(events[..], [Event::Connected(_)]), "{events:?}");
    h.send(auth(AuthReason::ReAuthenticate, TestAuth::METHOD, b"x"));
    h.assert_closed_by_client(
        &ProtocolError::UnexpectedAuthReason(AuthReason::ReAuthenticate).into(),
        DisconnectReason::ProtocolError,
    );
}
