//! Behaviour tests of the sans-IO client state machine (`mqtt_proto::client`), run against a
//! scripted server on a virtual clock (see `harness.rs`): no sockets, no sleeps.
//!
//! Tests are named as behaviours and grouped by topic; where 3.1.1 and 5.0 differ both are
//! tested. Statements of the specification are cited as `[MQTT-x.y.z-n]` (5.0 numbering
//! unless marked 3.1.1).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

mod aliases;
mod auth;
mod bad_peer;
mod connect;
mod disconnect;
mod keepalive;
mod persist;
mod publish_in;
mod publish_out;
mod reconnect;
