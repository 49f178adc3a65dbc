//! mqtt-cli's modules import one another as a tree (issue 14, point 5): no module imports
//! from a module that imports it. The checker is mqtt-proto's (one copy, in
//! `mqtt-proto/tests/module_graph.rs`), compiled here a second time: its
//! `CARGO_MANIFEST_DIR` is then this crate's, so it reads this crate's `src/`.

#[path = "../../mqtt-proto/tests/module_graph.rs"]
mod module_graph;
