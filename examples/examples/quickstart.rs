//! Quick start: connect, subscribe, publish at QoS 0, 1 and 2, receive, disconnect.
//!
//! `cargo run -p examples --example quickstart` (an in-process broker), or
//! `cargo run -p examples --example quickstart -- --url URL`.

fn main() -> std::process::ExitCode {
    examples::main("quickstart", examples::quickstart)
}
