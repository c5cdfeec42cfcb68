//! What the statements linted so far made: the little of the schema the rules
//! need (which file created a table, its columns' types, its indexes and
//! CHECK constraints, its DEFAULT partition). Built from the parse trees
//! alone; what a DO block or a function creates is not seen.

use std::collections::HashMap;

/// A column type as the parser normalises it: `integer` is `int4`,
/// `double precision` is `float8`, `decimal(10,2)` is `numeric` with `[10, 2]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Type {
    pub name: String,
    pub mods: Vec<i64>,
    pub array: bool,
}

impl Type {
    pub fn is_float(&self) -> bool {
        !self.array && matches!(self.name.as_str(), "float4" | "float8" | "money")
    }

    pub fn is_numeric(&self) -> bool {
        !self.array && self.name == "numeric"
    }

    /// `numeric(10,2)`, `varchar(255)`, `int4`: as a message shows it.
    pub fn display(&self) -> String {
        let mods = match self.mods.is_empty() {
            true => String::new(),
            false => format!(
                "({})",
                self.mods
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        };
        format!("{}{mods}{}", self.name, if self.array { "[]" } else { "" })
    }
}

#[derive(Debug, Clone, Default)]
pub struct Table {
    /// The index of the file that created it.
    pub file: usize,
    pub columns: HashMap<String, Type>,
    pub has_default_partition: bool,
    /// CHECK constraints by name: the column a `col IS NOT NULL` check
    /// proves, and whether the check is valid.
    pub checks: HashMap<String, Check>,
}

#[derive(Debug, Clone, Default)]
pub struct Check {
    pub not_null_column: Option<String>,
    pub valid: bool,
}

#[derive(Debug, Clone)]
pub struct Index {
    pub table: String,
    pub concurrent: bool,
}

#[derive(Debug, Default)]
pub struct Schema {
    pub tables: HashMap<String, Table>,
    pub indexes: HashMap<String, Index>,
}

impl Schema {
    /// A table that the file `file` did not create: it may hold rows and be
    /// in use. A table lint never saw created counts as existing.
    pub fn existing(&self, table: &str, file: usize) -> bool {
        self.tables.get(table).is_none_or(|t| t.file != file)
    }

    pub fn create_table(&mut self, name: &str, file: usize) -> &mut Table {
        self.tables.insert(
            name.to_string(),
            Table {
                file,
                ..Table::default()
            },
        );
        self.tables.get_mut(name).expect("just inserted")
    }

    /// The table, known or not (a table lint never saw is tracked from its first ALTER).
    pub fn table_mut(&mut self, name: &str) -> &mut Table {
        self.tables
            .entry(name.to_string())
            .or_insert_with(|| Table {
                file: usize::MAX,
                ..Table::default()
            })
    }

    pub fn column_type(&self, table: &str, column: &str) -> Option<&Type> {
        self.tables.get(table)?.columns.get(column)
    }

    /// A valid CHECK proves `column` of `table` holds no NULL.
    pub fn proven_not_null(&self, table: &str, column: &str) -> bool {
        self.tables.get(table).is_some_and(|t| {
            t.checks
                .values()
                .any(|c| c.valid && c.not_null_column.as_deref() == Some(column))
        })
    }

    pub fn drop_table(&mut self, name: &str) {
        self.tables.remove(name);
        self.indexes.retain(|_, i| i.table != name);
    }
}
