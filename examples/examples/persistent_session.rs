//! A persistent session: messages published while the client is away wait for it.
//!
//! `cargo run -p examples --example persistent_session` (an in-process broker), or
//! `cargo run -p examples --example persistent_session -- --url URL`.

fn main() -> std::process::ExitCode {
    examples::main("persistent_session", examples::persistent_session)
}
