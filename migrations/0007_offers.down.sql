-- 0007_offers down.
DROP TABLE offers;
