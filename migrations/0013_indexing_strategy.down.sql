-- rez-db:no-transaction
-- 0013_indexing_strategy down: the indexes, dropped CONCURRENTLY (writes continue),
-- one statement at a time, each idempotent so an interrupted revert can run again.
DROP INDEX CONCURRENTLY IF EXISTS idx_merchants_name_fts;
DROP INDEX CONCURRENTLY IF EXISTS idx_products_name_fts;
DROP INDEX CONCURRENTLY IF EXISTS idx_offers_active;
DROP INDEX CONCURRENTLY IF EXISTS idx_merchants_active;
DROP INDEX CONCURRENTLY IF EXISTS idx_user_preferences_gin;
DROP INDEX CONCURRENTLY IF EXISTS idx_products_attributes_gin;
DROP INDEX CONCURRENTLY IF EXISTS idx_merchant_outlets_location_gist;
DROP INDEX CONCURRENTLY IF EXISTS idx_merchants_location_gist;
DROP INDEX CONCURRENTLY IF EXISTS idx_merchants_city_status;
DROP INDEX CONCURRENTLY IF EXISTS idx_merchants_gstin;
