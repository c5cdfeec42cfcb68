-- 0010_referrals_loyalty_prive_students down.
DROP TABLE student_ambassadors;
DROP TABLE prive_merchants;
DROP TABLE prive_subscriptions;
DROP TABLE user_loyalty;
DROP TABLE loyalty_tiers;
DROP TABLE referrals;
