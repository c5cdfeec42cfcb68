//! The rules, applied statement by statement in run order. Each handler
//! first checks the statement against the schema as the earlier statements
//! left it, then records what the statement changes.

use std::collections::HashSet;

use pg_query::protobuf::{
    self as pb, AlterTableType as At, ConstrType, ObjectType, TransactionStmtKind as Tx,
};
use pg_query::{Node, NodeEnum};

use super::model::{Check, Index, Schema, Type};
use super::parse::{Lines, Statement};
use super::rules::{self, Rule};
use super::{one_line, Options};
use crate::domain::ledger::LEDGER_TABLES;

/// A finding before ignores: the statement's position is the one an ignore names.
#[derive(Debug, Clone)]
pub struct Raw {
    pub rule: &'static Rule,
    /// The statement's first line: what an ignore names.
    pub statement_line: usize,
    /// Where the finding points (a column definition, or the statement).
    pub line: usize,
    pub column: usize,
    pub statement: String,
    pub detail: String,
}

/// Functions whose value differs per row: a default calling one makes
/// ADD COLUMN rewrite the table. (A non-volatile default such as now() is
/// stored once in the catalog since PostgreSQL 11.)
const VOLATILE: &[&str] = &[
    "random",
    "random_normal",
    "gen_random_uuid",
    "gen_random_bytes",
    "uuid_generate_v1",
    "uuid_generate_v1mc",
    "uuid_generate_v4",
    "clock_timestamp",
    "timeofday",
    "nextval",
    "txid_current",
    "pg_current_xact_id",
    "setseed",
];

/// Words of a column name that say it holds money.
const MONEY_WORDS: &[&str] = &[
    "amount",
    "amounts",
    "price",
    "prices",
    "total",
    "totals",
    "subtotal",
    "fee",
    "fees",
    "discount",
    "discounts",
    "balance",
    "balances",
    "value",
    "values",
    "spend",
];

/// The transaction a statement runs in (the whole transactional file, or a
/// BEGIN ... COMMIT block of a no-transaction file).
#[derive(Debug, Default)]
struct Txn {
    /// Existing tables this transaction ran DDL on.
    ddl: HashSet<String>,
    /// Existing tables this transaction backfilled.
    dml: HashSet<String>,
    /// (table, constraint) added NOT VALID in this transaction.
    not_valid: HashSet<(String, String)>,
    /// Where an explicit BEGIN was (no-transaction files).
    begin: Option<(usize, usize, String)>,
}

struct FileCheck<'a> {
    lines: Lines<'a>,
    schema: &'a mut Schema,
    file: usize,
    no_transaction: bool,
    txn: Option<Txn>,
    lock_timeout: bool,
    options: Options,
    out: Vec<Raw>,
    /// The statement being checked already has its lock-timeout finding.
    lock_reported: bool,
}

/// Checks one file's statements and records what they make in `schema`.
pub fn file(
    sql: &str,
    schema: &mut Schema,
    file: usize,
    no_transaction: bool,
    statements: &[Statement],
    options: Options,
) -> Vec<Raw> {
    let mut check = FileCheck {
        lines: Lines::new(sql),
        schema,
        file,
        no_transaction,
        txn: (!no_transaction).then(Txn::default),
        lock_timeout: false,
        options,
        out: Vec::new(),
        lock_reported: false,
    };
    for s in statements {
        check.lock_reported = false;
        check.statement(s);
    }
    if let Some((line, column, statement)) = check.txn.take().and_then(|t| t.begin) {
        check.out.push(Raw {
            rule: &rules::TRANSACTION_CONTROL,
            statement_line: line,
            line,
            column,
            statement,
            detail: "BEGIN without a COMMIT before the end of the file".into(),
        });
    }
    check.out
}

impl FileCheck<'_> {
    fn push(&mut self, s: &Statement, rule: &'static Rule, detail: String) {
        self.push_at(s, -1, rule, detail);
    }

    /// A finding at `location` (a parser location, -1 for the statement's start).
    fn push_at(&mut self, s: &Statement, location: i32, rule: &'static Rule, detail: String) {
        let (line, column) = match usize::try_from(location) {
            Ok(at) => self.lines.at(s.base + at),
            Err(_) => (s.line, s.column),
        };
        self.out.push(Raw {
            rule,
            statement_line: s.line,
            line,
            column,
            statement: one_line(&s.text),
            detail,
        });
    }

    fn existing(&self, table: &str) -> bool {
        self.schema.existing(table, self.file)
    }

    fn statement(&mut self, s: &Statement) {
        match &s.node {
            NodeEnum::CreateStmt(c) => self.create_table(s, c),
            NodeEnum::CreateTableAsStmt(c) => {
                if let Some(rel) = c.into.as_ref().and_then(|i| i.rel.as_ref()) {
                    self.schema.create_table(&rel.relname, self.file);
                }
            }
            NodeEnum::IndexStmt(i) => self.create_index(s, i),
            NodeEnum::AlterTableStmt(a) => self.alter_table(s, a),
            NodeEnum::RenameStmt(r) => self.rename(s, r),
            NodeEnum::DropStmt(d) => self.drop(s, d),
            NodeEnum::DropdbStmt(d) => self.push(
                s,
                &rules::DROP_DATABASE,
                format!("DROP DATABASE {}", d.dbname),
            ),
            NodeEnum::TruncateStmt(t) => self.truncate(s, t),
            NodeEnum::UpdateStmt(u) => {
                let table = relname(&u.relation);
                if u.where_clause.is_none() && self.existing(&table) {
                    let detail = format!("UPDATE {table} without WHERE");
                    self.push(s, &rules::UPDATE_WITHOUT_WHERE, detail);
                }
                self.backfill(s, &table);
            }
            NodeEnum::DeleteStmt(d) => {
                let table = relname(&d.relation);
                if d.where_clause.is_none() && self.existing(&table) {
                    let detail = format!("DELETE FROM {table} without WHERE");
                    self.push(s, &rules::DELETE_WITHOUT_WHERE, detail);
                }
                self.backfill(s, &table);
            }
            NodeEnum::InsertStmt(i) => {
                let from_rows = matches!(
                    i.select_stmt.as_deref().and_then(|n| n.node.as_ref()),
                    Some(NodeEnum::SelectStmt(sel)) if !sel.from_clause.is_empty()
                );
                if from_rows {
                    self.backfill(s, &relname(&i.relation));
                }
            }
            NodeEnum::TransactionStmt(t) => self.transaction(s, t),
            NodeEnum::VariableSetStmt(v) if v.name.eq_ignore_ascii_case("lock_timeout") => {
                // `SET lock_timeout = 0` (or DEFAULT) turns it off again.
                let zero = v.args.iter().any(|a| {
                    int_const(a) == Some(0) || string_const(a).is_some_and(|t| t.trim() == "0")
                });
                self.lock_timeout = !zero && !v.args.is_empty();
            }
            NodeEnum::AlterDomainStmt(d) if d.subtype == "C" => {
                if let Some(NodeEnum::Constraint(c)) =
                    d.def.as_deref().and_then(|n| n.node.as_ref())
                {
                    if !c.skip_validation {
                        let name = names(&d.type_name).join(".");
                        let detail =
                            format!("ALTER DOMAIN {name} ADD CONSTRAINT without NOT VALID");
                        self.push(s, &rules::DOMAIN_CONSTRAINT, detail);
                    }
                }
            }
            NodeEnum::CreateTrigStmt(t) => {
                let table = relname(&t.relation);
                self.needs_lock(s, &table);
                self.ddl(s, &table);
            }
            NodeEnum::CreatePolicyStmt(p) => {
                let table = relname(&p.table);
                self.needs_lock(s, &table);
                self.ddl(s, &table);
            }
            _ => {}
        }
    }

    /// `lock-timeout-missing`, for files that run outside rez-db.
    fn needs_lock(&mut self, s: &Statement, table: &str) {
        if self.options.outside_rez_db
            && !self.lock_timeout
            && !self.lock_reported
            && self.existing(table)
        {
            self.lock_reported = true;
            let detail = format!("a lock on {table} with no lock_timeout set earlier in the file");
            self.push(s, &rules::LOCK_TIMEOUT_MISSING, detail);
        }
    }

    /// DDL on `table`: a backfill of it earlier in the same transaction is
    /// now held under the DDL's lock.
    fn ddl(&mut self, s: &Statement, table: &str) {
        if !self.existing(table) {
            return;
        }
        let Some(txn) = self.txn.as_mut() else { return };
        let backfilled = txn.dml.contains(table);
        txn.ddl.insert(table.to_string());
        if backfilled {
            let detail = format!("DDL on {table} after a backfill of it in the same transaction");
            self.push(s, &rules::BACKFILL_WITH_DDL, detail);
        }
    }

    /// A data change of a whole set of rows of `table`.
    fn backfill(&mut self, s: &Statement, table: &str) {
        if !self.existing(table) {
            return;
        }
        let Some(txn) = self.txn.as_mut() else { return };
        let after_ddl = txn.ddl.contains(table);
        txn.dml.insert(table.to_string());
        if after_ddl {
            let detail = format!("a backfill of {table} in the same transaction as DDL on it");
            self.push(s, &rules::BACKFILL_WITH_DDL, detail);
        }
    }

    fn not_idempotent(&mut self, s: &Statement, what: &str) {
        if self.no_transaction {
            self.push(s, &rules::NOT_IDEMPOTENT, what.to_string());
        }
    }

    fn create_table(&mut self, s: &Statement, c: &pb::CreateStmt) {
        let table = relname(&c.relation);
        if !c.if_not_exists {
            self.not_idempotent(s, &format!("CREATE TABLE {table} without IF NOT EXISTS"));
        }
        if c.if_not_exists && self.schema.tables.contains_key(&table) {
            return;
        }
        if c.partbound.as_ref().is_some_and(|b| b.is_default) {
            if let Some(parent) = c.inh_relations.iter().find_map(range_var) {
                self.schema.table_mut(&parent.relname).has_default_partition = true;
            }
        }
        let mut columns = Vec::new();
        let mut checks = Vec::new();
        for element in &c.table_elts {
            match &element.node {
                Some(NodeEnum::ColumnDef(col)) => {
                    let ty = col.type_name.as_ref().map(type_of);
                    if let Some(ty) = &ty {
                        self.money_and_coins(s, col.location, &table, &col.colname, ty);
                    }
                    columns.push((col.colname.clone(), ty));
                }
                Some(NodeEnum::Constraint(con))
                    if con.contype == ConstrType::ConstrCheck as i32 =>
                {
                    checks.push((
                        con.conname.clone(),
                        Check {
                            not_null_column: not_null_column(con),
                            valid: true,
                        },
                    ));
                }
                _ => {}
            }
        }
        let created = self.schema.create_table(&table, self.file);
        for (name, ty) in columns {
            if let Some(ty) = ty {
                created.columns.insert(name, ty);
            }
        }
        created.checks.extend(checks);
    }

    fn create_index(&mut self, s: &Statement, i: &pb::IndexStmt) {
        let table = relname(&i.relation);
        self.needs_lock(s, &table);
        let name = match i.idxname.is_empty() {
            true => "(unnamed)".to_string(),
            false => i.idxname.clone(),
        };
        if i.concurrent {
            if self.txn.is_some() {
                let detail = format!("CREATE INDEX CONCURRENTLY {name} inside a transaction");
                self.push(s, &rules::CONCURRENTLY_IN_TRANSACTION, detail);
            }
        } else if self.existing(&table) {
            let detail =
                format!("CREATE INDEX {name} on {table}, a table an earlier migration created");
            self.push(s, &rules::CREATE_INDEX_BLOCKING, detail);
            self.ddl(s, &table);
        }
        if !i.if_not_exists {
            self.not_idempotent(s, &format!("CREATE INDEX {name} without IF NOT EXISTS"));
        }
        if !i.idxname.is_empty() {
            let index = Index {
                table,
                concurrent: i.concurrent,
            };
            self.schema.indexes.insert(i.idxname.clone(), index);
        }
    }

    fn alter_table(&mut self, s: &Statement, a: &pb::AlterTableStmt) {
        if a.objtype != ObjectType::ObjectTable as i32 {
            return;
        }
        let table = relname(&a.relation);
        self.needs_lock(s, &table);
        let existing = self.existing(&table);
        for cmd in &a.cmds {
            let Some(NodeEnum::AlterTableCmd(cmd)) = &cmd.node else {
                continue;
            };
            let def = cmd.def.as_deref().and_then(|n| n.node.as_ref());
            match At::try_from(cmd.subtype).unwrap_or(At::Undefined) {
                At::AtAddColumn => {
                    if let Some(NodeEnum::ColumnDef(col)) = def {
                        self.add_column(s, &table, existing, cmd.missing_ok, col);
                    }
                }
                At::AtAlterColumnType => {
                    if let Some(NodeEnum::ColumnDef(col)) = def {
                        self.alter_type(s, &table, existing, &cmd.name, col);
                    }
                }
                At::AtAddConstraint => {
                    if let Some(NodeEnum::Constraint(con)) = def {
                        // No IF NOT EXISTS: a rerun finds the constraint there.
                        let what = format!(
                            "ADD CONSTRAINT {} (a rerun fails: the constraint exists; guard it in a DO block, or put it in a transactional file)",
                            con.conname
                        );
                        self.not_idempotent(s, &what);
                        self.add_constraint(s, &table, existing, con);
                    }
                }
                At::AtValidateConstraint => {
                    let key = (table.clone(), cmd.name.clone());
                    if self
                        .txn
                        .as_ref()
                        .is_some_and(|t| t.not_valid.contains(&key))
                    {
                        let detail = format!(
                            "VALIDATE CONSTRAINT {} on {table} in the transaction that added it NOT VALID",
                            cmd.name
                        );
                        self.push(s, &rules::VALIDATE_IN_SAME_TRANSACTION, detail);
                    }
                    if let Some(check) = self.schema.table_mut(&table).checks.get_mut(&cmd.name) {
                        check.valid = true;
                    }
                }
                At::AtSetNotNull => {
                    if existing && !self.schema.proven_not_null(&table, &cmd.name) {
                        let detail = format!(
                            "SET NOT NULL on {table}.{} with no valid CHECK ({} IS NOT NULL)",
                            cmd.name, cmd.name
                        );
                        self.push(s, &rules::SET_NOT_NULL, detail);
                    }
                }
                At::AtDropNotNull if existing => {
                    let detail = format!("DROP NOT NULL on {table}.{}", cmd.name);
                    self.push(s, &rules::DROP_NOT_NULL, detail);
                }
                At::AtDropColumn => {
                    if existing {
                        let detail = format!("DROP COLUMN {table}.{}", cmd.name);
                        self.push(s, &rules::DROP_COLUMN, detail);
                    }
                    if !cmd.missing_ok {
                        let what = format!("DROP COLUMN {} without IF EXISTS", cmd.name);
                        self.not_idempotent(s, &what);
                    }
                    self.schema.table_mut(&table).columns.remove(&cmd.name);
                }
                At::AtDetachPartition => {
                    let concurrent = matches!(def, Some(NodeEnum::PartitionCmd(p)) if p.concurrent);
                    if concurrent {
                        if self.txn.is_some() {
                            let detail = format!(
                                "DETACH PARTITION ... CONCURRENTLY of {table} inside a transaction"
                            );
                            self.push(s, &rules::CONCURRENTLY_IN_TRANSACTION, detail);
                        }
                    } else if existing
                        && !self
                            .schema
                            .tables
                            .get(&table)
                            .is_some_and(|t| t.has_default_partition)
                    {
                        // With a DEFAULT partition PostgreSQL refuses
                        // CONCURRENTLY: there is no safer way to offer.
                        let detail = format!("DETACH PARTITION from {table} without CONCURRENTLY");
                        self.push(s, &rules::DETACH_PARTITION_BLOCKING, detail);
                    }
                }
                _ => {}
            }
        }
        self.ddl(s, &table);
    }

    fn add_column(
        &mut self,
        s: &Statement,
        table: &str,
        existing: bool,
        if_not_exists: bool,
        col: &pb::ColumnDef,
    ) {
        let name = &col.colname;
        let ty = col.type_name.as_ref().map(type_of);
        if let Some(ty) = &ty {
            self.money_and_coins(s, col.location, table, name, ty);
        }
        if !if_not_exists {
            self.not_idempotent(s, &format!("ADD COLUMN {name} without IF NOT EXISTS"));
        }
        if existing {
            let constraints: Vec<&pb::Constraint> =
                col.constraints.iter().filter_map(constraint).collect();
            let has = |kind: ConstrType| constraints.iter().any(|c| c.contype == kind as i32);
            let default = col.raw_default.as_deref().or_else(|| {
                constraints
                    .iter()
                    .find(|c| c.contype == ConstrType::ConstrDefault as i32)
                    .and_then(|c| c.raw_expr.as_deref())
            });
            let generated = has(ConstrType::ConstrGenerated);
            let identity = has(ConstrType::ConstrIdentity);
            let serial = ty
                .as_ref()
                .is_some_and(|t| t.name.ends_with("serial") || t.name.starts_with("serial"));
            let not_null = col.is_not_null || has(ConstrType::ConstrNotnull);
            if not_null && default.is_none() && !generated && !identity && !serial {
                let detail = format!("ADD COLUMN {table}.{name} NOT NULL without a DEFAULT");
                self.push(s, &rules::ADD_COLUMN_NOT_NULL, detail);
            }
            let volatile = default.and_then(volatile_call);
            let rewrite = if serial {
                Some("a serial type (its default is nextval(), a new value per row)".to_string())
            } else if let Some(f) = volatile {
                Some(format!("the volatile default {f}()"))
            } else if generated {
                Some("a stored generated column".to_string())
            } else if identity {
                Some("an identity column".to_string())
            } else {
                None
            };
            if let Some(why) = rewrite {
                let detail = format!("ADD COLUMN {table}.{name} with {why}");
                self.push(s, &rules::ADD_COLUMN_REWRITE, detail);
            }
            for c in &constraints {
                match ConstrType::try_from(c.contype).unwrap_or(ConstrType::Undefined) {
                    ConstrType::ConstrForeign | ConstrType::ConstrCheck => {
                        let detail = format!(
                            "ADD COLUMN {table}.{name} with an inline {} (an inline constraint cannot be NOT VALID: add the column, then the constraint NOT VALID)",
                            kind_name(c)
                        );
                        self.push(s, &rules::CONSTRAINT_NOT_VALID, detail);
                    }
                    ConstrType::ConstrPrimary | ConstrType::ConstrUnique => {
                        let detail = format!("ADD COLUMN {table}.{name} {}", kind_name(c));
                        self.push(s, &rules::ADD_UNIQUE_BLOCKING, detail);
                    }
                    _ => {}
                }
            }
        }
        if let Some(ty) = ty {
            self.schema
                .table_mut(table)
                .columns
                .insert(name.clone(), ty);
        }
    }

    fn alter_type(
        &mut self,
        s: &Statement,
        table: &str,
        existing: bool,
        column: &str,
        col: &pb::ColumnDef,
    ) {
        let Some(new) = col.type_name.as_ref().map(type_of) else {
            return;
        };
        self.money_and_coins(s, -1, table, column, &new);
        if existing {
            let using = col.raw_default.is_some();
            let old = self.schema.column_type(table, column).cloned();
            let detail = match &old {
                Some(old) if !using && catalog_only(old, &new) => None,
                Some(old) if using => Some(format!(
                    "{table}.{column} from {} to {} with USING",
                    old.display(),
                    new.display()
                )),
                Some(old) => Some(format!(
                    "{table}.{column} from {} to {}",
                    old.display(),
                    new.display()
                )),
                None => Some(format!(
                    "{table}.{column} to {} (its current type is not known to lint, so the change cannot be shown to be catalog-only)",
                    new.display()
                )),
            };
            if let Some(detail) = detail {
                self.push(s, &rules::ALTER_COLUMN_TYPE, detail);
            }
        }
        self.schema
            .table_mut(table)
            .columns
            .insert(column.to_string(), new);
    }

    fn add_constraint(&mut self, s: &Statement, table: &str, existing: bool, c: &pb::Constraint) {
        let name = match c.conname.is_empty() {
            true => "(unnamed)".to_string(),
            false => c.conname.clone(),
        };
        match ConstrType::try_from(c.contype).unwrap_or(ConstrType::Undefined) {
            kind @ (ConstrType::ConstrForeign | ConstrType::ConstrCheck) => {
                if existing && !c.skip_validation {
                    let detail = format!(
                        "ADD CONSTRAINT {name} {} on {table} without NOT VALID",
                        kind_name(c)
                    );
                    self.push(s, &rules::CONSTRAINT_NOT_VALID, detail);
                }
                if c.skip_validation {
                    if let Some(txn) = self.txn.as_mut() {
                        txn.not_valid.insert((table.to_string(), c.conname.clone()));
                    }
                }
                if kind == ConstrType::ConstrCheck {
                    let check = Check {
                        not_null_column: not_null_column(c),
                        valid: !c.skip_validation,
                    };
                    self.schema
                        .table_mut(table)
                        .checks
                        .insert(c.conname.clone(), check);
                }
            }
            ConstrType::ConstrPrimary | ConstrType::ConstrUnique | ConstrType::ConstrExclusion
                if existing =>
            {
                let kind = kind_name(c);
                let problem = if c.indexname.is_empty() {
                    Some(format!(
                        "ADD CONSTRAINT {name} {kind} on {table} builds its index under the lock"
                    ))
                } else {
                    match self.schema.indexes.get(&c.indexname) {
                        Some(index) if index.concurrent => None,
                        Some(_) => Some(format!(
                            "ADD CONSTRAINT {name} {kind} USING INDEX {}, an index not built CONCURRENTLY",
                            c.indexname
                        )),
                        None => Some(format!(
                            "ADD CONSTRAINT {name} {kind} USING INDEX {}, an index no earlier migration built CONCURRENTLY",
                            c.indexname
                        )),
                    }
                };
                if let Some(detail) = problem {
                    self.push(s, &rules::ADD_UNIQUE_BLOCKING, detail);
                }
            }
            _ => {}
        }
    }

    fn rename(&mut self, s: &Statement, r: &pb::RenameStmt) {
        let table = relname(&r.relation);
        let kind = ObjectType::try_from(r.rename_type).unwrap_or(ObjectType::Undefined);
        let is_table =
            r.relation_type == ObjectType::ObjectTable as i32 || kind == ObjectType::ObjectTable;
        match kind {
            ObjectType::ObjectTable | ObjectType::ObjectColumn if is_table => {
                self.needs_lock(s, &table);
                if self.existing(&table) {
                    let detail = match kind {
                        ObjectType::ObjectTable => format!("RENAME TABLE {table} TO {}", r.newname),
                        _ => format!("RENAME COLUMN {table}.{} TO {}", r.subname, r.newname),
                    };
                    self.push(s, &rules::RENAME, detail);
                }
                self.ddl(s, &table);
                if kind == ObjectType::ObjectTable {
                    if let Some(t) = self.schema.tables.remove(&table) {
                        self.schema.tables.insert(r.newname.clone(), t);
                    }
                } else if let Some(t) = self.schema.tables.get_mut(&table) {
                    if let Some(ty) = t.columns.remove(&r.subname) {
                        t.columns.insert(r.newname.clone(), ty);
                    }
                }
            }
            _ => {}
        }
    }

    fn drop(&mut self, s: &Statement, d: &pb::DropStmt) {
        let kind = ObjectType::try_from(d.remove_type).unwrap_or(ObjectType::Undefined);
        let objects: Vec<String> = d
            .objects
            .iter()
            .filter_map(|o| match &o.node {
                Some(NodeEnum::List(list)) => names(&list.items).last().cloned(),
                _ => None,
            })
            .collect();
        match kind {
            ObjectType::ObjectTable => {
                for table in objects {
                    self.needs_lock(s, &table);
                    if self.existing(&table) {
                        self.push(s, &rules::DROP_TABLE, format!("DROP TABLE {table}"));
                    }
                    if LEDGER_TABLES.contains(&table.as_str()) {
                        self.push(s, &rules::LEDGER_DROP, format!("DROP TABLE {table}"));
                    }
                    if !d.missing_ok {
                        self.not_idempotent(s, &format!("DROP TABLE {table} without IF EXISTS"));
                    }
                    self.schema.drop_table(&table);
                }
            }
            ObjectType::ObjectIndex => {
                for index in objects {
                    let table = self.schema.indexes.get(&index).map(|i| i.table.clone());
                    let existing = table.as_deref().is_none_or(|t| self.existing(t));
                    if let Some(table) = &table {
                        self.needs_lock(s, table);
                    }
                    if d.concurrent {
                        if self.txn.is_some() {
                            let detail =
                                format!("DROP INDEX CONCURRENTLY {index} inside a transaction");
                            self.push(s, &rules::CONCURRENTLY_IN_TRANSACTION, detail);
                        }
                    } else if existing {
                        let on = table.map_or(String::new(), |t| format!(" (on {t})"));
                        let detail = format!("DROP INDEX {index}{on}");
                        self.push(s, &rules::DROP_INDEX_BLOCKING, detail);
                    }
                    if !d.missing_ok {
                        self.not_idempotent(s, &format!("DROP INDEX {index} without IF EXISTS"));
                    }
                    self.schema.indexes.remove(&index);
                }
            }
            _ => {}
        }
    }

    fn truncate(&mut self, s: &Statement, t: &pb::TruncateStmt) {
        for table in t
            .relations
            .iter()
            .filter_map(range_var)
            .map(|r| r.relname.clone())
        {
            self.needs_lock(s, &table);
            if self.existing(&table) {
                self.push(s, &rules::TRUNCATE, format!("TRUNCATE {table}"));
            }
            if LEDGER_TABLES.contains(&table.as_str()) {
                self.push(s, &rules::LEDGER_DROP, format!("TRUNCATE {table}"));
            }
        }
    }

    fn transaction(&mut self, s: &Statement, t: &pb::TransactionStmt) {
        let kind = Tx::try_from(t.kind).unwrap_or(Tx::Undefined);
        let opens = matches!(kind, Tx::TransStmtBegin | Tx::TransStmtStart);
        let closes = matches!(
            kind,
            Tx::TransStmtCommit | Tx::TransStmtRollback | Tx::TransStmtCommitPrepared
        );
        if !(opens || closes) {
            return;
        }
        if !self.no_transaction {
            let word = s
                .text
                .split_whitespace()
                .next()
                .unwrap_or("BEGIN")
                .to_uppercase();
            let detail = format!("{word} in a file rez-db already runs as one transaction");
            self.push(s, &rules::TRANSACTION_CONTROL, detail);
            return;
        }
        self.txn = match opens {
            true => Some(Txn {
                begin: Some((s.line, s.column, one_line(&s.text))),
                ..Txn::default()
            }),
            false => None,
        };
    }

    /// `money-float`, `money-scale`, `coin-not-integer` for a column of type `ty`.
    fn money_and_coins(
        &mut self,
        s: &Statement,
        location: i32,
        table: &str,
        column: &str,
        ty: &Type,
    ) {
        let words: Vec<&str> = column.split('_').collect();
        let coin_words = words.iter().any(|w| *w == "coin" || *w == "coins");
        // `coins_value` is the rupee value of coins: money, not coins.
        let rupee_value = matches!(words.last(), Some(&"value") | Some(&"inr"));
        // `coin_multiplier` is a rate applied to coins, not a number of coins.
        let rate = matches!(
            words.last(),
            Some(&("multiplier" | "rate" | "ratio" | "percent" | "percentage" | "factor"))
        );
        let coins = coin_words && !rupee_value && !rate;
        let money = !coins && words.iter().any(|w| MONEY_WORDS.contains(w));
        let at = format!("{table}.{column} is {}", ty.display());
        if coins && (ty.is_float() || ty.is_numeric()) {
            self.push_at(s, location, &rules::COIN_NOT_INTEGER, at);
        } else if money && ty.is_float() {
            self.push_at(s, location, &rules::MONEY_FLOAT, at);
        } else if money && ty.is_numeric() && ty.mods.get(1) != Some(&2) {
            self.push_at(s, location, &rules::MONEY_SCALE, at);
        }
    }
}

/// A type change PostgreSQL does in the catalog alone: varchar(n) to
/// varchar(m >= n), varchar or text to text or unbounded varchar,
/// numeric(p,s) to numeric(q >= p,s) or unbounded numeric.
fn catalog_only(old: &Type, new: &Type) -> bool {
    if old == new {
        return true;
    }
    if old.array != new.array {
        return false;
    }
    match (old.name.as_str(), new.name.as_str()) {
        ("varchar" | "text", "text") => true,
        ("varchar" | "text", "varchar") if new.mods.is_empty() => true,
        ("varchar", "varchar") => match (old.mods.first(), new.mods.first()) {
            (Some(n), Some(m)) => m >= n,
            _ => false,
        },
        ("numeric", "numeric") => match (old.mods.as_slice(), new.mods.as_slice()) {
            (_, []) => true,
            ([p, s], [q, t]) => q >= p && s == t,
            ([p], [q]) => q >= p,
            ([p], [q, 0]) => q >= p,
            _ => false,
        },
        _ => false,
    }
}

fn kind_name(c: &pb::Constraint) -> &'static str {
    match ConstrType::try_from(c.contype).unwrap_or(ConstrType::Undefined) {
        ConstrType::ConstrForeign => "FOREIGN KEY",
        ConstrType::ConstrCheck => "CHECK",
        ConstrType::ConstrPrimary => "PRIMARY KEY",
        ConstrType::ConstrUnique => "UNIQUE",
        ConstrType::ConstrExclusion => "EXCLUDE",
        _ => "constraint",
    }
}

/// The column a `CHECK (col IS NOT NULL)` proves.
fn not_null_column(c: &pb::Constraint) -> Option<String> {
    let Some(NodeEnum::NullTest(test)) = c.raw_expr.as_deref().and_then(|n| n.node.as_ref()) else {
        return None;
    };
    if test.nulltesttype != pb::NullTestType::IsNotNull as i32 {
        return None;
    }
    match test.arg.as_deref().and_then(|n| n.node.as_ref()) {
        Some(NodeEnum::ColumnRef(col)) => names(&col.fields).last().cloned(),
        _ => None,
    }
}

/// The first volatile function an expression calls.
fn volatile_call(expr: &Node) -> Option<String> {
    let json = serde_json::to_value(expr).ok()?;
    let mut calls = Vec::new();
    function_names(&json, &mut calls);
    calls
        .into_iter()
        .find(|f| VOLATILE.contains(&f.to_ascii_lowercase().as_str()))
}

/// Every function name called in an expression (its JSON form: any
/// `FuncCall`, however deep, whatever node holds it).
fn function_names(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map {
                if key == "FuncCall" {
                    let name = inner["funcname"]
                        .as_array()
                        .and_then(|parts| parts.last())
                        .and_then(|part| part["node"]["String"]["sval"].as_str());
                    if let Some(name) = name {
                        out.push(name.to_string());
                    }
                }
                function_names(inner, out);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| function_names(i, out)),
        _ => {}
    }
}

fn relname(rv: &Option<pb::RangeVar>) -> String {
    rv.as_ref().map(|r| r.relname.clone()).unwrap_or_default()
}

fn range_var(node: &Node) -> Option<&pb::RangeVar> {
    match &node.node {
        Some(NodeEnum::RangeVar(r)) => Some(r),
        _ => None,
    }
}

fn constraint(node: &Node) -> Option<&pb::Constraint> {
    match &node.node {
        Some(NodeEnum::Constraint(c)) => Some(c),
        _ => None,
    }
}

fn names(nodes: &[Node]) -> Vec<String> {
    nodes
        .iter()
        .filter_map(|n| match &n.node {
            Some(NodeEnum::String(s)) => Some(s.sval.clone()),
            _ => None,
        })
        .collect()
}

fn int_const(node: &Node) -> Option<i64> {
    match &node.node {
        Some(NodeEnum::AConst(c)) => match &c.val {
            Some(pb::a_const::Val::Ival(i)) => Some(i64::from(i.ival)),
            _ => None,
        },
        Some(NodeEnum::Integer(i)) => Some(i64::from(i.ival)),
        _ => None,
    }
}

fn string_const(node: &Node) -> Option<&str> {
    match &node.node {
        Some(NodeEnum::AConst(c)) => match &c.val {
            Some(pb::a_const::Val::Sval(s)) => Some(&s.sval),
            _ => None,
        },
        _ => None,
    }
}

/// The type as the parser normalised it (`pg_catalog.int4` for `integer`).
fn type_of(t: &pb::TypeName) -> Type {
    let name = names(&t.names)
        .last()
        .map(|n| n.to_ascii_lowercase())
        .unwrap_or_default();
    let name = match name.as_str() {
        "decimal" => "numeric".to_string(),
        "integer" | "int" => "int4".to_string(),
        "bigint" => "int8".to_string(),
        "smallint" => "int2".to_string(),
        "real" => "float4".to_string(),
        "float" => "float8".to_string(),
        _ => name,
    };
    Type {
        name,
        mods: t.typmods.iter().filter_map(int_const).collect(),
        array: !t.array_bounds.is_empty(),
    }
}
