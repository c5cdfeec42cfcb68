-- 0011_engagement down.
DROP TABLE admin_activity_logs;
DROP TABLE app_settings;
DROP TABLE notifications;
DROP TABLE reviews;
DROP TABLE campaigns;
DROP TABLE events;
