//! The shape of the code, as `src/lib.rs` maps it, kept true by a test: every
//! file of `src/` belongs to one layer, and may use only the layers its rule
//! allows. A failure names the file, the line and the path that points the
//! wrong way.
//!
//! Dependencies are read from the code as written (not from `use` lines
//! alone): every `crate::…` and `super::…` path outside comments and string
//! literals, grouped imports (`use crate::{a, b::c}`) included. The rules are
//! the table [`LAYERS`]; what a layer may never mention besides (clap, `Ctx`,
//! a flag of rez-db's) is [`forbidden`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Layers, from the top. A layer may use itself and the layers it lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Layer {
    /// main.rs, lib.rs, cli.rs, context.rs, commands/: parse, build options,
    /// call one operation, render its report.
    Face,
    /// output/: tables, JSON, progress bars.
    Output,
    /// One folder per operation: options and store handles in, a report out.
    Operation,
    /// Pure, no I/O, no async: the business rules, migration planning,
    /// definitions, partition naming and planning, the progress trait.
    Core,
    /// One adapter per datastore.
    Store,
    /// config/, secret.rs, error.rs.
    Bottom,
}

use Layer::*;

/// What each layer may use besides itself.
const LAYERS: &[(Layer, &[Layer])] = &[
    (Face, &[Output, Operation, Core, Store, Bottom]),
    (Output, &[Core, Bottom]),
    (Operation, &[Core, Store, Bottom]),
    (Core, &[Bottom]),
    (Store, &[Core, Bottom]),
    (Bottom, &[]),
];

/// The layer of a top-level module (`crate::<name>`), or of a file of `src/`.
fn layer_of_module(name: &str) -> Option<Layer> {
    Some(match name {
        "main" | "lib" | "cli" | "context" | "commands" | "targets" | "Ctx" | "run" => Face,
        "output" => Output,
        "backup" | "import" | "seed" | "validate" | "search" | "provision" | "migrate"
        | "expire" | "audit" | "rotate" | "status" | "oplog" | "fanout" => Operation,
        "domain" | "migration" | "definitions" | "partition" | "progress" | "lint" => Core,
        "store" => Store,
        "config" | "secret" | "error" => Bottom,
        _ => return None,
    })
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/store/pg/lock.rs` -> ["store", "pg", "lock"]; `mod.rs` names its folder.
fn module_path(file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src()).unwrap();
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The code of a Rust file with comments and the contents of string and
/// char literals blanked (kept the same length, so lines stay where they were).
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let end = text[i..].find('\n').map_or(b.len(), |e| i + e);
                blank(&mut out, i, end);
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
                blank(&mut out, i, end);
                i = end;
            }
            b'r' if b.get(i + 1) == Some(&b'"') || (b.get(i + 1) == Some(&b'#')) => {
                // raw string r"..." or r#"..."#
                let mut j = i + 1;
                let mut hashes = 0;
                while b.get(j) == Some(&b'#') {
                    hashes += 1;
                    j += 1;
                }
                if b.get(j) != Some(&b'"')
                    || (i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
                {
                    i += 1;
                    continue;
                }
                let closing = format!("\"{}", "#".repeat(hashes));
                let end = text[j + 1..]
                    .find(&closing)
                    .map_or(b.len(), |e| j + 1 + e + closing.len());
                blank(&mut out, j + 1, end.saturating_sub(closing.len()));
                i = end;
            }
            b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    if b[j] == b'\\' {
                        j += 1;
                    }
                    j += 1;
                }
                blank(&mut out, i + 1, j.min(b.len()));
                i = j + 1;
            }
            b'\'' => {
                // a char literal ('a', '\n', '\''), not a lifetime ('a)
                let close = if b.get(i + 1) == Some(&b'\\') {
                    text[i + 2..].find('\'').map(|e| i + 2 + e)
                } else if b.get(i + 2) == Some(&b'\'') {
                    Some(i + 2)
                } else {
                    None
                };
                match close {
                    Some(end) => {
                        blank(&mut out, i + 1, end);
                        i = end + 1;
                    }
                    None => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    String::from_utf8(out).unwrap()
}

/// The string literals of a file, with their line numbers (for the flag rule).
fn string_literals(text: &str) -> Vec<(usize, String)> {
    let code = code_only(text);
    let (t, c) = (text.as_bytes(), code.as_bytes());
    let mut out = Vec::new();
    let mut i = 0;
    while i < t.len() {
        if t[i] == b'"' && c[i] == b'"' {
            let start = i + 1;
            let mut j = start;
            while j < t.len() && !(t[j] == b'"' && c[j] == b'"') {
                j += 1;
            }
            let line = text[..i].matches('\n').count() + 1;
            out.push((line, text[start..j.min(t.len())].to_string()));
            i = j + 1;
        } else {
            i += 1;
        }
    }
    out
}

/// Every path a file uses, as (line, the first module segment after
/// resolving `crate::` / `super::`, the path as written).
fn dependencies(file: &Path, text: &str) -> Vec<(usize, String, String)> {
    let code = code_only(text);
    let own = module_path(file);
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let word_start = |i: usize| {
        i == 0
            || !(bytes[i - 1].is_ascii_alphanumeric()
                || bytes[i - 1] == b'_'
                || bytes[i - 1] == b':')
    };
    for (i, _) in code.match_indices("crate::") {
        if !word_start(i) {
            continue;
        }
        let line = code[..i].matches('\n').count() + 1;
        let rest = &code[i + "crate::".len()..];
        for first in first_segments(rest) {
            out.push((line, first.clone(), format!("crate::{first}")));
        }
    }
    for (i, _) in code.match_indices("super::") {
        if !word_start(i) {
            continue;
        }
        let line = code[..i].matches('\n').count() + 1;
        // Count the chain of `super::`.
        let mut rest = &code[i..];
        let mut ups = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            ups += 1;
            rest = r;
        }
        // `super` of the module a file is (`mod.rs` is its folder's module).
        let mut base = own.clone();
        for _ in 0..ups {
            base.pop();
        }
        if !base.is_empty() {
            // Still inside the same top-level module.
            continue;
        }
        for first in first_segments(rest) {
            out.push((line, first.clone(), format!("super::{first}")));
        }
    }
    out
}

/// The first segment of a path (`config::Config` -> `config`), or of each
/// item of a group (`{config::Config, store::pg}` -> `config`, `store`).
fn first_segments(rest: &str) -> Vec<String> {
    if let Some(group) = rest.strip_prefix('{') {
        let mut depth = 1;
        let mut end = 0;
        for (k, ch) in group.char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = k;
                        break;
                    }
                }
                _ => {}
            }
        }
        let inner = &group[..end];
        let mut items = Vec::new();
        let mut depth = 0;
        let mut start = 0;
        for (k, ch) in inner.char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(&inner[start..k]);
                    start = k + 1;
                }
                _ => {}
            }
        }
        items.push(&inner[start..]);
        return items
            .into_iter()
            .filter_map(|item| {
                let item = item.trim();
                let name: String = item
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                (!name.is_empty() && name != "self").then_some(name)
            })
            .collect();
    }
    let name: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if name.is_empty() {
        Vec::new()
    } else {
        vec![name]
    }
}

/// rez-db's own long flags, read from the clap definitions of the face.
fn rez_flags() -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(&src().join("commands"), &mut files);
    files.push(src().join("cli.rs"));
    let mut flags = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (k, line) in lines.iter().enumerate() {
            let line = line.trim();
            if !(line.starts_with("#[arg(") && line.contains("long")) {
                continue;
            }
            if let Some(explicit) = line.split("long = \"").nth(1) {
                flags.insert(explicit.split('"').next().unwrap().to_string());
                continue;
            }
            // `#[arg(long ...)]` names the field that follows.
            if let Some(field) = lines[k + 1..]
                .iter()
                .map(|l| l.trim())
                .find(|l| l.starts_with("pub ") && l.contains(':'))
            {
                let name = field["pub ".len()..].split(':').next().unwrap().trim();
                flags.insert(name.replace('_', "-"));
            }
        }
    }
    flags
}

/// What a file of `layer` must never mention, whatever it imports.
fn forbidden(layer: Layer, code: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut check = |needle: &str, why: &str| {
        for (i, _) in code.match_indices(needle) {
            let line = code[..i].matches('\n').count() + 1;
            out.push((line, format!("`{needle}`: {why}")));
        }
    };
    if layer != Face {
        check("clap::", "only the face parses the command line");
        check(
            "Ctx",
            "an operation gets its options and store handles, never the context",
        );
    }
    if layer == Core {
        check("async fn", "the core is synchronous");
        check("sqlx::", "the core does no I/O");
        check("tokio::", "the core does no I/O");
        check("std::fs", "the core does no I/O");
        check("std::process", "the core does no I/O");
    }
    out
}

/// A string literal that names one of rez-db's flags (a hint such as "pass
/// --lock-wait SECONDS"): only the face knows the flags. A literal that
/// starts with `--` is an argument of a child tool (pg_dump's `--table=`),
/// and so is a flag right after a tool's name (`pg_restore --list`).
fn names_a_flag(literal: &str, flags: &BTreeSet<String>) -> Option<String> {
    if literal.trim_start().starts_with("--") {
        return None;
    }
    const TOOLS: [&str; 3] = ["pg_dump ", "pg_restore ", "psql "];
    for (i, _) in literal.match_indices("--") {
        if TOOLS.iter().any(|t| literal[..i].ends_with(t)) {
            continue;
        }
        let name: String = literal[i + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if flags.contains(&name) {
            return Some(format!("--{name}"));
        }
    }
    None
}

/// For a file of `commands/`: another command module it uses, if any.
fn calls_another_command(file: &Path, code: &str) -> Option<String> {
    let path = module_path(file);
    if path.first().map(String::as_str) != Some("commands") || path.len() != 2 {
        return None;
    }
    let own = &path[1];
    let mut used = Vec::new();
    for (i, _) in code.match_indices("crate::commands::") {
        used.extend(first_segments(&code[i + "crate::commands::".len()..]));
    }
    for (i, _) in code.match_indices("super::") {
        if i > 0 && code.as_bytes()[i - 1] == b':' {
            continue;
        }
        used.extend(first_segments(&code[i + "super::".len()..]));
    }
    // `commands::render` is no command: the renderings commands share.
    used.into_iter()
        .find(|m| m != own && m != "super" && m != "render")
}

fn layer_of_file(file: &Path) -> Layer {
    let path = module_path(file);
    let top = path.first().cloned().unwrap_or_default();
    layer_of_module(&top).unwrap_or_else(|| {
        panic!(
            "{}: a module of no layer; add `{top}` to layer_of_module in tests/architecture.rs \
             (and to the map in src/lib.rs)",
            file.display()
        )
    })
}

#[test]
fn every_file_uses_only_the_layers_below_it() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.sort();
    let flags = rez_flags();
    assert!(
        flags.contains("lock-wait"),
        "the flags were not found: {flags:?}"
    );
    let mut wrong = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let layer = layer_of_file(file);
        let allowed = LAYERS.iter().find(|(l, _)| *l == layer).unwrap().1;
        let shown = file
            .strip_prefix(src().parent().unwrap())
            .unwrap()
            .display()
            .to_string();
        for (line, module, written) in dependencies(file, &text) {
            let Some(target) = layer_of_module(&module) else {
                continue; // a macro-generated or external path
            };
            if target == layer || allowed.contains(&target) {
                continue;
            }
            wrong.push(format!(
                "{shown}:{line}: {layer:?} uses `{written}` ({target:?})"
            ));
        }
        for (line, what) in forbidden(layer, &code_only(&text)) {
            wrong.push(format!("{shown}:{line}: {layer:?} mentions {what}"));
        }
        if module_path(file).first().map(String::as_str) == Some("commands") {
            let code = code_only(&text);
            for needle in ["sqlx", "crate::store"] {
                for (i, _) in code.match_indices(needle) {
                    let line = code[..i].matches('\n').count() + 1;
                    wrong.push(format!(
                        "{shown}:{line}: a command mentions `{needle}`: the work on a store is its operation's"
                    ));
                }
            }
        }
        if let Some(other) = calls_another_command(file, &code_only(&text)) {
            wrong.push(format!(
                "{shown}: a command uses the command `{other}`: a command calls one operation, never another command"
            ));
        }
        if matches!(layer, Operation | Core | Store) {
            for (line, literal) in string_literals(&text) {
                if let Some(flag) = names_a_flag(&literal, &flags) {
                    wrong.push(format!(
                        "{shown}:{line}: {layer:?} names the flag {flag}: hints naming flags are added by the face"
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} dependencies point the wrong way (see the map in src/lib.rs):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn the_scanner_reads_grouped_paths_and_skips_comments_and_strings() {
    let text = "use crate::{config::Config, store::{pg, redis}};\n\
                // crate::commands in a comment\n\
                let s = \"crate::cli in a string\";\n\
                let x = crate::output::table();\n";
    let file = src().join("store/pg/example.rs");
    let found: Vec<String> = dependencies(&file, text).into_iter().map(|d| d.1).collect();
    assert_eq!(found, ["config", "store", "output"]);
    let up = "use super::super::Ctx;\n";
    let file = src().join("backup/restore.rs");
    let found: Vec<String> = dependencies(&file, up).into_iter().map(|d| d.1).collect();
    assert_eq!(
        found,
        ["Ctx"],
        "super:: out of the top-level module is resolved"
    );
    let flags: BTreeSet<String> = ["lock-wait".to_string()].into();
    assert_eq!(
        names_a_flag("or pass --lock-wait SECONDS", &flags).as_deref(),
        Some("--lock-wait")
    );
    assert_eq!(names_a_flag("--lock-wait-timeout=5", &flags), None);
    assert_eq!(names_a_flag("pg_restore --lock-wait", &flags), None);
}
