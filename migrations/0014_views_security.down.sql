-- 0014_views_security down: the privileges, the policies and row-level security, and
-- the materialized view. The roles stay (cluster-wide, `rez-db create`'s).
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL PRIVILEGES ON SEQUENCES FROM app_admin;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL PRIVILEGES ON TABLES FROM app_admin;
REVOKE ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA public FROM app_admin;
REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA public FROM app_admin;
REVOKE SELECT, INSERT, UPDATE ON users FROM app_user;
REVOKE USAGE ON SCHEMA public FROM app_user, app_admin, merchant_role;
REVOKE SELECT ON merchants FROM merchant_role;
DROP POLICY merchants_admin_all ON merchants;
DROP POLICY merchant_isolation ON merchants;
ALTER TABLE merchants DISABLE ROW LEVEL SECURITY;
DROP MATERIALIZED VIEW merchant_stats;
