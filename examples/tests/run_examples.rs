//! Every example runs to completion against its in-process broker.

#![allow(clippy::unwrap_used, missing_docs)]

use examples::Args;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart() {
    examples::quickstart(Args::default()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_custom_ca() {
    examples::tls_custom_ca(Args::default()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_session() {
    examples::persistent_session(Args::default()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_acks() {
    examples::deferred_acks(Args::default()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_response() {
    examples::request_response(Args::default()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect() {
    examples::reconnect(Args::default()).await.unwrap();
}
