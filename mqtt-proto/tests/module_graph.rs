//! The crate's modules import one another as a tree (issue 14, point 5): no module imports
//! from a module that imports it, directly or through others. Leaf modules (`types`, `topic`,
//! `wire`, `error`) hold what everything imports; `codec` imports the packets, never the
//! reverse; a parent re-exports its children and the children import their siblings, never
//! the parent.
//!
//! The graph is read from the source text by the checker shared with the other crates
//! (`tests/support/module_graph.rs` at the root of the repository): every `use` tree and
//! every inline `crate::` or `super::` path outside comments and `#[cfg(test)] mod tests`,
//! resolved to the longest module path that names a file of `src/`. An edge `a -> b` means
//! "a names an item of b".

use std::path::Path;

#[path = "../../tests/support/module_graph.rs"]
mod module_graph;

#[test]
fn no_module_imports_from_a_module_that_imports_it() {
    module_graph::assert_no_cycles(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), 21);
}

#[test]
fn the_checker_finds_a_cycle_when_there_is_one() {
    module_graph::assert_the_checker_finds_cycles();
}
