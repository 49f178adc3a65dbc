//! The import graph of a crate's modules, read from its source text, and the cycles in it:
//! shared by the `module_graph` tests of the crates (issue 14, point 5: no module imports
//! from a module that imports it, directly or through others). Each crate's test includes
//! this file with `#[path = "../../tests/support/module_graph.rs"] mod module_graph;`.
//!
//! The graph is read from the source text: every `use` tree and every inline `crate::` or
//! `super::` path outside comments and `#[cfg(test)] mod tests`, resolved to the longest module
//! path that names a file of `src/`. An edge `a -> b` means "a names an item of b".

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path ("" for the crate root) -> the modules it names.
pub(crate) type Graph = BTreeMap<String, BTreeSet<String>>;

/// Panics, showing the graph, if the crate whose sources are in `src` has fewer than
/// `min_modules` modules (the reader missed them) or an import cycle.
pub(crate) fn assert_no_cycles(src: &Path, min_modules: usize) {
    let graph = module_graph(src);
    assert!(
        graph.len() >= min_modules,
        "too few modules found: {:?}",
        graph.keys()
    );
    let cycles = cycles(&graph);
    let shown: Vec<String> = graph
        .iter()
        .map(|(m, to)| {
            format!(
                "{} -> {:?}",
                name(m),
                to.iter().map(|t| name(t)).collect::<Vec<_>>()
            )
        })
        .collect();
    assert!(
        cycles.is_empty(),
        "import cycles: {cycles:?}\n\n{}",
        shown.join("\n")
    );
}

/// The checker itself, on a graph with a cycle and on source text with one: a crate's test
/// calls this so that a checker that finds nothing cannot pass for a crate without cycles.
pub(crate) fn assert_the_checker_finds_cycles() {
    // a -> b -> c -> a, and d -> a.
    let mut g = Graph::new();
    for (a, b) in [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")] {
        g.entry(a.into()).or_default().insert(b.into());
        g.entry(b.into()).or_default();
    }
    assert_eq!(cycles(&g), vec![vec!["a", "b", "c"]]);
    // A parent re-exporting a child that imports the parent.
    let files = BTreeMap::from([
        (String::new(), "pub mod p;".to_owned()),
        ("p".to_owned(), "mod c;\npub use c::Thing;\n".to_owned()),
        (
            "p::c".to_owned(),
            "// use crate::nothing;\nuse super::{\n    Other as O,\n    c2::X,\n};\npub struct Thing;".to_owned(),
        ),
    ]);
    let g = graph_of(&files);
    assert_eq!(g["p"], BTreeSet::from(["p::c".to_owned()]));
    assert_eq!(g["p::c"], BTreeSet::from(["p".to_owned()]));
    assert_eq!(cycles(&g), vec![vec!["p", "p::c"]]);
    // Sibling modules naming each other inline (`crate::a::X` in b, `crate::b::Y` in a).
    let files = BTreeMap::from([
        (String::new(), "mod a;\nmod b;".to_owned()),
        ("a".to_owned(), "fn f() { crate::b::g() }".to_owned()),
        (
            "b".to_owned(),
            "pub(crate) fn g() { let _ = crate::a::X; }".to_owned(),
        ),
    ]);
    assert_eq!(cycles(&graph_of(&files)), vec![vec!["a", "b"]]);
    // An inline module's `super::` names its file's module, not the file's parent.
    let files = BTreeMap::from([
        (
            String::new(),
            "mod a;\npub use a::A;\npub struct Root;".to_owned(),
        ),
        (
            "a".to_owned(),
            "use crate::Root;\nstruct A;\nmod inner {\n    use super::A;\n}".to_owned(),
        ),
    ]);
    let g = graph_of(&files);
    assert_eq!(g["a"], BTreeSet::from([String::new()]));
    assert_eq!(cycles(&g), vec![vec!["", "a"]]);
    let files = BTreeMap::from([
        (String::new(), "mod a;".to_owned()),
        (
            "a".to_owned(),
            "struct A;\nmod inner {\n    use super::*;\n}".to_owned(),
        ),
    ]);
    assert!(cycles(&graph_of(&files)).is_empty());
}

fn name(m: &str) -> &str {
    if m.is_empty() { "lib" } else { m }
}

/// Module path ("" for the crate root) -> source text without comments and test modules.
fn read_modules(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    entries.sort();
    for path in entries {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        if path.is_dir() {
            let mut p = prefix.to_vec();
            p.push(stem);
            read_modules(&path, &p, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let mut p = prefix.to_vec();
            if stem != "mod" && stem != "lib" {
                p.push(stem);
            }
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            out.insert(p.join("::"), text);
        }
    }
}

pub(crate) fn module_graph(src: &Path) -> Graph {
    let mut files = BTreeMap::new();
    read_modules(src, &[], &mut files);
    graph_of(&files)
}

fn graph_of(files: &BTreeMap<String, String>) -> Graph {
    let modules: BTreeSet<&str> = files.keys().map(String::as_str).collect();
    // The longest module path that is a prefix of `path` (segments), if any.
    let resolve = |path: &[&str]| -> Option<String> {
        (0..=path.len())
            .rev()
            .map(|n| path[..n].join("::"))
            .find(|m| modules.contains(m.as_str()))
    };
    let mut graph = Graph::new();
    for (module, text) in files {
        let code = inline_modules(&strip(text));
        let here: Vec<&str> = module.split("::").filter(|s| !s.is_empty()).collect();
        let parent = &here[..here.len().saturating_sub(1)];
        let mut targets = BTreeSet::new();
        let mut paths = Vec::new();
        for tree in use_trees(&code) {
            expand(&tree, String::new(), &mut paths);
        }
        paths.extend(inline_paths(&code));
        for path in paths {
            let segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
            let Some((&first, rest)) = segs.split_first() else {
                continue;
            };
            let absolute: Vec<&str> = match first {
                "crate" => rest.to_vec(),
                "super" => parent.iter().copied().chain(rest.iter().copied()).collect(),
                "self" => here.iter().copied().chain(rest.iter().copied()).collect(),
                // A relative path names a child module, or something outside the crate.
                _ => {
                    let child: Vec<&str> = here.iter().copied().chain([first]).collect();
                    if !modules.contains(child.join("::").as_str()) {
                        continue;
                    }
                    here.iter().copied().chain(segs.iter().copied()).collect()
                }
            };
            if let Some(target) = resolve(&absolute)
                && target != *module
            {
                targets.insert(target);
            }
        }
        graph.insert(module.clone(), targets);
    }
    graph
}

/// The text without comments (line, doc and block) and without a trailing
/// `#[cfg(test)] mod tests`.
fn strip(text: &str) -> String {
    let mut code = String::with_capacity(text.len());
    let mut in_block = 0usize;
    for line in text.lines() {
        let mut rest = line;
        let mut kept = String::new();
        loop {
            if in_block > 0 {
                match rest.find("*/") {
                    Some(i) => {
                        in_block -= 1;
                        rest = &rest[i + 2..];
                    }
                    None => break,
                }
            } else {
                let line_comment = rest.find("//");
                let block = rest.find("/*");
                match (line_comment, block) {
                    (Some(l), b) if b.is_none_or(|b| l < b) => {
                        kept.push_str(&rest[..l]);
                        break;
                    }
                    (_, Some(b)) => {
                        kept.push_str(&rest[..b]);
                        in_block += 1;
                        rest = &rest[b + 2..];
                    }
                    (None, None) => {
                        kept.push_str(rest);
                        break;
                    }
                    _ => unreachable!(),
                }
            }
        }
        code.push_str(&kept);
        code.push('\n');
    }
    // Test modules (always last in a file) import their parent with `use super::*`.
    let mut search = 0;
    while let Some(i) = code[search..].find("#[cfg(test)]") {
        let at = search + i;
        let after = code[at + "#[cfg(test)]".len()..].trim_start();
        let after = skip_attributes(after);
        if after.starts_with("mod ") {
            code.truncate(at);
            break;
        }
        search = at + 1;
    }
    code
}

/// The code with `super::` inside an inline `mod name { ... }` (not a test module, which
/// `strip` removed) written `self::`: the inline module's parent is the file's module, which
/// is what the graph is made of.
fn inline_modules(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = find_inline_mod(rest) {
        let open = at + rest[at..].find('{').unwrap_or(0);
        // The matching brace (comments are gone; braces in strings are rare enough in `use`
        // paths to ignore).
        let mut depth = 0usize;
        let mut close = rest.len();
        for (i, c) in rest[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = open + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.push_str(&rest[..open]);
        out.push_str(&rest[open..close].replace("super::", "self::"));
        rest = &rest[close..];
    }
    out.push_str(rest);
    out
}

/// Where `mod name {` starts in `code`, if anywhere.
fn find_inline_mod(code: &str) -> Option<usize> {
    let mut search = 0;
    while let Some(i) = code[search..].find("mod ") {
        let at = search + i;
        search = at + 4;
        if code[..at].chars().next_back().is_some_and(is_ident) {
            continue;
        }
        let after = code[at + 4..].trim_start();
        let name_len = after.find(|c: char| !is_ident(c)).unwrap_or(after.len());
        if name_len > 0 && after[name_len..].trim_start().starts_with('{') {
            return Some(at);
        }
    }
    None
}

fn skip_attributes(mut s: &str) -> &str {
    while s.starts_with("#[") {
        match s.find(']') {
            Some(i) => s = s[i + 1..].trim_start(),
            None => break,
        }
    }
    s
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The text of every `use` declaration, between `use` and `;`, with no whitespace but the
/// single spaces around `as`.
fn use_trees(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut search = 0;
    while let Some(i) = code[search..].find("use") {
        let at = search + i;
        search = at + 3;
        let before = code[..at].chars().next_back();
        let after = code[at + 3..].chars().next();
        if before.is_some_and(is_ident) || !after.is_some_and(char::is_whitespace) {
            continue;
        }
        let Some(end) = code[at..].find(';') else {
            break;
        };
        let words: Vec<&str> = code[at + 3..at + end].split_whitespace().collect();
        let mut tree = String::new();
        for w in words {
            let glued = tree.ends_with([':', '{', ',', '}'])
                || w.starts_with([':', '{', ',', '}'])
                || tree.is_empty();
            if !glued {
                tree.push(' ');
            }
            tree.push_str(w);
        }
        out.push(tree);
        search = at + end;
    }
    out
}

/// `a::{b, c::{d, e}}` -> `a::b`, `a::c::d`, `a::c::e` (a rename `x as y` keeps `x`).
fn expand(tree: &str, prefix: String, out: &mut Vec<String>) {
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or(tree);
        out.push(format!("{prefix}{path}"));
        return;
    };
    let head = &tree[..open];
    let body = tree[open + 1..]
        .strip_suffix('}')
        .unwrap_or(&tree[open + 1..]);
    let mut depth = 0;
    let mut start = 0;
    let mut parts = Vec::new();
    for (i, c) in body.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&body[start..]);
    for part in parts.into_iter().filter(|p| !p.is_empty()) {
        expand(part, format!("{prefix}{head}"), out);
    }
}

/// Paths written inline in code: `crate::a::B`, `super::C`.
fn inline_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for root in ["crate::", "super::"] {
        let mut search = 0;
        while let Some(i) = code[search..].find(root) {
            let at = search + i;
            search = at + root.len();
            if code[..at].chars().next_back().is_some_and(is_ident) {
                continue;
            }
            let path: String = code[at..]
                .chars()
                .take_while(|&c| is_ident(c) || c == ':')
                .collect();
            out.push(path);
        }
    }
    out
}

/// The strongly connected components of more than one module (Tarjan), each sorted.
pub(crate) fn cycles(graph: &Graph) -> Vec<Vec<&str>> {
    struct Tarjan<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<&'a str>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.graph.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort_unstable();
                    self.found.push(component);
                }
            }
        }
    }
    let mut t = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.found.sort();
    t.found
}
