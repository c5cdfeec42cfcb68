-- repeatable/security: row-level security, the policies and the privileges of
-- 0014_views_security, replaced whole whenever this file changes. 0014 still creates
-- them first (history); from here on, a change to them is made here. Each statement is
-- idempotent (a policy is dropped and created again in this file's one transaction), so
-- applying it to a database 0014 built changes nothing (tests/pg/migrate_workflow.rs
-- compares the catalogs). The materialized view merchant_stats stays in 0014: it has no
-- CREATE OR REPLACE, and replacing it means dropping and refilling it.

-- Row-level security on merchants (reference "Access Control").
-- current_setting(..., true) returns NULL when app.current_merchant_id was never set
-- (the reference's one-argument form raises an error instead); NULLIF maps the ''
-- that a pooled session reports after RESET to NULL too. NULL matches no row: a
-- merchant session that forgot to identify itself sees nothing.
ALTER TABLE merchants ENABLE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS merchant_isolation ON merchants;
CREATE POLICY merchant_isolation ON merchants
    FOR ALL
    TO merchant_role
    USING (id = NULLIF(current_setting('app.current_merchant_id', true), '')::uuid);

-- With RLS enabled, a role with no policy sees no rows at all. app_admin holds ALL
-- privileges below and must keep seeing every merchant (the table owner bypasses RLS
-- anyway; FORCE is not set).
DROP POLICY IF EXISTS merchants_admin_all ON merchants;
CREATE POLICY merchants_admin_all ON merchants
    FOR ALL
    TO app_admin
    USING (true)
    WITH CHECK (true);

-- merchant_role reads its own merchant row; writes to merchants (status, commission,
-- verification) stay with the platform. Without a privilege the policy above would
-- have nothing to filter.
GRANT SELECT ON merchants TO merchant_role;


-- Privileges (reference "Role-Based Access", with valid syntax).
GRANT USAGE ON SCHEMA public TO app_user, app_admin, merchant_role;

GRANT SELECT, INSERT, UPDATE ON users TO app_user;

GRANT ALL PRIVILEGES ON ALL TABLES IN SCHEMA public TO app_admin;
GRANT ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA public TO app_admin;

-- Tables and sequences created later by the role that runs the migrations (future
-- migrations, partitions created by partition-rotate) get the same grant.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL PRIVILEGES ON TABLES TO app_admin;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL PRIVILEGES ON SEQUENCES TO app_admin;
