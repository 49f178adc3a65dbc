//! DIFFERENCES.md, read and enforced: every row names a scenario under a category, and the
//! category's check says whether the scenario fails for that category's reason.

use std::path::Path;

use super::client::Run;

/// One row of DIFFERENCES.md.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) category: String,
    pub(crate) group: String,
    pub(crate) name: String,
    /// The failure we show, from between the backticks of the "We do" cell.
    pub(crate) ours: String,
    /// The 1-based line, for reports.
    pub(crate) line: usize,
}

/// A category of deliberate difference.
pub(crate) struct Category {
    pub(crate) id: &'static str,
}

impl Category {
    /// Whether `run` fails exactly as the row says: its "We do" cell gives, between
    /// backticks, the failure the runner reports (`step: what came instead`), so a scenario
    /// that starts failing another way (or passing) no longer matches its row.
    pub(crate) fn accepts(&self, run: &Run, entry: &Entry) -> bool {
        run.failure
            .as_ref()
            .is_some_and(|f| format!("{}: {}", f.step, f.kind) == entry.ours)
    }
}

/// The categories DIFFERENCES.md may use, in the order the summary prints them.
pub(crate) const CATEGORIES: &[Category] = &[
    Category {
        id: "reason-code-choice",
    },
    Category {
        id: "reason-before-close",
    },
    Category {
        id: "packet-id-not-found",
    },
    Category {
        id: "no-matching-subscribers",
    },
    Category {
        id: "control-characters",
    },
    Category { id: "other" },
];

/// The rows of DIFFERENCES.md: under a heading ``## `category-id`: title``, table rows
/// ``| `group` | `name` | mosquitto expects | we do |``. Group and name are taken verbatim
/// from between the backticks (spaces kept).
pub(crate) fn load(path: &Path) -> Result<Vec<Entry>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut category: Option<String> = None;
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if let Some(rest) = line.strip_prefix("## ") {
            category = rest
                .strip_prefix('`')
                .and_then(|r| r.split_once('`'))
                .map(|(id, _)| id.to_owned());
            if let Some(id) = &category
                && !CATEGORIES.iter().any(|c| c.id == id)
            {
                return Err(format!("line {line_no}: unknown category {id:?}"));
            }
            continue;
        }
        if !line.starts_with("| `") {
            continue;
        }
        let Some(cat) = &category else {
            return Err(format!("line {line_no}: a row outside any category"));
        };
        let cells: Vec<&str> = line.split(" | ").collect();
        if cells.len() != 4 {
            return Err(format!(
                "line {line_no}: expected 4 cells separated by \" | \", got {}",
                cells.len()
            ));
        }
        let code = |cell: &str| -> Result<String, String> {
            cell.trim_start_matches('|')
                .trim_start()
                .strip_prefix('`')
                .and_then(|c| c.rsplit_once('`'))
                .map(|(inner, _)| inner.to_owned())
                .ok_or_else(|| format!("line {line_no}: expected `group` | `name` | ... | ..."))
        };
        entries.push(Entry {
            category: cat.clone(),
            group: code(cells[0])?,
            name: code(cells[1])?,
            ours: code(cells[3].trim_end().trim_end_matches('|').trim_end())?,
            line: line_no,
        });
    }
    Ok(entries)
}
