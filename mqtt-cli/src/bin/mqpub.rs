//! `mqpub`: publish MQTT messages the way `mosquitto_pub` does.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(mqtt_cli::pub_tool::main(
        std::env::args_os().skip(1).collect(),
    ))
}
