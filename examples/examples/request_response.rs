//! MQTT 5.0 request/response with Response Topic and Correlation Data.
//!
//! `cargo run -p examples --example request_response` (an in-process broker), or
//! `cargo run -p examples --example request_response -- --url URL`.

fn main() -> std::process::ExitCode {
    examples::main("request_response", examples::request_response)
}
