-- 0003_admin_and_colleges down: the tables, with their indexes and triggers.
DROP TABLE colleges;
DROP TABLE admin_users;
