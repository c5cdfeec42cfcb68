-- 0012_audit_log down: the audit trigger on merchants and the audit log (a ledger
-- table: refused while it holds rows, unless --force), with its partitions. Run
-- `rez-db audit disable` first for the tables `rez-db audit enable` added: their
-- triggers would stay and fail on their next write.
DROP TRIGGER audit_merchants ON merchants;
DROP TABLE audit_log;
