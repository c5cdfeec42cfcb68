-- 0012_audit_log: the audit_log table (partitioned by month of changed_at) and the
-- audit trigger on merchants. The trigger function audit_trigger_func() is in 0002.
--
-- Differences from the reference's audit_log: TIMESTAMPTZ, partitioned for retention
-- (detach/drop old months), PRIMARY KEY (id, changed_at) as partitioning requires,
-- row_id (the audited row's id, as text, so any key type fits), and changed_by TEXT
-- taken from the app.actor setting (an admin uuid, a merchant user, or a job name such
-- as 'import-csv:users.csv'), NULL when the writer did not say.

CREATE TABLE audit_log (
    id UUID NOT NULL DEFAULT gen_random_uuid(),
    table_name VARCHAR(100) NOT NULL,
    operation VARCHAR(10) NOT NULL, -- INSERT, UPDATE, DELETE
    row_id TEXT,
    old_data JSONB, -- DELETE: whole row; UPDATE: changed fields only; INSERT: NULL
    new_data JSONB, -- INSERT: whole row; UPDATE: changed fields only; DELETE: NULL
    changed_by TEXT, -- current_setting('app.actor', true)
    changed_at TIMESTAMPTZ NOT NULL DEFAULT now(),

    PRIMARY KEY (id, changed_at)
) PARTITION BY RANGE (changed_at);

-- Current month and the next 3 (UTC, explicit +00 bounds; see 0002); partition-rotate adds more.
SELECT create_range_partitions('audit_log', 1, 'YYYY_MM', 4);

CREATE TABLE audit_log_default PARTITION OF audit_log DEFAULT;

-- "History of this row": WHERE table_name = $1 AND row_id = $2 ORDER BY changed_at.
CREATE INDEX idx_audit_log_row ON audit_log (table_name, row_id, changed_at);

CREATE TRIGGER audit_merchants
    AFTER INSERT OR UPDATE OR DELETE ON merchants
    FOR EACH ROW EXECUTE FUNCTION audit_trigger_func();
