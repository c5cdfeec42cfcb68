//! A database schema as plain data ([`SchemaSnapshot`], read from the
//! catalogs by `store::pg::catalog`) and the comparison of two of them
//! ([`compare`]): what `migrate baseline` refuses on, and what `migrate diff`
//! reports.
//!
//! Each object is a kind, a qualified name and one line of definition as
//! PostgreSQL prints it back (`pg_get_indexdef`, `pg_get_constraintdef`,
//! `format_type`, ...): two objects are the same when those lines are equal,
//! which is exactly what the server would do with them. A difference is
//! missing (expected, not there), extra (there, not expected) or changed;
//! the parts of a missing or extra table (its columns, indexes, ...) are not
//! listed again.
//!
//! Pure: no I/O, unit-tested.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// What an object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Schema,
    Extension,
    /// An enum or a domain.
    Type,
    /// A table, a partitioned table, or a partition rez-db does not manage.
    Table,
    Column,
    Constraint,
    Index,
    Trigger,
    Policy,
    Function,
    View,
    MaterializedView,
    Sequence,
    /// The privileges granted on one object (beyond its owner's own).
    Grant,
    /// `ALTER DEFAULT PRIVILEGES`.
    DefaultPrivilege,
}

impl ObjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Schema => "schema",
            ObjectKind::Extension => "extension",
            ObjectKind::Type => "type",
            ObjectKind::Table => "table",
            ObjectKind::Column => "column",
            ObjectKind::Constraint => "constraint",
            ObjectKind::Index => "index",
            ObjectKind::Trigger => "trigger",
            ObjectKind::Policy => "policy",
            ObjectKind::Function => "function",
            ObjectKind::View => "view",
            ObjectKind::MaterializedView => "materialized view",
            ObjectKind::Sequence => "sequence",
            ObjectKind::Grant => "grant",
            ObjectKind::DefaultPrivilege => "default privileges",
        }
    }

    /// Kinds that own parts (columns, constraints, indexes, ...).
    fn is_relation(self) -> bool {
        matches!(
            self,
            ObjectKind::Table | ObjectKind::View | ObjectKind::MaterializedView
        )
    }
}

/// One object of a schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaObject {
    pub kind: ObjectKind,
    /// Qualified: `public.users`, `public.users.email`, `public.f(integer)`.
    pub name: String,
    /// One line, as PostgreSQL prints the object back.
    pub definition: String,
    /// The relation the object belongs to (a column's, an index's table), qualified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relation: Option<String>,
}

/// Every object of a database's schemas, in (kind, name) order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaSnapshot {
    pub objects: Vec<SchemaObject>,
}

impl SchemaSnapshot {
    /// The snapshot of `objects`, sorted.
    pub fn new(mut objects: Vec<SchemaObject>) -> SchemaSnapshot {
        objects.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
        SchemaSnapshot { objects }
    }

    pub fn get(&self, kind: ObjectKind, name: &str) -> Option<&SchemaObject> {
        self.objects
            .binary_search_by(|o| (o.kind, o.name.as_str()).cmp(&(kind, name)))
            .ok()
            .map(|i| &self.objects[i])
    }
}

/// How an object differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DifferenceKind {
    /// Expected, not there.
    Missing,
    /// There, not expected.
    Extra,
    /// There, with another definition.
    Changed,
}

/// One difference between the expected and the actual schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    pub object_kind: ObjectKind,
    /// The object's qualified name.
    pub object: String,
    pub kind: DifferenceKind,
    pub expected: Option<String>,
    pub actual: Option<String>,
}

impl Difference {
    /// One line: `missing index public.idx_users_email: CREATE INDEX ...`.
    pub fn describe(&self) -> String {
        let what = format!("{} {}", self.object_kind.as_str(), self.object);
        let shown = |d: &Option<String>| d.clone().unwrap_or_default();
        match self.kind {
            DifferenceKind::Missing => format!("missing {what}: {}", shown(&self.expected)),
            DifferenceKind::Extra => format!("extra {what}: {}", shown(&self.actual)),
            DifferenceKind::Changed => format!(
                "changed {what}: expected `{}`, found `{}`",
                shown(&self.expected),
                shown(&self.actual)
            ),
        }
    }
}

/// Every difference of `actual` from `expected`, in (kind, name) order.
pub fn compare(expected: &SchemaSnapshot, actual: &SchemaSnapshot) -> Vec<Difference> {
    let index = |s: &SchemaSnapshot| -> BTreeMap<(ObjectKind, String), SchemaObject> {
        s.objects
            .iter()
            .map(|o| ((o.kind, o.name.clone()), o.clone()))
            .collect()
    };
    let (want, have) = (index(expected), index(actual));
    let keys: BTreeSet<&(ObjectKind, String)> = want.keys().chain(have.keys()).collect();
    let mut found = Vec::new();
    // Relations missing or extra as a whole: their parts are not listed again.
    let mut whole: BTreeSet<String> = BTreeSet::new();
    for key in &keys {
        let (kind, name) = (key.0, &key.1);
        if kind.is_relation() && (want.contains_key(key) != have.contains_key(key)) {
            whole.insert(name.clone());
        }
    }
    for key in keys {
        let (w, h) = (want.get(key), have.get(key));
        let part_of_whole = w
            .or(h)
            .and_then(|o| o.relation.as_ref())
            .is_some_and(|r| whole.contains(r));
        if part_of_whole {
            continue;
        }
        let kind = match (w, h) {
            (Some(_), None) => DifferenceKind::Missing,
            (None, Some(_)) => DifferenceKind::Extra,
            (Some(a), Some(b)) if a.definition != b.definition => DifferenceKind::Changed,
            _ => continue,
        };
        found.push(Difference {
            object_kind: key.0,
            object: key.1.clone(),
            kind,
            expected: w.map(|o| o.definition.clone()),
            actual: h.map(|o| o.definition.clone()),
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(
        kind: ObjectKind,
        name: &str,
        definition: &str,
        relation: Option<&str>,
    ) -> SchemaObject {
        SchemaObject {
            kind,
            name: name.into(),
            definition: definition.into(),
            relation: relation.map(Into::into),
        }
    }

    fn users() -> Vec<SchemaObject> {
        vec![
            object(ObjectKind::Table, "public.users", "table", None),
            object(
                ObjectKind::Column,
                "public.users.email",
                "text NOT NULL",
                Some("public.users"),
            ),
            object(
                ObjectKind::Index,
                "public.idx_users_email",
                "CREATE INDEX idx_users_email ON public.users USING btree (email)",
                Some("public.users"),
            ),
        ]
    }

    #[test]
    fn identical_snapshots_have_no_difference() {
        let a = SchemaSnapshot::new(users());
        let mut reversed = users();
        reversed.reverse();
        assert!(compare(&a, &SchemaSnapshot::new(reversed)).is_empty());
        assert!(a.get(ObjectKind::Column, "public.users.email").is_some());
    }

    #[test]
    fn missing_extra_and_changed_are_told_apart() {
        let expected = SchemaSnapshot::new(users());
        let mut live = users();
        live.remove(2);
        live[1].definition = "text".into();
        live.push(object(
            ObjectKind::Column,
            "public.users.nickname",
            "text",
            Some("public.users"),
        ));
        let diff = compare(&expected, &SchemaSnapshot::new(live));
        let kinds: Vec<(ObjectKind, &str, DifferenceKind)> = diff
            .iter()
            .map(|d| (d.object_kind, d.object.as_str(), d.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                (
                    ObjectKind::Column,
                    "public.users.email",
                    DifferenceKind::Changed
                ),
                (
                    ObjectKind::Column,
                    "public.users.nickname",
                    DifferenceKind::Extra
                ),
                (
                    ObjectKind::Index,
                    "public.idx_users_email",
                    DifferenceKind::Missing
                ),
            ]
        );
        assert_eq!(
            diff[0].describe(),
            "changed column public.users.email: expected `text NOT NULL`, found `text`"
        );
        assert!(diff[2]
            .describe()
            .starts_with("missing index public.idx_users_email: CREATE INDEX"));
    }

    #[test]
    fn the_parts_of_a_missing_table_are_not_listed_again() {
        let expected = SchemaSnapshot::new(users());
        let diff = compare(&expected, &SchemaSnapshot::default());
        assert_eq!(diff.len(), 1);
        assert_eq!(
            (diff[0].object_kind, diff[0].kind),
            (ObjectKind::Table, DifferenceKind::Missing)
        );
        let extra = compare(&SchemaSnapshot::default(), &expected);
        assert_eq!(extra.len(), 1);
        assert_eq!(extra[0].kind, DifferenceKind::Extra);
    }

    #[test]
    fn a_snapshot_survives_json() {
        let a = SchemaSnapshot::new(users());
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<SchemaSnapshot>(&json).unwrap(), a);
    }
}
