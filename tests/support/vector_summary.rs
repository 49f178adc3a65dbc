//! The summary both vector runners print, and the check that ends their run: every scenario
//! passed, or is a deliberate difference listed in its DIFFERENCES.md, and that list has no
//! problems. One copy, included with `#[path]` by the client vectors' runner
//! (`mqtt-proto/tests/vectors.rs`) and the broker vectors' runner
//! (`tests/testkit/tests/vectors.rs`).

use std::collections::BTreeMap;
use std::path::Path;

/// What one run of a vector runner counted.
pub(crate) struct Summary<'a> {
    /// `client` or `broker`.
    pub(crate) kind: &'a str,
    /// Where the vectors were read from.
    pub(crate) dir: &'a Path,
    pub(crate) total: usize,
    pub(crate) passed: usize,
    /// Passes that needed a relaxation, by relaxation.
    pub(crate) relaxed: &'a BTreeMap<&'a str, usize>,
    /// Deliberate differences by category id.
    pub(crate) deliberate: &'a BTreeMap<&'a str, Vec<String>>,
    /// The category ids, in the order DIFFERENCES.md gives them.
    pub(crate) categories: &'a [&'a str],
    /// List every deliberate difference (`VECTORS_VERBOSE`).
    pub(crate) verbose: bool,
    pub(crate) failed: &'a [String],
    /// Problems with DIFFERENCES.md itself.
    pub(crate) problems: &'a [String],
}

/// Print the summary, then fail unless every scenario is accounted for.
pub(crate) fn print_and_check(s: &Summary<'_>) {
    let n_deliberate: usize = s.deliberate.values().map(Vec::len).sum();
    let shown = s.dir.canonicalize().unwrap_or_else(|_| s.dir.to_path_buf());
    println!("\nmosquitto {} vectors ({})", s.kind, shown.display());
    println!("  total:                  {}", s.total);
    println!("  passed:                 {}", s.passed);
    for (what, n) in s.relaxed {
        println!("    with a relaxation:    {n} ({what})");
    }
    println!("  deliberately different: {n_deliberate}");
    for id in s.categories {
        if let Some(list) = s.deliberate.get(id) {
            println!("    {:<34} {}", id, list.len());
            if s.verbose {
                for id in list {
                    println!("      {id}");
                }
            }
        }
    }
    println!("  failed:                 {}", s.failed.len());
    for f in s.failed {
        println!("  FAIL {f}");
    }
    for p in s.problems {
        println!("  LIST {p}");
    }
    assert_eq!(s.total, s.passed + n_deliberate + s.failed.len());
    assert!(
        s.failed.is_empty() && s.problems.is_empty(),
        "{} scenarios failed and {} problems with DIFFERENCES.md (see the output above, with \
         --nocapture)",
        s.failed.len(),
        s.problems.len()
    );
}
