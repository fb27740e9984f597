//! node-daemon's top-level modules (`config`, `driver`, `local`, `peer`, `metrics`, `server`,
//! …; a directory module with all its files counts as one) import each other without a
//! cycle: each depends only on modules below it (ARCHITECTURE.md, "Invariants"). The graph is
//! read from the sources at test time: every path through `crate::` (or `$crate::`, or a
//! `super::` that climbs to the crate root) that names another top-level module, in code,
//! not in comments or strings, test code included; a name lib.rs re-exports counts as its
//! module. A new import that closes a circle fails here with the circle and the files that
//! make each step of it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module's imports: the other module, and the files of this one that name it.
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

#[test]
fn top_level_modules_import_each_other_without_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph_of(&src);
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "node-daemon's top-level modules import each other in a circle:\n{}\n\
             Move what both sides need below both of them, or hand it over at start-up \
             (as the driver holds the peer layer as a Network and the direct path as a \
             DirectPath).\n\nThe graph:\n{}",
            describe(&graph, &cycle),
            show(&graph)
        );
    }
    // The reader must see the imports there are, or an empty graph would pass.
    for (from, to) in [("local", "driver"), ("peer", "driver"), ("server", "local")] {
        assert!(
            graph.get(from).is_some_and(|d| d.contains_key(to)),
            "{from} -> {to} not found: the module reader is broken\n{}",
            show(&graph)
        );
    }
}

/// The checker itself: a circle through a `{…}` group, a `super::` that reaches the root and
/// a re-export of lib.rs are found; imports that stay inside a module, or are only in
/// comments, strings or `pub(crate)`, are not imports.
#[test]
fn the_checker_finds_circles_and_only_real_imports() {
    let lib = "pub mod a;\nmod b;\npub mod c;\npub use c::Thing;\n";
    let a = "use crate::{b::X, self as _};\n// crate::c::Y\nlet s = \"crate::c\";\n\
             let r = r#\"crate::c\"#; let c = '\"'; let q = '\\''; let t = \"crate::c\";\n\
             pub(crate) fn f<'a>(x: &'a u8) {}\n";
    let b = "mod inner { use super::super::c::Z; }\nfn g() { super::super::a::h(); }\n";
    let b_sub = "use super::B; use crate::b::Q;\n";
    let files = [
        ("a.rs", a),
        ("b/mod.rs", b),
        ("b/sub.rs", b_sub),
        ("c.rs", "fn h() -> crate::Thing { todo!() }\n"),
    ];
    let graph = graph_from(lib, &files);
    let deps = |m: &str| graph[m].keys().map(String::as_str).collect::<Vec<_>>();
    assert_eq!(deps("a"), ["b"], "{}", show(&graph));
    assert_eq!(deps("b"), ["c"], "{}", show(&graph));
    assert!(deps("c").is_empty(), "{}", show(&graph));
    assert_eq!(find_cycle(&graph), None);

    let files = [
        ("a.rs", a),
        ("b/mod.rs", b),
        ("c.rs", "fn h() { $crate::a::f(); }\n"),
    ];
    let graph = graph_from(lib, &files);
    let cycle = find_cycle(&graph).expect("a -> b -> c -> a");
    assert_eq!(describe(&graph, &cycle).lines().count(), 3, "{cycle:?}");
}

/// The graph of the crate whose sources are under `src`.
fn graph_of(src: &Path) -> Graph {
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("src/lib.rs");
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let texts: Vec<(String, String)> = files
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(src).unwrap_or(p);
            let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
            (rel.to_string_lossy().into_owned(), text)
        })
        .collect();
    let texts: Vec<(&str, &str)> = texts.iter().map(|(p, t)| (&p[..], &t[..])).collect();
    graph_from(&lib, &texts)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir:?}: {e}"))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The graph of a crate given its lib.rs and its other files (paths relative to `src/`).
/// `main.rs` is the binary, not a module of the library: it is left out.
fn graph_from(lib: &str, files: &[(&str, &str)]) -> Graph {
    let lib_tokens = tokens(lib);
    let modules = declared_modules(&lib_tokens);
    let reexports = reexports(&lib_tokens, &modules);
    let mut graph: Graph = modules
        .iter()
        .map(|m| (m.clone(), BTreeMap::new()))
        .collect();
    for (path, text) in files {
        let parts: Vec<&str> = path.split('/').collect();
        let top = parts[0].strip_suffix(".rs").unwrap_or(parts[0]);
        if !modules.contains(top) {
            continue;
        }
        // How deep the file's module is below the root: `x.rs`, `x/mod.rs` 1, `x/y.rs` 2.
        let depth = parts.len() - usize::from(parts.last() == Some(&"mod.rs"));
        for name in root_names(&tokens(text), depth) {
            let target = match reexports.get(&name) {
                Some(m) => m.clone(),
                None => name,
            };
            if modules.contains(&target) && target != top {
                let files = graph.entry(top.to_owned()).or_default();
                files.entry(target).or_default().insert((*path).to_owned());
            }
        }
    }
    graph
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    /// `::`
    Path,
    Punct(char),
}

/// The tokens of Rust source that matter here: identifiers (`crate`, `super`, `self` and
/// keywords included), `::` and single punctuation; comments, strings, characters, numbers
/// and lifetimes are dropped.
fn tokens(text: &str) -> Vec<Token> {
    let c: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if let Some(end) = raw_string_end(&c, i) {
            i = end;
        } else if ch == '"' || (ch == 'b' && at(i + 1) == '"') {
            i += if ch == 'b' { 2 } else { 1 };
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if ch == '\'' || (ch == 'b' && at(i + 1) == '\'') {
            // A character literal ('x', '\n', '\u{1F600}', b'x') or a lifetime ('a).
            let start = if ch == 'b' { i + 1 } else { i };
            if at(start + 1) == '\\' {
                // The escaped character may itself be a quote: `'\''`.
                let mut j = start + 3;
                while j < c.len() && c[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
            } else if at(start + 2) == '\'' {
                i = start + 3;
            } else {
                i = start + 1;
            }
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Token::Ident(c[start..i].iter().collect()));
        } else if ch.is_ascii_digit() {
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == '.') {
                if c[i] == '.' && !at(i + 1).is_ascii_digit() {
                    break;
                }
                i += 1;
            }
        } else if ch == ':' && at(i + 1) == ':' {
            out.push(Token::Path);
            i += 2;
        } else {
            out.push(Token::Punct(ch));
            i += 1;
        }
    }
    out
}

/// If a raw string (`r"…"`, `r#"…"#`, `br#"…"#`) starts at `i`, the index after it.
fn raw_string_end(c: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    if c.get(j) == Some(&'b') {
        j += 1;
    }
    if c.get(j) != Some(&'r') || (i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_')) {
        return None;
    }
    j += 1;
    let hashes = c[j..].iter().take_while(|&&x| x == '#').count();
    j += hashes;
    if c.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < c.len() {
        if c[j] == '"'
            && c[j + 1..]
                .iter()
                .take(hashes)
                .filter(|&&x| x == '#')
                .count()
                == hashes
        {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(c.len())
}

fn ident(t: Option<&Token>) -> Option<&str> {
    match t {
        Some(Token::Ident(s)) => Some(s),
        _ => None,
    }
}

/// The modules lib.rs declares (`mod x;`, `pub mod x;`, `pub(crate) mod x;`).
fn declared_modules(lib: &[Token]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, t) in lib.iter().enumerate() {
        if *t == Token::Ident("mod".into())
            && let Some(name) = ident(lib.get(i + 1))
            && lib.get(i + 2) == Some(&Token::Punct(';'))
        {
            out.insert(name.to_owned());
        }
    }
    out
}

/// Names lib.rs re-exports from a module (`pub use config::Config;`, `pub use server::{…}`),
/// with the module they come from.
fn reexports(lib: &[Token], modules: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (i, t) in lib.iter().enumerate() {
        if *t != Token::Ident("use".into()) {
            continue;
        }
        let Some(module) = ident(lib.get(i + 1)).filter(|m| modules.contains(*m)) else {
            continue;
        };
        let mut j = i + 2;
        while j < lib.len() && lib[j] != Token::Punct(';') {
            // The last name of each item (an `as` alias included) is what the root holds.
            if let Token::Ident(name) = &lib[j]
                && matches!(lib.get(j + 1), Some(Token::Punct(',' | '}' | ';')))
            {
                out.insert(name.clone(), module.to_owned());
            }
            j += 1;
        }
    }
    out
}

/// The names right below the crate root that a file at `depth` reaches: `crate::x`,
/// `$crate::x`, `crate::{x, y::z}`, and `super::…::x` where the `super`s climb to the root
/// (inline modules such as `mod tests { … }` count as one level more).
fn root_names(t: &[Token], depth: usize) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    // Brace depths at which inline modules were opened.
    let mut inline: Vec<usize> = Vec::new();
    let mut braces = 0usize;
    let mut i = 0;
    while i < t.len() {
        match &t[i] {
            Token::Punct('{') => braces += 1,
            Token::Punct('}') => {
                braces = braces.saturating_sub(1);
                while inline.last().is_some_and(|&d| d > braces) {
                    inline.pop();
                }
            }
            Token::Ident(k)
                if k == "mod"
                    && ident(t.get(i + 1)).is_some()
                    && t.get(i + 2) == Some(&Token::Punct('{')) =>
            {
                inline.push(braces + 1);
            }
            Token::Ident(k) if k == "crate" && t.get(i + 1) == Some(&Token::Path) => {
                names_after(t, i + 2, &mut out);
            }
            // `super` at the start of a path (not `x::super`).
            Token::Ident(k) if k == "super" && (i == 0 || t[i - 1] != Token::Path) => {
                let mut ups = 0;
                let mut j = i;
                while ident(t.get(j)) == Some("super") && t.get(j + 1) == Some(&Token::Path) {
                    ups += 1;
                    j += 2;
                }
                if ups == depth + inline.len() {
                    names_after(t, j, &mut out);
                }
                i = j.max(i + 1);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The first name of the path at `i` (right after `crate::`), or of each item of a `{…}`
/// group there (nested groups are below that first name: not needed).
fn names_after(t: &[Token], i: usize, out: &mut BTreeSet<String>) {
    match t.get(i) {
        Some(Token::Ident(name)) => {
            out.insert(name.clone());
        }
        Some(Token::Punct('{')) => {
            let mut depth = 0;
            let mut item_start = true;
            for tok in &t[i..] {
                match tok {
                    Token::Punct('{') => {
                        depth += 1;
                        if depth == 1 {
                            item_start = true;
                            continue;
                        }
                    }
                    Token::Punct('}') => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    Token::Punct(',') if depth == 1 => {
                        item_start = true;
                        continue;
                    }
                    Token::Ident(name) if depth == 1 && item_start => {
                        out.insert(name.clone());
                    }
                    _ => {}
                }
                item_start = false;
            }
        }
        _ => {}
    }
}

/// A circle of imports (`[a, b, c]` for a -> b -> c -> a), if there is one.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    fn visit(
        graph: &Graph,
        m: &str,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(m.to_owned(), Mark::OnPath);
        path.push(m.to_owned());
        for next in graph.get(m).into_iter().flat_map(BTreeMap::keys) {
            match marks.get(next).copied().unwrap_or(Mark::New) {
                Mark::OnPath => {
                    let start = path.iter().position(|p| p == next).unwrap_or(0);
                    return Some(path[start..].to_vec());
                }
                Mark::New => {
                    if let Some(cycle) = visit(graph, next, marks, path) {
                        return Some(cycle);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks.insert(m.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for m in graph.keys() {
        if marks.get(m).copied().unwrap_or(Mark::New) == Mark::New
            && let Some(cycle) = visit(graph, m, &mut marks, &mut Vec::new())
        {
            return Some(cycle);
        }
    }
    None
}

/// One line per step of `cycle`: `a -> b (files of a that name b)`.
fn describe(graph: &Graph, cycle: &[String]) -> String {
    let mut out = String::new();
    for (k, from) in cycle.iter().enumerate() {
        let to = &cycle[(k + 1) % cycle.len()];
        let files: Vec<&str> = graph[from][to].iter().map(String::as_str).collect();
        out += &format!("  {from} -> {to} ({})\n", files.join(", "));
    }
    out
}

fn show(graph: &Graph) -> String {
    let mut out = String::new();
    for (m, deps) in graph {
        let deps: Vec<&str> = deps.keys().map(String::as_str).collect();
        out += &format!("  {m} -> {}\n", deps.join(", "));
    }
    out
}
