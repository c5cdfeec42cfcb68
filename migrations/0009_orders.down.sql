-- 0009_orders down: redemptions, payments and orders (ledger tables: refused while
-- they hold rows, unless --force), with their partitions.
DROP TABLE offer_redemptions;
DROP TABLE payments;
DROP TABLE orders;
