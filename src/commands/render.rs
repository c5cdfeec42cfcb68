//! Renderings several commands share: the object rows of `create`, `migrate`
//! and `migrate status` (one row per database, extension, role, collection,
//! index, layout marker or Elasticsearch index, whatever the store).
//!
//! Part of the face, and not a command: it renders reports, calls no
//! operation and never touches a store.

use std::io::{self, Write};

use crate::output::table;
use crate::provision::ObjectRow;

/// The rows as a table, then one line per row that has a detail; nothing
/// at all when there are no rows.
pub fn objects(rows: &[ObjectRow], out: &mut dyn Write) -> io::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut t = table(["store", "kind", "name", "action"]);
    for r in rows {
        t.add_row([r.store, r.kind, &r.name, r.action.as_str()]);
    }
    writeln!(out, "{t}")?;
    objects_details(rows, out)
}

/// One line per row that carries a detail (refusals, drift, alias targets).
/// A remedy the command has not worded yet (`cli::word_object_remedies`) is
/// worded here, so the table never shows a detail without its way out.
pub fn objects_details(rows: &[ObjectRow], out: &mut dyn Write) -> io::Result<()> {
    for r in rows.iter().filter(|r| r.detail.is_some()) {
        let detail = r.detail.as_deref().unwrap_or_default();
        let detail = match r.remedy.clone() {
            Some(remedy) => crate::cli::object_detail(detail, remedy),
            None => detail.to_string(),
        };
        writeln!(
            out,
            "{} {} {}: {}: {detail}",
            r.store,
            r.kind,
            r.name,
            r.action.as_str()
        )?;
    }
    Ok(())
}

/// Milliseconds as seconds with one decimal: `21.4 s`.
pub fn seconds(ms: u64) -> String {
    format!("{}.{} s", ms / 1000, ms % 1000 / 100)
}
