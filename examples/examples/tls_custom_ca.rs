//! TLS with a certificate authority of your own (`--ca FILE` with `--url mqtts://...`).
//!
//! `cargo run -p examples --example tls_custom_ca` (an in-process broker), or
//! `cargo run -p examples --example tls_custom_ca -- --url URL`.

fn main() -> std::process::ExitCode {
    examples::main("tls_custom_ca", examples::tls_custom_ca)
}
