-- 0006_catalog down: the catalog tables, with their indexes and triggers.
DROP TABLE products;
DROP TABLE categories;
