-- 0014_views_security: the merchant_stats materialized view, row-level security on
-- merchants, and the roles' privileges. Roles themselves are made by `rez-db create`.

-- Dashboard aggregate, exactly as the reference (completed orders only).
-- WITH DATA: an unpopulated materialized view cannot be read and cannot be refreshed
-- CONCURRENTLY; on an empty orders table populating it costs nothing.
CREATE MATERIALIZED VIEW merchant_stats AS
SELECT
    merchant_id,
    COUNT(DISTINCT user_id) AS total_customers,
    COUNT(*) AS total_orders,
    SUM(total_amount) AS total_revenue,
    AVG(rating) AS average_rating
FROM orders
WHERE status = 'completed'
GROUP BY merchant_id
WITH DATA;

-- UNIQUE (the reference's plain index would do for lookups): REFRESH MATERIALIZED
-- VIEW CONCURRENTLY requires a unique index on plain columns covering every row, and
-- is what lets readers keep reading during a refresh.
CREATE UNIQUE INDEX idx_merchant_stats_id ON merchant_stats (merchant_id);


-- Row-level security on merchants (reference "Access Control").
-- current_setting(..., true) returns NULL when app.current_merchant_id was never set
-- (the reference's one-argument form raises an error instead); NULLIF maps the ''
-- that a pooled session reports after RESET to NULL too. NULL matches no row: a
-- merchant session that forgot to identify itself sees nothing.
ALTER TABLE merchants ENABLE ROW LEVEL SECURITY;

CREATE POLICY merchant_isolation ON merchants
    FOR ALL
    TO merchant_role
    USING (id = NULLIF(current_setting('app.current_merchant_id', true), '')::uuid);

-- With RLS enabled, a role with no policy sees no rows at all. app_admin holds ALL
-- privileges below and must keep seeing every merchant (the table owner bypasses RLS
-- anyway; FORCE is not set).
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
