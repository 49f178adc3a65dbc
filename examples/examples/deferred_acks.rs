//! Manual acknowledgements: acknowledge a message once handled; what was not is delivered again.
//!
//! `cargo run -p examples --example deferred_acks` (an in-process broker), or
//! `cargo run -p examples --example deferred_acks -- --url URL`.

fn main() -> std::process::ExitCode {
    examples::main("deferred_acks", examples::deferred_acks)
}
