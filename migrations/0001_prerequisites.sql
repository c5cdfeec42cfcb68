-- 0001_prerequisites: assert that the database was prepared by `rez-db create`.
--
-- Extensions and roles are cluster/database-level objects that need elevated
-- privileges; `rez-db create` makes them. Migrations never create them: they only
-- check, and stop with a message that names what is missing and how to fix it.
--   extensions: postgis, pg_trgm, pgcrypto, "uuid-ossp"
--   roles (NOLOGIN): app_user, app_admin, merchant_role

DO $$
DECLARE
    missing_ext  text[];
    missing_role text[];
BEGIN
    -- Partition bounds, date_trunc(..., tz) and FKs from partitioned tables need 14+;
    -- the schema is written and tested for 15.
    IF current_setting('server_version_num')::int < 150000 THEN
        RAISE EXCEPTION 'PostgreSQL 15 or later is required, this server is %',
            current_setting('server_version');
    END IF;

    SELECT array_agg(e ORDER BY e) INTO missing_ext
    FROM unnest(ARRAY['postgis', 'pg_trgm', 'pgcrypto', 'uuid-ossp']) AS e
    WHERE NOT EXISTS (SELECT 1 FROM pg_extension x WHERE x.extname = e);

    IF missing_ext IS NOT NULL THEN
        RAISE EXCEPTION 'missing extension(s) in database %: %',
            current_database(), array_to_string(missing_ext, ', ')
            USING HINT = 'run `rez-db create` first';
    END IF;

    SELECT array_agg(r ORDER BY r) INTO missing_role
    FROM unnest(ARRAY['app_user', 'app_admin', 'merchant_role']) AS r
    WHERE NOT EXISTS (SELECT 1 FROM pg_roles x WHERE x.rolname = r);

    IF missing_role IS NOT NULL THEN
        RAISE EXCEPTION 'missing role(s): %', array_to_string(missing_role, ', ')
            USING HINT = 'run `rez-db create` first';
    END IF;
END
$$;
