-- rez-db:no-transaction
-- 0013_indexing_strategy: the Indexing-Strategy indexes of the reference on NON-partitioned
-- tables that are not already created beside their table: B-tree, partial, GiST, GIN
-- (JSONB) and full-text. Built CONCURRENTLY, so writes continue on a live database.
--
-- Comments in this file avoid semicolons and quote marks, so that even a naive
-- statement splitter cuts it correctly.
--
-- This file runs outside a transaction, one statement at a time, and is re-run whole
-- after a failure, so every statement is idempotent. A failed CREATE INDEX CONCURRENTLY
-- leaves an INVALID index behind under its name, which IF NOT EXISTS would then skip
-- forever: the first statement drops such leftovers (only invalid ones, only these
-- names) so the re-run rebuilds them.
--
-- Indexing-Strategy entries NOT here:
--   * on partitioned tables (CONCURRENTLY is not supported there): idx_orders_user_id,
--     idx_orders_merchant_id, idx_orders_status, idx_orders_user_status (0009),
--     idx_wallet_transactions_wallet_id (0008).
--   * same name as an inline index, created beside its table (with the Indexing-Strategy
--     definition where the two differ):
--     idx_users_email, idx_users_phone (0004, unique constraints), idx_merchants_status
--     (0005), idx_offers_status, idx_offers_validity, idx_offers_featured (0007),
--     idx_prive_subs_expiry (0010).
--   * identical to another index, not created (docs/schema.md, section Reference indexes
--     served by another index): idx_orders_created_at, idx_notifications_created_at,
--     idx_notifications_user_read, idx_offers_tags_gin.

DO $$
DECLARE
    leftover regclass;
BEGIN
    FOR leftover IN
        SELECT i.indexrelid::regclass
          FROM pg_index AS i
          JOIN pg_class AS c ON c.oid = i.indexrelid
          JOIN pg_namespace AS n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema()
           AND NOT i.indisvalid
           AND c.relname IN ('idx_merchants_gstin', 'idx_merchants_city_status',
                             'idx_merchants_location_gist', 'idx_merchant_outlets_location_gist',
                             'idx_products_attributes_gin', 'idx_user_preferences_gin',
                             'idx_merchants_active', 'idx_offers_active',
                             'idx_products_name_fts', 'idx_merchants_name_fts')
    LOOP
        RAISE NOTICE 'dropping invalid index % left by an interrupted run', leftover;
        EXECUTE format('DROP INDEX %s', leftover);
    END LOOP;
END
$$;

-- Single-column
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_merchants_gstin
    ON merchants (gstin);

-- Composite (partial): active merchants of a city
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_merchants_city_status
    ON merchants (city, status) WHERE status = 'active';

-- Geospatial (PostGIS): on the generated geography column, not on an expression
-- (ST_MakePoint(longitude, latitude) alone is an SRID-less geometry, unusable for
-- distance in metres). Query with ST_DWithin(location, $point::geography, metres).
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_merchants_location_gist
    ON merchants USING GIST (location);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_merchant_outlets_location_gist
    ON merchant_outlets USING GIST (location);

-- JSONB (GIN)
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_products_attributes_gin
    ON products USING GIN (attributes);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_user_preferences_gin
    ON users USING GIN (notification_preferences);

-- Partial
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_merchants_active
    ON merchants (city) WHERE status = 'active' AND deleted_at IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_offers_active
    ON offers (merchant_id) WHERE status = 'active';

-- Full-text search (the two-argument to_tsvector with a constant configuration is
-- immutable. Queries must use the same expression to match the index)
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_products_name_fts
    ON products USING GIN (to_tsvector('english', name));
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_merchants_name_fts
    ON merchants USING GIN (to_tsvector('english', business_name));
