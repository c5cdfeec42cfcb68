-- bench/seed_floor.sql: the floor of bench/seed.sh. Inserts, with
-- INSERT ... SELECT ... FROM generate_series, the same row counts that
-- `rez-db seed --synthetic` loaded, into the same tables of a database migrated
-- the same way (same indexes, foreign keys, CHECKs and triggers, all enforced).
--
--   psql -X -q -1 -v ON_ERROR_STOP=1 -v n_users=5000 -v n_wallets=5000 ... -f bench/seed_floor.sql
--
-- One variable n_<table> per table rez-db filled (bench/seed.sh passes them
-- from rez-db's --json report), and `partitions_file`, a file of CREATE TABLE ... PARTITION OF
-- statements for the partitions rez-db created (same names and bounds).
-- Run with -1: one transaction, like rez-db.
-- `set_aside_file` and `rebuild_file` (may be empty): statements run after the
-- partitions and before REFRESH, to drop the tables' keys and indexes and to
-- build them again (bench/seed.sh's set-aside floor: what rez-db's load does).
--
-- Not a realistic dataset, only a valid one, with values of about the size
-- rez-db writes, in the same columns (so the same GIN, full-text and B-tree
-- entries are built). Ids are md5(prefix || i)::uuid: computable from i for
-- the foreign keys, and scattered like rez-db's random v4 ids, so the B-tree
-- inserts are as random as rez-db's. Reference rows (categories, colleges,
-- loyalty tiers) come from `rez-db seed`, loaded before and not timed.
-- Like rez-db it ends with REFRESH MATERIALIZED VIEW merchant_stats and an
-- ANALYZE of the tables it filled.
--
-- users.phone and users.email, unique like the ids, are scattered too: the
-- phone is an odd multiple of i modulo 2^31 (a bijection), the email an md5 prefix.
--
-- Each statement is preceded by a `\echo table <name>` so that, with
-- `\timing on` (bench/seed.sh sets it), the log gives per-table times.

\set ON_ERROR_STOP 1

SELECT array_agg(id ORDER BY slug) AS category_ids, count(*) AS n_categories FROM categories \gset
SELECT array_agg(id ORDER BY name) AS college_ids, count(*) AS n_colleges FROM colleges \gset
SELECT array_agg(id ORDER BY level) AS tier_ids, count(*) AS n_tiers FROM loyalty_tiers \gset

\echo table partitions
\i :partitions_file

\echo table set_aside
\i :set_aside_file

\echo table admin_users
INSERT INTO admin_users (id, email, password_hash, full_name, phone, role, permissions,
                         assigned_city, is_active, email_verified, last_login_at, created_at, updated_at)
SELECT md5('a' || i)::uuid, 'admin' || i || '@rez.money',
       '$2b$12$' || left(md5('pw' || i) || md5('pv' || i), 53), 'Admin Number ' || i,
       '+91' || (6000000000 + i), 'operations_admin',
       '{"offers": ["approve"], "merchants": ["view", "edit"]}', 'Mumbai', true, true,
       now() - interval '1 day', now() - interval '120 days', now() - interval '120 days'
FROM generate_series(1::bigint, :n_admin_users) AS i;

\echo table merchants
INSERT INTO merchants (id, business_name, business_type, legal_entity_name, primary_contact_name,
                       primary_contact_phone, primary_contact_email, address_line1, address_line2,
                       city, state, pincode, latitude, longitude, gstin, pan, fssai_license, logo_url,
                       package_tier, status, verified, verified_at, verified_by, onboarding_status,
                       onboarded_by, assigned_city, commission_rate, settlement_frequency,
                       average_rating, total_reviews, created_at, updated_at)
SELECT md5('m' || i)::uuid, 'Udupi Dhaba ' || i, 'restaurant', 'Udupi Dhaba ' || i || ' Private Limited',
       'Anil Jain', '+91' || (7000000000 + i), 'merchant' || i || '@yahoo.co.in',
       i || ', Gariahat Nagar', NULL, 'Kolkata', 'West Bengal', '700096',
       22.5 + (i % 1000) * 0.0001, 88.3 + (i % 997) * 0.0001,
       '19' || lpad(i::text, 11, '0') || 'ZE', 'MGFUP' || lpad((i % 100000)::text, 5, '0'),
       lpad(i::text, 14, '7'), 'https://cdn.rez.money/merchants/' || md5('m' || i)::uuid || '/logo.png',
       'premium', 'active', true, now() - interval '80 days', md5('a' || (1 + i % :n_admin_users))::uuid,
       'live', md5('a' || (1 + i % :n_admin_users))::uuid, 'Kolkata', 15.50, 'weekly',
       3.81, i % 200, now() - interval '85 days', now() - interval '80 days'
FROM generate_series(1::bigint, :n_merchants) AS i;

\echo table merchant_outlets
INSERT INTO merchant_outlets (id, merchant_id, outlet_name, outlet_code, address_line1, city, state,
                              pincode, latitude, longitude, contact_phone, contact_email,
                              operating_hours, is_open_now, features, is_active, created_at, updated_at)
SELECT md5('mo' || i)::uuid, md5('m' || (1 + (i - 1) % :n_merchants))::uuid,
       'Udupi Dhaba ' || i || ' - Madhapur', 'HYD-' || lpad(i::text, 6, '0') || '-01',
       i || ', Madhapur Cross', 'Hyderabad', 'Telangana', '500093',
       17.3 + (i % 1000) * 0.0001, 78.4 + (i % 997) * 0.0001, '+91' || (7600000000 + i), NULL,
       '{"fri": [{"open": "09:00", "close": "23:00"}], "mon": [{"open": "09:00", "close": "22:00"}], "sat": [{"open": "10:00", "close": "23:00"}], "sun": [{"open": "10:00", "close": "22:00"}], "thu": [{"open": "09:00", "close": "22:00"}], "tue": [{"open": "09:00", "close": "22:00"}], "wed": [{"open": "09:00", "close": "22:00"}]}',
       true, '["wifi"]', true, now() - interval '83 days', now() - interval '83 days'
FROM generate_series(1::bigint, :n_merchant_outlets) AS i;

\echo table merchant_users
INSERT INTO merchant_users (id, merchant_id, email, password_hash, full_name, phone, role, permissions,
                            is_active, email_verified, last_login_at, created_at, updated_at)
SELECT md5('mu' || i)::uuid, md5('m' || (1 + (i - 1) % :n_merchants))::uuid,
       'naveen.menon.m' || i || '@outlook.com', '$2b$12$' || left(md5('mw' || i) || md5('mv' || i), 53),
       'Naveen Menon', '+91' || (8400000000 + i), 'manager',
       '{"offers": ["create", "edit"], "transactions": ["view"]}', true, true,
       now() - interval '14 days', now() - interval '83 days', now() - interval '83 days'
FROM generate_series(1::bigint, :n_merchant_users) AS i;

\echo table merchant_bank_accounts
INSERT INTO merchant_bank_accounts (id, merchant_id, account_holder_name, account_number, ifsc_code,
                                    bank_name, branch_name, account_type, is_verified, verified_at,
                                    verification_method, is_primary, is_active, created_at, updated_at)
SELECT md5('mb' || i)::uuid, md5('m' || (1 + (i - 1) % :n_merchants))::uuid,
       'Udupi Dhaba ' || i || ' Private Limited', lpad(i::text, 16, '5'), 'HDFC0' || lpad((i % 1000000)::text, 6, '0'),
       'HDFC Bank', 'Kolkata Branch', 'current', true, now() - interval '84 days', 'penny_drop',
       true, true, now() - interval '85 days', now() - interval '85 days'
FROM generate_series(1::bigint, :n_merchant_bank_accounts) AS i;

\echo table products
INSERT INTO products (id, merchant_id, category_id, name, slug, description, price, original_price,
                      stock_quantity, in_stock, attributes, is_active, created_at, updated_at)
SELECT md5('p' || i)::uuid, md5('m' || (1 + (i - 1) % :n_merchants))::uuid,
       (:'category_ids'::uuid[])[1 + i % :n_categories],
       'Egg Biryani ' || i, 'egg-biryani-' || i, 'Egg Biryani ' || i || ' from Shree Krishna Biryani House',
       100 + (i % 900), 120 + (i % 900), i % 200, true,
       CASE WHEN i % 2 = 0 THEN '{"veg": false}' ELSE '{"veg": true}' END::jsonb,
       true, now() - interval '83 days', now() - interval '83 days'
FROM generate_series(1::bigint, :n_products) AS i;

-- An offer of merchant m is tied to m's first outlet (outlet m), when it has one.
\echo table offers
INSERT INTO offers (id, merchant_id, outlet_id, title, description, terms_conditions, offer_type,
                    discount_value, max_discount, min_order_value, bogo_config, rez_coins_required,
                    rez_coins_earned, branded_coins_earned, valid_from, valid_until, available_days,
                    available_hours, total_redemption_limit, per_user_limit, redemptions_count,
                    user_segment, tags, categories_applicable, status, approval_status, approved_by,
                    approved_at, rejection_reason, view_count, save_count, is_featured,
                    display_priority, created_at, updated_at)
SELECT md5('o' || i)::uuid, md5('m' || m)::uuid,
       CASE WHEN m <= :n_merchant_outlets THEN md5('mo' || m)::uuid END,
       'Flat ₹130 off on orders above ₹199', 'Flat ₹130 off on orders above ₹199 at Udupi Dhaba ' || m,
       'Valid once per order. Cannot be combined with other offers.', 'discount_fixed',
       130.00, NULL, 199.00, NULL, 0, 30, 0,
       now() - interval '81 days', now() + interval '31 days',
       '["mon", "tue", "wed", "thu", "fri", "sat", "sun"]',
       '[{"end": "15:00", "start": "11:00"}, {"end": "22:30", "start": "18:00"}]',
       NULL, 1, i % 50, 'all',
       CASE i % 3 WHEN 0 THEN '["lunch"]' WHEN 1 THEN '["weekend", "festive"]' ELSE '["flash_deal"]' END::jsonb,
       jsonb_build_array((:'category_ids'::uuid[])[1 + i % :n_categories]),
       'active', 'approved', md5('a' || (1 + i % :n_admin_users))::uuid, now() - interval '81 days',
       NULL, i % 1000, i % 400, i % 10 = 0, i % 5, now() - interval '82 days', now() - interval '81 days'
FROM generate_series(1::bigint, :n_offers) AS i, LATERAL (SELECT 1 + (i - 1) % :n_merchants AS m) AS om;

\echo table prive_merchants
INSERT INTO prive_merchants (id, merchant_id, is_prive_partner, prive_tier, discount_percent,
                             prive_coin_multiplier, exclusive_offers, start_date, end_date, is_active,
                             created_at, updated_at)
SELECT md5('pm' || i)::uuid, md5('m' || (1 + (i - 1) % :n_merchants))::uuid, true, 'lite', 18.00, 1.25,
       jsonb_build_array(md5('o' || i)::uuid), current_date - 80, current_date + 285, true,
       now() - interval '80 days', now() - interval '80 days'
FROM generate_series(1::bigint, :n_prive_merchants) AS i;

\echo table campaigns
INSERT INTO campaigns (id, name, campaign_type, target_segment, title, message, schedule_type,
                       scheduled_at, status, sent_count, delivered_count, opened_count, clicked_count,
                       created_by, created_at, updated_at, sent_at)
SELECT md5('c' || i)::uuid, 'Weekend Bonanza ' || i, 'in_app', 'active_users', 'Weekend Bonanza',
       'Collect up to 120 bonus coins before they expire!', 'scheduled', now() - interval '86 days',
       'sent', 33782, 32768, 11823, 2702, md5('a' || (1 + i % :n_admin_users))::uuid,
       now() - interval '88 days', now() - interval '86 days', now() - interval '86 days'
FROM generate_series(1::bigint, :n_campaigns) AS i;

\echo table events
INSERT INTO events (id, name, slug, description, event_type, start_date, end_date, theme_color,
                    featured_merchants, total_offers, target_cities, status, is_featured, created_by,
                    created_at, updated_at)
SELECT md5('e' || i)::uuid, 'Weekend Flash Sale ' || i, 'weekend-flash-sale-' || i,
       'Weekend Flash Sale: the best offers of the season across ReZ merchants', 'flash_sale',
       now() - interval '2 days', now() + interval '2 days', '#6A1B9A',
       jsonb_build_array(md5('m' || (1 + i % :n_merchants))::uuid), 5, '[]', 'live', true,
       md5('a' || (1 + i % :n_admin_users))::uuid, now() - interval '90 days', now() - interval '90 days'
FROM generate_series(1::bigint, :n_events) AS i;

\echo table users
INSERT INTO users (id, phone, email, password_hash, full_name, gender, date_of_birth, email_verified,
                   phone_verified, language, status, account_type, last_login_at, created_at,
                   updated_at, deleted_at)
SELECT md5('u' || i)::uuid, '+91' || (7000000000 + i * 2654435761 % 2147483648),
       left(md5('e' || i), 16) || '@yahoo.co.in',
       '$2b$12$' || left(md5('uw' || i) || md5('uv' || i), 53), 'Siddharth Rao',
       CASE WHEN i % 2 = 0 THEN 'male' ELSE 'female' END, date '1990-01-01' + (i % 7000)::int,
       true, true, 'en', 'active', 'regular', now() - interval '1 hour',
       now() - make_interval(secs => (i * 7919) % 7776000), now() - make_interval(secs => (i * 7919) % 7776000),
       NULL
FROM generate_series(1::bigint, :n_users) AS i;

\echo table user_addresses
INSERT INTO user_addresses (id, user_id, label, full_name, phone, address_line1, address_line2, landmark,
                            city, state, pincode, latitude, longitude, is_default, created_at, updated_at)
SELECT md5('ua' || i)::uuid, md5('u' || (1 + (i - 1) % :n_users))::uuid,
       CASE WHEN i <= :n_users THEN 'home' ELSE 'work' END, 'Ananya Jain', '+91' || (9800000000 + i),
       i || ', Velachery Lane', 'Flat 420', 'Near Velachery Metro', 'Chennai', 'Tamil Nadu', '600032',
       13.0 + (i % 1000) * 0.0001, 80.2 + (i % 997) * 0.0001, i <= :n_users,
       now() - interval '40 days', now() - interval '40 days'
FROM generate_series(1::bigint, :n_user_addresses) AS i;

\echo table user_colleges
INSERT INTO user_colleges (id, user_id, college_id, student_id_number, student_email, course,
                           year_of_study, graduation_year, verification_status, verified_at,
                           verified_by, is_active, created_at, updated_at)
SELECT md5('uc' || i)::uuid, md5('u' || i)::uuid, (:'college_ids'::uuid[])[1 + i % :n_colleges],
       '2024' || lpad(i::text, 7, '0'), 'student' || i || '@iisc.ac.in', 'B.Com', 1 + i % 4, 2026 + i % 4,
       'verified', now() - interval '4 days', md5('a' || (1 + i % :n_admin_users))::uuid, true,
       now() - interval '6 days', now() - interval '4 days'
FROM generate_series(1::bigint, :n_user_colleges) AS i;

\echo table wallets
INSERT INTO wallets (id, user_id, rez_coins_balance, rez_coins_lifetime_earned, rez_coins_lifetime_spent,
                     branded_coins, prive_coins_balance, prive_coins_lifetime_earned,
                     prive_coins_lifetime_spent, promo_coins_balance, cash_balance, is_active,
                     created_at, updated_at)
SELECT md5('w' || i)::uuid, md5('u' || i)::uuid, 31, 184, 153,
       CASE WHEN i % 3 = 0
            THEN jsonb_build_object(md5('m' || (1 + i % :n_merchants))::uuid::text,
                                    '{"spent": 19, "earned": 20, "balance": 1}'::jsonb)
            ELSE '{}'::jsonb END,
       0, 0, 0, 0, 0.00, true, now() - interval '60 days', now() - interval '60 days'
FROM generate_series(1::bigint, :n_wallets) AS i;

\echo table promo_coins
INSERT INTO promo_coins (id, wallet_id, user_id, campaign_id, campaign_name, amount, remaining_balance,
                         issued_at, expires_at, is_expired, created_at)
SELECT md5('pc' || i)::uuid, md5('w' || u)::uuid, md5('u' || u)::uuid, NULL, 'Welcome Bonus', 60, i % 61,
       now() - interval '50 days', now() - interval '20 days', i % 61 = 0, now() - interval '50 days'
FROM generate_series(1::bigint, :n_promo_coins) AS i, LATERAL (SELECT 1 + (i - 1) % :n_users AS u) AS pu;

-- Rows grouped by user (user u owns a consecutive run of i), as rez-db loads
-- them; one in five is a branded-coin row with its merchant.
\echo table wallet_transactions
INSERT INTO wallet_transactions (id, wallet_id, user_id, transaction_type, coin_type, amount, balance_after,
                                 reference_type, reference_id, merchant_id, promo_campaign_id, expires_at,
                                 description, metadata, created_at)
SELECT md5('wt' || i)::uuid, md5('w' || u)::uuid, md5('u' || u)::uuid,
       CASE WHEN i % 2 = 0 THEN 'spend' ELSE 'earn' END,
       CASE WHEN i % 5 = 0 THEN 'branded' ELSE 'rez' END,
       CASE WHEN i % 2 = 0 THEN -70 ELSE 70 END, i % 2 * 70,
       'purchase', md5('or' || i)::uuid,
       CASE WHEN i % 5 = 0 THEN md5('m' || (1 + i % :n_merchants))::uuid END, NULL, NULL,
       'Coins used on order ORD-20260919-' || lpad(i::text, 7, '0'),
       jsonb_build_object('order_id', md5('or' || i)::uuid, 'promo_lots', jsonb_build_array(md5('pc' || i)::uuid)),
       now() - make_interval(secs => (i * 7919) % 7776000)
FROM generate_series(1::bigint, :n_wallet_transactions) AS i,
     LATERAL (SELECT 1 + (i - 1) * :n_users / :n_wallet_transactions AS u) AS wu;

-- Order i belongs to user ou(i) = 1 + (i - 1) * users / orders and merchant
-- om(i) = 1 + i % merchants; payments, redemptions and reviews use the same
-- formulas for "the order's user".
\echo table orders
INSERT INTO orders (id, order_number, user_id, merchant_id, outlet_id, items, subtotal, discount_amount,
                    tax_amount, delivery_fee, total_amount, offers_applied, coins_used, coins_value,
                    coins_earned, payment_method, payment_status, payment_transaction_id, paid_at, status,
                    delivery_address, delivery_type, confirmed_at, completed_at, cancelled_at,
                    cancellation_reason, rating, review_text, reviewed_at, created_at, updated_at)
SELECT md5('or' || i)::uuid, 'ORD-' || to_char(t, 'YYYYMMDD') || '-' || lpad(i::text, 8, '0'),
       md5('u' || ou)::uuid, md5('m' || om)::uuid,
       CASE WHEN om <= :n_merchant_outlets THEN md5('mo' || om)::uuid END,
       jsonb_build_array(
           jsonb_build_object('qty', 3, 'name', 'Chole Bhature', 'price', '330.00', 'total', '990.00',
                              'product_id', md5('p' || (1 + i % :n_products))::uuid),
           jsonb_build_object('qty', 1, 'name', 'Rajma Chawal', 'price', '340.00', 'total', '340.00',
                              'product_id', md5('p' || (2 + i % :n_products))::uuid)),
       1330.00, 0.00, 66.50, 0.00, 1346.50, '[]', 100, 50.00, 53, 'card', 'paid',
       'pay_' || md5('pay' || i), t + interval '2 minutes', 'completed', NULL, 'pickup',
       t + interval '2 minutes', t + interval '45 minutes', NULL, NULL,
       1 + i % 5, 'Absolutely loved it', t + interval '1 day', t, t + interval '1 day'
FROM generate_series(1::bigint, :n_orders) AS i,
     LATERAL (SELECT 1 + (i - 1) * :n_users / :n_orders AS ou, 1 + i % :n_merchants AS om,
                     now() - make_interval(secs => 86400 + (i * 7919) % 6739200) AS t) AS o;

\echo table payments
INSERT INTO payments (id, order_id, user_id, gateway, gateway_transaction_id, gateway_order_id, amount,
                      payment_method, payment_details, status, failure_reason, initiated_at,
                      completed_at, created_at)
SELECT md5('pay' || i)::uuid, md5('or' || i)::uuid, md5('u' || (1 + (i - 1) % :n_orders * :n_users / :n_orders))::uuid,
       'razorpay', 'pay_' || md5('pay' || i), 'order_' || left(md5('go' || i), 14), 1346.50, 'card',
       jsonb_build_object('card_last4', lpad((i % 10000)::text, 4, '0'), 'card_network', 'rupay'),
       'success', NULL, now() - interval '10 days', now() - interval '10 days' + interval '1 minute',
       now() - interval '10 days'
FROM generate_series(1::bigint, :n_payments) AS i;

\echo table offer_redemptions
INSERT INTO offer_redemptions (id, offer_id, user_id, merchant_id, outlet_id, order_id, original_amount,
                               discount_amount, final_amount, rez_coins_used, rez_coins_earned,
                               branded_coins_earned, status, redeemed_at, completed_at, cancelled_at,
                               created_at)
SELECT md5('red' || i)::uuid, md5('o' || ofr)::uuid, md5('u' || (1 + (i - 1) % :n_orders * :n_users / :n_orders))::uuid,
       md5('m' || om)::uuid, CASE WHEN om <= :n_merchant_outlets THEN md5('mo' || om)::uuid END,
       md5('or' || i)::uuid, 8399.00, 1259.00, 7140.00, 0, 0, 40, 'completed',
       now() - interval '10 days', now() - interval '10 days' + interval '2 hours', NULL,
       now() - interval '10 days'
FROM generate_series(1::bigint, :n_offer_redemptions) AS i,
     LATERAL (SELECT 1 + i % :n_offers AS ofr, 1 + (i % :n_offers) % :n_merchants AS om) AS r;

\echo table referrals
INSERT INTO referrals (id, referrer_id, referee_id, referral_code, referrer_reward_coins,
                       referee_reward_coins, status, condition_type, condition_met, condition_met_at,
                       referrer_rewarded, referee_rewarded, rewarded_at, created_at)
SELECT md5('ref' || i)::uuid, md5('u' || (1 + (2 * i - 2) % :n_users))::uuid,
       md5('u' || (1 + (2 * i - 1) % :n_users))::uuid, 'REZ' || upper(left(md5('rc' || i), 7)), 100, 50,
       'completed', 'signup', true, now() - interval '37 days', true, true,
       now() - interval '37 days' + interval '1 minute', now() - interval '37 days'
FROM generate_series(1::bigint, :n_referrals) AS i;

\echo table user_loyalty
INSERT INTO user_loyalty (id, user_id, current_tier_id, lifetime_spend, total_orders, next_tier_id,
                          spend_to_next_tier, orders_to_next_tier, last_activity_at, tier_achieved_at,
                          created_at, updated_at)
SELECT md5('ul' || i)::uuid, md5('u' || i)::uuid, (:'tier_ids'::uuid[])[1 + i % (:n_tiers - 1)],
       4660.20, 5, (:'tier_ids'::uuid[])[2 + i % (:n_tiers - 1)], 2839.80, 5,
       now() - interval '2 days', now() - interval '2 days', now() - interval '60 days', now() - interval '2 days'
FROM generate_series(1::bigint, :n_user_loyalty) AS i;

\echo table reviews
INSERT INTO reviews (id, user_id, merchant_id, order_id, rating, title, review_text, service_rating,
                     value_rating, ambience_rating, status, is_verified_purchase, merchant_response,
                     merchant_responded_at, helpful_count, flagged_count, moderated_by, created_at,
                     updated_at)
SELECT md5('rev' || i)::uuid, md5('u' || (1 + (i - 1) % :n_orders * :n_users / :n_orders))::uuid,
       md5('m' || (1 + i % :n_merchants))::uuid, md5('or' || i)::uuid, 1 + i % 5,
       'Decent, could be better', 'Decent, could be better. The Leather Sandals was just as described.',
       1 + (i + 1) % 5, 1 + (i + 2) % 5, 1 + (i + 3) % 5, 'published', true, NULL, NULL, i % 30, 0, NULL,
       now() - interval '20 days', now() - interval '20 days'
FROM generate_series(1::bigint, :n_reviews) AS i;

\echo table notifications
INSERT INTO notifications (id, user_id, type, title, message, action_type, action_data, priority, is_read,
                           read_at, delivery_method, delivered, delivered_at, created_at)
SELECT md5('n' || i)::uuid, md5('u' || (1 + (i - 1) % :n_users))::uuid, 'order_update', 'Order completed',
       'Your order ORD-20261117-' || lpad(i::text, 7, '0') || ' is complete. You earned 44 ReZ coins.',
       'open_order', jsonb_build_object('order_id', md5('or' || i)::uuid), 'normal', i % 2 = 0,
       CASE WHEN i % 2 = 0 THEN now() - interval '7 days' END, 'push', true,
       now() - interval '8 days', now() - interval '8 days'
FROM generate_series(1::bigint, :n_notifications) AS i;

\echo table rebuild
\i :rebuild_file

\echo table merchant_stats
REFRESH MATERIALIZED VIEW merchant_stats;

\echo table analyze
ANALYZE admin_users, merchants, merchant_outlets, merchant_users, merchant_bank_accounts, products, offers,
        prive_merchants, campaigns, events, users, user_addresses, user_colleges, wallets, promo_coins,
        wallet_transactions, orders, payments, offer_redemptions, referrals, user_loyalty, reviews,
        notifications;
