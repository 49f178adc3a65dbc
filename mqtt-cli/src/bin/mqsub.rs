//! `mqsub`: subscribe and print MQTT messages the way `mosquitto_sub` does.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(mqtt_cli::sub_tool::main(
        std::env::args_os().skip(1).collect(),
    ))
}
