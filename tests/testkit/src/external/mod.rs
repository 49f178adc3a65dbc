//! Brokers and tools no one here wrote, run as child processes for interoperability tests:
//! [`Mosquitto`] (Debian's `mosquitto`), [`Aedes`] (npm, `tests/brokers/aedes`) and
//! [`Rumqttd`] (`cargo install rumqttd`), each started on loopback ports it is known to hold,
//! waited for until it accepts connections, and killed and reaped on drop; the tools
//! (`mosquitto_pub`, `mosquitto_sub`, ...) through [`tools`].
//!
//! The rule for a broker or tool that cannot be found is here once, in [`or_skip`]: the
//! test prints why and passes, so that `cargo test --workspace` works on a fresh machine,
//! unless `MQTT_INTEROP=require` (set by `.ci/run`), which makes it a failure.
//!
//! Ports: mosquitto and rumqttd cannot listen on port 0 and say which port they got, so they
//! are given ports that were free a moment before; one taken meanwhile shows in their log
//! ("Address already in use", "Server error") and the start is retried with new ports.
//! aedes listens on port 0 and prints the port it got. A port that must refuse connections
//! is a [`ClosedPort`]: bound and held, never listening.
//!
//! Everything here panics on a failure to set up (with the broker's log): in a test that
//! is the failure to report.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test support: see above

mod aedes;
mod common;
mod mosquitto;
mod process;
mod rumqttd;

pub use aedes::Aedes;
pub use common::{
    ClosedPort, INTEROP_VAR, START_LIMIT, TempDir, Unavailable, interop_required, or_skip, tools,
};
pub use mosquitto::{Mosquitto, MosquittoBuilder, binary as mosquitto_binary};
pub use process::{Lines, Process};
pub use rumqttd::Rumqttd;
