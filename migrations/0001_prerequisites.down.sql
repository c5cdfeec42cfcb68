-- 0001_prerequisites down: 0001 only checks; the extensions and roles it checks for
-- belong to `rez-db create` (dropped with the database by `rez-db create --drop`).
-- Nothing to undo.
SELECT 1;
