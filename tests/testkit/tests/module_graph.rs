//! The reference broker's modules import one another as a tree (issue 14, point 5): no
//! module imports from a module that imports it. The checker is the workspace's one copy
//! (`tests/support/module_graph.rs`), shared with mqtt-proto, mqtt-client and mqtt-cli.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;

#[path = "../../../tests/support/module_graph.rs"]
mod module_graph;

#[test]
fn no_module_imports_from_a_module_that_imports_it() {
    module_graph::assert_no_cycles(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), 20);
}

#[test]
fn the_rules_do_not_reach_the_connection_task() {
    // The broker's rules are sans-IO: no handler imports the connection task or the
    // listeners.
    let graph = module_graph::module_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    for (module, imports) in &graph {
        if module.starts_with("handler") {
            for io in ["conn", "accept", "ws"] {
                assert!(!imports.contains(io), "{module} imports {io}: {imports:?}");
            }
        }
    }
}
