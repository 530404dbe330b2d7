//! The engine's module graph, checked: execution does not reach into the
//! node, no two files import each other, and the top-level modules form
//! layers (no cycle). Run with `--nocapture` to print the graph.
//!
//! Imports are read from the source text: `use` statements (with their
//! braces expanded) and inline `crate::`/`super::` paths, resolved to the
//! deepest module file that exists.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module file, as its path below `src/` without the extension
/// (`exec/write`, `node` for `node/mod.rs`, `lib` for the crate root).
type ModuleFile = String;

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file: `exec/mod.rs` -> ["exec"], `exec/write.rs` -> ["exec", "write"].
fn module_of(path: &Path) -> Vec<String> {
    let rel = path.strip_prefix(src_dir()).expect("below src");
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

fn name(module: &[String]) -> ModuleFile {
    if module.is_empty() {
        "lib".into()
    } else {
        module.join("/")
    }
}

/// Source text without comments (`//` at the start of a line or after
/// whitespace; `://` in strings stays) and without the inline test module
/// (`#[cfg(test)] mod tests`, last in a file by convention): tests may use
/// shared fixtures without that being part of the module graph.
fn without_comments(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut cut = line.len();
        let bytes = line.as_bytes();
        for i in 0..bytes.len().saturating_sub(1) {
            if bytes[i] == b'/' && bytes[i + 1] == b'/' && (i == 0 || bytes[i - 1] == b' ') {
                cut = i;
                break;
            }
        }
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    out
}

/// Expands `a::{b, c::{d, e}}` into `a::b`, `a::c::d`, `a::c::e`.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    match tree.find('{') {
        None => {
            for item in tree.split(',') {
                let item = item.split(" as ").next().unwrap_or("").trim();
                if !item.is_empty() {
                    out.push(format!("{prefix}{item}"));
                }
            }
        }
        Some(open) => {
            let head = &tree[..open];
            let close = tree.rfind('}').unwrap_or(tree.len());
            let inner = &tree[open + 1..close];
            // Split the inner list at top-level commas.
            let (mut depth, mut start) = (0, 0);
            let mut parts = Vec::new();
            for (i, ch) in inner.char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        parts.push(&inner[start..i]);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            parts.push(&inner[start..]);
            for p in parts {
                expand(&format!("{prefix}{head}"), p, out);
            }
        }
    }
}

/// Every `crate::`, `super::` and `self::` path a file mentions.
fn paths(text: &str) -> Vec<String> {
    let text = without_comments(text);
    let mut out = Vec::new();
    let mut rest = String::new();
    // `use` statements (a line that starts one, to its `;`), braces expanded.
    let mut stmt: Option<String> = None;
    for line in text.lines() {
        let t = line.trim_start();
        let t = t
            .strip_prefix("pub(crate) ")
            .or_else(|| t.strip_prefix("pub(super) "))
            .or_else(|| t.strip_prefix("pub "))
            .unwrap_or(t);
        if stmt.is_none() && t.starts_with("use ") {
            stmt = Some(String::new());
        }
        match &mut stmt {
            Some(s) => {
                s.push_str(
                    line.trim_start()
                        .trim_start_matches("pub(crate) ")
                        .trim_start_matches("pub(super) ")
                        .trim_start_matches("pub "),
                );
                s.push(' ');
                if line.contains(';') {
                    let body = s
                        .trim()
                        .trim_start_matches("use ")
                        .trim_end_matches(';')
                        .to_string();
                    expand("", &body, &mut out);
                    stmt = None;
                }
            }
            None => {
                rest.push_str(line);
                rest.push('\n');
            }
        }
    }
    // Inline paths.
    for prefix in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(i) = rest[from..].find(prefix) {
            let start = from + i;
            let before = rest[..start].chars().last();
            from = start + prefix.len();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let tail: String = rest[start..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            out.push(tail);
        }
    }
    out.retain(|p| p.starts_with("crate::") || p.starts_with("super::") || p.starts_with("self::"));
    out
}

/// The module file a path points into, from a file of `module`.
fn resolve(path: &str, module: &[String], known: &BTreeSet<ModuleFile>) -> Option<ModuleFile> {
    let mut segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<String> = match *segments.first()? {
        "crate" => Vec::new(),
        // `super` of `exec/write.rs` (module exec::write) is `exec`; of
        // `exec/mod.rs` (module exec), the crate.
        "super" => module[..module.len().saturating_sub(1)].to_vec(),
        "self" => module.to_vec(),
        _ => return None,
    };
    segments.remove(0);
    while segments.first() == Some(&"super") {
        base.pop();
        segments.remove(0);
    }
    let mut best = None;
    let mut cur = base.clone();
    if known.contains(&name(&cur)) {
        best = Some(name(&cur));
    }
    for s in segments {
        cur.push(s.to_string());
        if known.contains(&name(&cur)) {
            best = Some(name(&cur));
        } else {
            break;
        }
    }
    best
}

struct Graph {
    edges: BTreeMap<ModuleFile, BTreeSet<ModuleFile>>,
}

fn graph() -> Graph {
    let mut all = Vec::new();
    files(&src_dir(), &mut all);
    let known: BTreeSet<ModuleFile> = all.iter().map(|p| name(&module_of(p))).collect();
    let mut edges = BTreeMap::new();
    for path in &all {
        let module = module_of(path);
        let text = std::fs::read_to_string(path).expect("read");
        let mut to = BTreeSet::new();
        for p in paths(&text) {
            if let Some(target) = resolve(&p, &module, &known)
                && target != name(&module)
                && target != "lib"
            {
                to.insert(target);
            }
        }
        edges.insert(name(&module), to);
    }
    Graph { edges }
}

fn top(module: &str) -> &str {
    module.split('/').next().unwrap_or(module)
}

#[test]
fn execution_does_not_import_the_node() {
    let g = graph();
    let mut wrong = Vec::new();
    for (from, to) in &g.edges {
        if top(from) == "exec" {
            for t in to {
                if matches!(top(t), "node" | "server") {
                    wrong.push(format!("{from} -> {t}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "exec/ imports the node: {wrong:#?}");
}

#[test]
fn no_two_files_import_each_other() {
    let g = graph();
    let mut circles = Vec::new();
    for (a, to) in &g.edges {
        for b in to {
            if a < b && g.edges.get(b).is_some_and(|back| back.contains(a)) {
                circles.push(format!("{a} <-> {b}"));
            }
        }
    }
    assert!(
        circles.is_empty(),
        "files importing each other: {circles:#?}"
    );
}

#[test]
fn top_level_modules_form_layers() {
    let g = graph();
    let mut layers: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (from, to) in &g.edges {
        let entry = layers.entry(top(from)).or_default();
        for t in to {
            if top(t) != top(from) {
                entry.insert(top(t));
            }
        }
    }
    println!("top-level module graph (module -> what it imports):");
    for (m, to) in &layers {
        println!(
            "  {m:8} -> {}",
            to.iter().copied().collect::<Vec<_>>().join(", ")
        );
    }
    // Peel off modules that import nothing left; what stays is a cycle.
    let mut left = layers.clone();
    let mut order = Vec::new();
    while !left.is_empty() {
        let ready: Vec<&str> = left
            .iter()
            .filter(|(_, to)| to.iter().all(|t| !left.contains_key(t)))
            .map(|(m, _)| *m)
            .collect();
        assert!(
            !ready.is_empty(),
            "top-level modules import each other in a cycle: {left:#?}"
        );
        for m in ready {
            left.remove(m);
            order.push(m);
        }
    }
    println!("layers, bottom up: {}", order.join(" < "));
}
