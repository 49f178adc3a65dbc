//! The broker's tests speak raw MQTT through `mqtt_testkit::raw` (the raw client and the
//! packet builders, shared with every crate's tests); what only these tests need is here:
//! event waits, a client that keeps to the rules, TLS and WebSocket client streams.

#![allow(dead_code, unreachable_pub, unused_imports)]

pub mod events;
pub mod served;
pub mod tls;
pub mod ws;

pub use mqtt_testkit::raw::*;
