-- 0004_users down: the user tables, with their indexes and triggers.
DROP TABLE user_sessions;
DROP TABLE user_social_accounts;
DROP TABLE user_colleges;
DROP TABLE user_addresses;
DROP TABLE users;
