//! Reads a database's schema from the system catalogs into a
//! [`SchemaSnapshot`] (`crate::migration::schema_diff`), which the core
//! compares.
//!
//! Every definition is PostgreSQL's own rendering (`pg_get_indexdef`,
//! `pg_get_constraintdef`, `pg_get_functiondef`, `pg_get_viewdef`,
//! `pg_get_triggerdef`, `format_type`, `pg_get_expr`), so two databases that
//! would behave the same print the same lines. Left out: the system schemas,
//! `rez_meta` (rez-db's own bookkeeping), objects that belong to an extension
//! (PostGIS's tables and functions: the extension and its version stand for
//! them), owners, comments and column order. Partitions of the tables a
//! caller names as managed (those `partition-rotate` creates and drops by the
//! calendar) are left out with their columns, indexes, constraints, triggers
//! and grants: such a table is compared by its parent only. Privileges are
//! compared without the owner's own (a table built by another role has the
//! same grants to others).

use sqlx::postgres::PgConnection;

use crate::migration::schema_diff::{ObjectKind, SchemaObject, SchemaSnapshot};

/// The relations considered, with whether they are a managed partition.
/// `$1`: the managed parents (bare names in `public`, or qualified).
const RELATIONS: &str = "\
WITH rel AS (
  SELECT c.oid, c.relkind, c.relispartition, c.relowner,
         format('%I.%I', n.nspname, c.relname) AS qname,
         (c.relispartition AND EXISTS (
            SELECT 1 FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
            JOIN pg_namespace pn ON pn.oid = p.relnamespace
            WHERE i.inhrelid = c.oid
              AND ((pn.nspname = 'public' AND p.relname::text = ANY($1::text[]))
                   OR format('%I.%I', pn.nspname, p.relname) = ANY($1::text[])))) AS managed
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'rez_meta')
    AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                    AND d.objid = c.oid AND d.deptype = 'e')
), tab AS (SELECT * FROM rel WHERE NOT managed)
";

/// Schemas a snapshot covers (`n` aliasing pg_namespace).
const USER_SCHEMAS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema', 'rez_meta') \
    AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'";

/// The privileges in `acl` (or the default of `kind` for `owner` when NULL)
/// other than the owner's own, as `grantee: PRIV, PRIV*` (* with grant option), sorted.
fn grants(acl: &str, kind: &str, owner: &str) -> String {
    format!(
        "(SELECT string_agg(g, '; ' ORDER BY g) FROM ( \
           SELECT CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END || ': ' || \
                  string_agg(x.privilege_type || CASE WHEN x.is_grantable THEN '*' ELSE '' END, ', ' \
                             ORDER BY x.privilege_type) AS g \
           FROM aclexplode(coalesce({acl}, acldefault('{kind}', {owner}))) x \
           WHERE x.grantee <> {owner} GROUP BY x.grantee) per_grantee)"
    )
}

/// The queries, each giving `(name, definition, relation)` rows of one kind.
fn queries() -> Vec<(ObjectKind, String)> {
    let rel_grants = grants("c.relacl", "r", "c.relowner");
    let seq_grants = grants("c.relacl", "s", "c.relowner");
    let fn_grants = grants("p.proacl", "f", "p.proowner");
    let schema_grants = grants("n.nspacl", "n", "n.nspowner");
    vec![
        (
            ObjectKind::Schema,
            format!("SELECT quote_ident(n.nspname), 'schema', NULL::text FROM pg_namespace n WHERE {USER_SCHEMAS}"),
        ),
        (
            ObjectKind::Extension,
            "SELECT quote_ident(e.extname), 'version ' || e.extversion || ' in schema ' || n.nspname, NULL::text \
             FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
                .to_string(),
        ),
        (
            ObjectKind::Type,
            format!(
                "SELECT format('%I.%I', n.nspname, t.typname), \
                   CASE t.typtype WHEN 'e' THEN 'enum (' || (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) \
                                                        FROM pg_enum e WHERE e.enumtypid = t.oid) || ')' \
                   ELSE 'domain ' || format_type(t.typbasetype, t.typtypmod) \
                        || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END \
                        || coalesce(' DEFAULT ' || t.typdefault, '') \
                        || coalesce((SELECT ' ' || string_agg(pg_get_constraintdef(k.oid), ' ' ORDER BY k.conname) \
                                     FROM pg_constraint k WHERE k.contypid = t.oid), '') END, NULL::text \
                 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
                 WHERE t.typtype IN ('e', 'd') AND {USER_SCHEMAS} \
                   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass \
                                   AND d.objid = t.oid AND d.deptype = 'e')"
            ),
        ),
        (
            ObjectKind::Table,
            format!(
                "{RELATIONS} SELECT t.qname, concat_ws(' ', \
                   CASE c.relkind WHEN 'p' THEN 'partitioned table' ELSE 'table' END, \
                   CASE WHEN c.relkind = 'p' THEN 'PARTITION BY ' || pg_get_partkeydef(c.oid) END, \
                   CASE WHEN c.relispartition THEN 'PARTITION OF ' || (SELECT i.inhparent::regclass::text \
                        FROM pg_inherits i WHERE i.inhrelid = c.oid) || ' ' || pg_get_expr(c.relpartbound, c.oid) END, \
                   CASE WHEN c.relpersistence = 'u' THEN 'UNLOGGED' END, \
                   CASE WHEN c.relrowsecurity THEN 'ROW LEVEL SECURITY' END, \
                   CASE WHEN c.relforcerowsecurity THEN 'FORCE ROW LEVEL SECURITY' END, \
                   CASE WHEN c.reloptions IS NOT NULL THEN 'WITH (' || array_to_string(c.reloptions, ', ') || ')' END), NULL::text \
                 FROM tab t JOIN pg_class c ON c.oid = t.oid WHERE t.relkind IN ('r', 'p')"
            ),
        ),
        (
            ObjectKind::Column,
            format!(
                "{RELATIONS} SELECT t.qname || '.' || quote_ident(a.attname), concat_ws(' ', \
                   format_type(a.atttypid, a.atttypmod), \
                   CASE WHEN a.attcollation <> ty.typcollation THEN 'COLLATE ' || (SELECT quote_ident(collname) FROM pg_collation WHERE oid = a.attcollation) END, \
                   CASE WHEN a.attnotnull THEN 'NOT NULL' END, \
                   CASE WHEN a.attgenerated = 's' THEN 'GENERATED ALWAYS AS (' || pg_get_expr(ad.adbin, ad.adrelid) || ') STORED' \
                        WHEN ad.adbin IS NOT NULL THEN 'DEFAULT ' || pg_get_expr(ad.adbin, ad.adrelid) END, \
                   CASE a.attidentity WHEN 'a' THEN 'GENERATED ALWAYS AS IDENTITY' WHEN 'd' THEN 'GENERATED BY DEFAULT AS IDENTITY' END), \
                   t.qname \
                 FROM tab t JOIN pg_attribute a ON a.attrelid = t.oid \
                 JOIN pg_type ty ON ty.oid = a.atttypid \
                 LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum \
                 WHERE t.relkind IN ('r', 'p') AND NOT t.relispartition AND a.attnum > 0 AND NOT a.attisdropped"
            ),
        ),
        (
            ObjectKind::Constraint,
            format!(
                "{RELATIONS} SELECT t.qname || '.' || quote_ident(k.conname), \
                   pg_get_constraintdef(k.oid) || CASE WHEN k.convalidated THEN '' ELSE ' NOT VALID' END, t.qname \
                 FROM tab t JOIN pg_constraint k ON k.conrelid = t.oid WHERE k.conparentid = 0"
            ),
        ),
        (
            ObjectKind::Index,
            format!(
                "{RELATIONS} SELECT format('%I.%I', n.nspname, ic.relname), \
                   pg_get_indexdef(i.indexrelid) || CASE WHEN i.indisvalid THEN '' ELSE ' INVALID' END, t.qname \
                 FROM tab t JOIN pg_index i ON i.indrelid = t.oid \
                 JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace \
                 WHERE NOT ic.relispartition \
                   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid \
                                   AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x'))"
            ),
        ),
        (
            ObjectKind::Trigger,
            format!(
                "{RELATIONS} SELECT t.qname || '.' || quote_ident(g.tgname), \
                   pg_get_triggerdef(g.oid) || CASE g.tgenabled WHEN 'D' THEN ' DISABLED' \
                     WHEN 'R' THEN ' ENABLED REPLICA' WHEN 'A' THEN ' ENABLED ALWAYS' ELSE '' END, t.qname \
                 FROM tab t JOIN pg_trigger g ON g.tgrelid = t.oid \
                 WHERE NOT g.tgisinternal AND g.tgparentid = 0"
            ),
        ),
        (
            ObjectKind::Policy,
            format!(
                "{RELATIONS} SELECT t.qname || '.' || quote_ident(p.polname), concat_ws(' ', \
                   CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END, \
                   'FOR ' || CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' \
                                           WHEN 'd' THEN 'DELETE' ELSE 'ALL' END, \
                   'TO ' || (SELECT string_agg(CASE WHEN r = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(r)::text END, ', ' \
                                               ORDER BY CASE WHEN r = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(r)::text END) \
                             FROM unnest(p.polroles) r), \
                   'USING (' || pg_get_expr(p.polqual, p.polrelid) || ')', \
                   'WITH CHECK (' || pg_get_expr(p.polwithcheck, p.polrelid) || ')'), t.qname \
                 FROM tab t JOIN pg_policy p ON p.polrelid = t.oid"
            ),
        ),
        (
            ObjectKind::Function,
            format!(
                "SELECT format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)), \
                   regexp_replace(pg_get_functiondef(p.oid), '\\s+', ' ', 'g'), NULL::text \
                 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
                 WHERE p.prokind IN ('f', 'p') AND {USER_SCHEMAS} \
                   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass \
                                   AND d.objid = p.oid AND d.deptype = 'e')"
            ),
        ),
        (
            ObjectKind::View,
            format!(
                "{RELATIONS} SELECT t.qname, regexp_replace(pg_get_viewdef(t.oid), '\\s+', ' ', 'g'), NULL::text \
                 FROM tab t WHERE t.relkind = 'v'"
            ),
        ),
        (
            ObjectKind::MaterializedView,
            format!(
                "{RELATIONS} SELECT t.qname, regexp_replace(pg_get_viewdef(t.oid), '\\s+', ' ', 'g') \
                   || CASE WHEN c.relispopulated THEN '' ELSE ' WITH NO DATA' END, NULL::text \
                 FROM tab t JOIN pg_class c ON c.oid = t.oid WHERE t.relkind = 'm'"
            ),
        ),
        (
            ObjectKind::Sequence,
            format!(
                "{RELATIONS} SELECT t.qname, format('%s START %s INCREMENT %s MINVALUE %s MAXVALUE %s CACHE %s%s', \
                   format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, \
                   CASE WHEN s.seqcycle THEN ' CYCLE' ELSE '' END), NULL::text \
                 FROM tab t JOIN pg_sequence s ON s.seqrelid = t.oid"
            ),
        ),
        (
            ObjectKind::Grant,
            format!(
                "{RELATIONS} SELECT g.name, g.privileges, g.relation FROM ( \
                   SELECT 'on ' || CASE WHEN c.relkind = 'S' THEN 'sequence ' ELSE 'table ' END || t.qname AS name, \
                          CASE WHEN c.relkind = 'S' THEN {seq_grants} ELSE {rel_grants} END AS privileges, \
                          t.qname AS relation \
                   FROM tab t JOIN pg_class c ON c.oid = t.oid WHERE t.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') \
                   UNION ALL \
                   SELECT format('on function %I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)), \
                          {fn_grants}, NULL \
                   FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
                   WHERE {USER_SCHEMAS} AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass \
                                   AND d.objid = p.oid AND d.deptype = 'e') \
                   UNION ALL \
                   SELECT 'on schema ' || quote_ident(n.nspname), {schema_grants}, NULL \
                   FROM pg_namespace n WHERE {USER_SCHEMAS} \
                 ) g WHERE g.privileges IS NOT NULL"
            ),
        ),
        (
            ObjectKind::DefaultPrivilege,
            "SELECT format('for role %s in %s on %s', pg_get_userbyid(d.defaclrole), \
                      coalesce(quote_ident(n.nspname), 'all schemas'), \
                      CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences' WHEN 'f' THEN 'functions' \
                                           WHEN 'T' THEN 'types' WHEN 'n' THEN 'schemas' END), \
                    (SELECT string_agg(g, '; ' ORDER BY g) FROM ( \
                       SELECT CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END || ': ' || \
                              string_agg(x.privilege_type || CASE WHEN x.is_grantable THEN '*' ELSE '' END, ', ' \
                                         ORDER BY x.privilege_type) AS g \
                       FROM aclexplode(d.defaclacl) x GROUP BY x.grantee) per_grantee), NULL::text \
             FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace"
                .to_string(),
        ),
    ]
}

/// The SQL of every query a snapshot is read with: part of the key of a
/// cached snapshot (`crate::migration::snapshot_key`), so a rez-db that reads
/// the catalogs differently never reuses a schema read the old way.
pub fn query_texts() -> Vec<String> {
    queries().into_iter().map(|(_, sql)| sql).collect()
}

/// The schema of the database `conn` is on. `managed_parents`: the
/// partitioned tables whose partitions are compared by their parent only.
pub async fn snapshot(
    conn: &mut PgConnection,
    managed_parents: &[&str],
) -> Result<SchemaSnapshot, sqlx::Error> {
    let parents: Vec<String> = managed_parents.iter().map(|p| p.to_string()).collect();
    let mut objects = Vec::new();
    for (kind, sql) in queries() {
        let query = sqlx::query_as::<_, (String, Option<String>, Option<String>)>(&sql);
        // Only the queries over relations take the managed parents.
        let query = match sql.contains("$1") {
            true => query.bind(&parents),
            false => query,
        };
        let rows = query.fetch_all(&mut *conn).await?;
        objects.extend(
            rows.into_iter()
                .map(|(name, definition, relation)| SchemaObject {
                    kind,
                    name,
                    definition: definition.unwrap_or_default(),
                    relation,
                }),
        );
    }
    Ok(SchemaSnapshot::new(objects))
}

/// Those of `tables` (in `public`) that exist and hold at least one row.
pub async fn tables_with_rows(
    conn: &mut PgConnection,
    tables: &[&str],
) -> Result<Vec<String>, sqlx::Error> {
    let mut found = Vec::new();
    for table in tables {
        let exists: bool =
            sqlx::query_scalar("SELECT to_regclass(format('public.%I', $1::text)) IS NOT NULL")
                .bind(table)
                .fetch_one(&mut *conn)
                .await?;
        if !exists {
            continue;
        }
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM public.{})",
            super::quote_ident(table)
        );
        if sqlx::query_scalar::<_, bool>(&sql)
            .fetch_one(&mut *conn)
            .await?
        {
            found.push(table.to_string());
        }
    }
    Ok(found)
}
