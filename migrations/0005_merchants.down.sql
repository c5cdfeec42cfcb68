-- 0005_merchants down: the merchant tables, with their indexes and triggers.
DROP TABLE merchant_bank_accounts;
DROP TABLE merchant_users;
DROP TABLE merchant_outlets;
DROP TABLE merchants;
