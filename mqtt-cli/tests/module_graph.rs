//! mqtt-cli's modules import one another as a tree (issue 14, point 5): no module imports
//! from a module that imports it. The checker is the workspace's one copy
//! (`tests/support/module_graph.rs`), shared with mqtt-proto and mqtt-client.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;

#[path = "../../tests/support/module_graph.rs"]
mod module_graph;

#[test]
fn no_module_imports_from_a_module_that_imports_it() {
    module_graph::assert_no_cycles(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), 20);
}

#[test]
fn the_checker_finds_a_cycle_when_there_is_one() {
    module_graph::assert_the_checker_finds_cycles();
}

#[test]
fn the_tools_do_not_call_each_other() {
    let graph = module_graph::module_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    for (module, other) in [("pub_tool", "sub_tool"), ("sub_tool", "pub_tool")] {
        assert!(
            !graph[module].contains(other),
            "{module} imports {other}: {:?}",
            graph[module]
        );
    }
}
