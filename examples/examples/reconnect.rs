//! Automatic reconnection with backoff, watching the connection status.
//!
//! `cargo run -p examples --example reconnect` (an in-process broker), or
//! `cargo run -p examples --example reconnect -- --url URL`.

fn main() -> std::process::ExitCode {
    examples::main("reconnect", examples::reconnect)
}
