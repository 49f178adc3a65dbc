//! The crate's modules import one another as a tree (issue 14, point 5): no module imports
//! from a module that imports it, directly or through others. The leaves hold what both
//! sides of the channel use: `command` (the requests a handle sends the connection task),
//! `message` (an inbound message and a stream's receiving end), `status` (the connection
//! status) and `error`; `backoff` takes durations rather than the `Reconnect` options. The
//! client handle (`client`) starts the connection task (`driver`), which never names it.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;

#[path = "../../tests/support/module_graph.rs"]
mod module_graph;

#[test]
fn no_module_imports_from_a_module_that_imports_it() {
    module_graph::assert_no_cycles(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), 15);
}

#[test]
fn the_checker_finds_a_cycle_when_there_is_one() {
    module_graph::assert_the_checker_finds_cycles();
}

#[test]
fn the_driver_does_not_name_the_client_handle() {
    let graph = module_graph::module_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    for (module, leaves_alone) in [("driver", "client"), ("backoff", "options")] {
        assert!(
            !graph[module].contains(leaves_alone),
            "{module} imports {leaves_alone}: {:?}",
            graph[module]
        );
    }
}
