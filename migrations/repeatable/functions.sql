-- repeatable/functions: the trigger functions of 0002_functions, replaced whole whenever
-- this file changes (`rez-db migrate` runs a repeatable file again when its checksum
-- differs from its last application). 0002 still creates them first (an applied file is
-- history and never edited); from here on, a change to one of them is made in this file.
-- The text is 0002's, CREATE OR REPLACE, so applying it to a database 0002 built changes
-- nothing (tests/pg/migrate_workflow.rs compares the catalogs). create_range_partitions
-- stays in 0002: migrations call it while they run, before any repeatable file.

-- Keeps updated_at truthful whatever the client sends. now() is the transaction's
-- start time, the same clock as the columns' DEFAULT now().
CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION set_updated_at() IS
    'BEFORE UPDATE row trigger: sets NEW.updated_at to now(). Attached as trigger "set_updated_at" on every table that has updated_at.';

-- Row-level audit into audit_log.
--   INSERT: new_data = the whole new row, old_data NULL.
--   DELETE: old_data = the whole old row, new_data NULL.
--   UPDATE: old_data/new_data hold only the keys whose values differ; nothing is
--           written when nothing but updated_at (bookkeeping kept by set_updated_at)
--           changed, so a no-op UPDATE leaves no audit row.
--   changed_by: the session/transaction setting app.actor (SET LOCAL app.actor = '...'),
--           NULL when unset or reset to ''.
-- SECURITY DEFINER with a pinned search_path: application roles need no privilege on
-- audit_log (and so cannot write or forge audit rows); it runs as the schema owner.
CREATE OR REPLACE FUNCTION audit_trigger_func() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    old_doc jsonb;
    new_doc jsonb;
    row_key text;
BEGIN
    IF TG_LEVEL <> 'ROW' OR TG_WHEN <> 'AFTER' THEN
        RAISE EXCEPTION 'audit_trigger_func() must be an AFTER ... FOR EACH ROW trigger (on %)',
            TG_TABLE_NAME;
    END IF;

    IF TG_OP = 'INSERT' THEN
        new_doc := to_jsonb(NEW);
        row_key := new_doc ->> 'id';
    ELSIF TG_OP = 'DELETE' THEN
        old_doc := to_jsonb(OLD);
        row_key := old_doc ->> 'id';
    ELSE
        SELECT jsonb_object_agg(o.key, o.value), jsonb_object_agg(o.key, n.value)
          INTO old_doc, new_doc
          FROM jsonb_each(to_jsonb(OLD)) AS o
          JOIN jsonb_each(to_jsonb(NEW)) AS n ON n.key = o.key
         WHERE o.value IS DISTINCT FROM n.value;

        IF old_doc IS NULL OR old_doc - 'updated_at' = '{}'::jsonb THEN
            RETURN NULL;
        END IF;
        row_key := to_jsonb(NEW) ->> 'id';
    END IF;

    INSERT INTO public.audit_log (table_name, operation, row_id, old_data, new_data, changed_by)
    VALUES (TG_TABLE_NAME, TG_OP, row_key, old_doc, new_doc,
            NULLIF(current_setting('app.actor', true), ''));

    RETURN NULL;
END
$$;

COMMENT ON FUNCTION audit_trigger_func() IS
    'AFTER row trigger writing audit_log: full row on INSERT/DELETE, only changed fields on UPDATE (none when only updated_at changed); changed_by = current_setting(''app.actor'', true).';

-- Reference policy "users with wallet balance > 0: RESTRICT", while wallets.user_id is
-- ON DELETE CASCADE. The cascade stays (a user without balance takes the empty wallet
-- with them) and this BEFORE DELETE trigger refuses the delete while anything is left.
-- The wallet row is locked FOR UPDATE so a concurrent credit cannot slip in between
-- this check and the cascade. SQLSTATE 23503 (foreign_key_violation): clients already
-- treat it as "referenced rows prevent this delete".
-- SECURITY DEFINER so the check (and its lock) works whatever the deleting role may read.
CREATE OR REPLACE FUNCTION refuse_user_delete_with_balance() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    w record;
BEGIN
    SELECT wl.id,
           coalesce(wl.rez_coins_balance, 0)   AS rez,
           coalesce(wl.prive_coins_balance, 0) AS prive,
           coalesce(wl.promo_coins_balance, 0) AS promo,
           coalesce(wl.cash_balance, 0)        AS cash,
           coalesce(jsonb_path_exists(wl.branded_coins, '$.* ? (@.balance.double() > 0)'), false)
                                               AS branded
      INTO w
      FROM public.wallets AS wl
     WHERE wl.user_id = OLD.id
       FOR UPDATE;

    IF FOUND AND (w.rez > 0 OR w.prive > 0 OR w.promo > 0 OR w.cash > 0 OR w.branded) THEN
        RAISE EXCEPTION 'cannot delete user %: wallet % still holds a balance', OLD.id, w.id
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL  = format('rez_coins_balance=%s, prive_coins_balance=%s, promo_coins_balance=%s, cash_balance=%s, branded coins with balance > 0: %s',
                                   w.rez, w.prive, w.promo, w.cash, w.branded),
                  HINT    = 'Settle or expire the balance through the wallet ledger first, or soft-delete the user (status = ''deleted'', deleted_at = now()).';
    END IF;

    RETURN OLD;
END
$$;

COMMENT ON FUNCTION refuse_user_delete_with_balance() IS
    'BEFORE DELETE row trigger on users: raises 23503 while the user''s wallet holds rez, prive, promo, cash or branded coins.';
