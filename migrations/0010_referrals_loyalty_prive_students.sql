-- 0010_referrals_loyalty_prive_students: referrals, loyalty_tiers, user_loyalty,
-- prive_subscriptions, prive_merchants, student_ambassadors.

CREATE TABLE referrals (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),

    referrer_id UUID NOT NULL REFERENCES users (id), -- user who referred
    referee_id UUID NOT NULL REFERENCES users (id), -- user who was referred

    referral_code VARCHAR(20) NOT NULL,

    -- Rewards (coins)
    referrer_reward_coins INTEGER DEFAULT 100,
    referee_reward_coins INTEGER DEFAULT 50,

    -- Status: pending, completed, expired
    status VARCHAR(20) DEFAULT 'pending',

    -- Completion condition: signup, first_purchase, spend_threshold
    condition_type VARCHAR(50) DEFAULT 'first_purchase',
    condition_met BOOLEAN DEFAULT FALSE,
    condition_met_at TIMESTAMPTZ,

    -- Rewards credited
    referrer_rewarded BOOLEAN DEFAULT FALSE,
    referee_rewarded BOOLEAN DEFAULT FALSE,
    rewarded_at TIMESTAMPTZ,

    created_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE INDEX idx_referrals_referrer ON referrals (referrer_id);
CREATE INDEX idx_referrals_referee ON referrals (referee_id);
CREATE INDEX idx_referrals_code ON referrals (referral_code);
CREATE INDEX idx_referrals_status ON referrals (status);


CREATE TABLE loyalty_tiers (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),

    name VARCHAR(100) NOT NULL, -- Bronze, Silver, Gold, Platinum
    level INTEGER NOT NULL, -- 1, 2, 3, 4

    -- Requirements
    min_spend NUMERIC(10, 2) NOT NULL, -- lifetime spend in INR
    min_orders INTEGER NOT NULL,

    -- Benefits
    coin_multiplier NUMERIC(3, 2) DEFAULT 1.00, -- 1.5x means 50% more coins
    exclusive_offers BOOLEAN DEFAULT FALSE,
    priority_support BOOLEAN DEFAULT FALSE,
    free_delivery BOOLEAN DEFAULT FALSE,

    -- Display
    color VARCHAR(7), -- hex colour
    icon_url TEXT,

    is_active BOOLEAN DEFAULT TRUE,

    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),

    CONSTRAINT idx_loyalty_tiers_level UNIQUE (level),
    CONSTRAINT loyalty_tiers_min_spend_nonnegative CHECK (min_spend >= 0)
);

CREATE TRIGGER set_updated_at BEFORE UPDATE ON loyalty_tiers
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();


CREATE TABLE user_loyalty (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users (id),
    current_tier_id UUID REFERENCES loyalty_tiers (id),

    -- Stats
    lifetime_spend NUMERIC(10, 2) DEFAULT 0.00,
    total_orders INTEGER DEFAULT 0,
    current_streak_days INTEGER DEFAULT 0, -- consecutive days with activity
    longest_streak_days INTEGER DEFAULT 0,

    -- Progress to next tier
    next_tier_id UUID REFERENCES loyalty_tiers (id),
    spend_to_next_tier NUMERIC(10, 2),
    orders_to_next_tier INTEGER,

    -- Achievements: [{id: "first_order", earned_at: "2024-01-15"}]
    achievements JSONB DEFAULT '[]',

    last_activity_at TIMESTAMPTZ,
    tier_achieved_at TIMESTAMPTZ,

    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),

    CONSTRAINT idx_user_loyalty_user_id UNIQUE (user_id),
    CONSTRAINT user_loyalty_lifetime_spend_nonnegative CHECK (lifetime_spend >= 0)
);

CREATE INDEX idx_user_loyalty_tier ON user_loyalty (current_tier_id);

CREATE TRIGGER set_updated_at BEFORE UPDATE ON user_loyalty
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();


CREATE TABLE prive_subscriptions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users (id),

    tier VARCHAR(20) NOT NULL, -- lite, plus, premium

    -- Pricing
    plan_duration INTEGER NOT NULL, -- months: 1, 3, 6, 12
    price NUMERIC(10, 2) NOT NULL,

    -- Validity (calendar dates)
    start_date DATE NOT NULL,
    end_date DATE NOT NULL,

    -- Status: active, expired, cancelled
    status VARCHAR(20) DEFAULT 'active',
    auto_renew BOOLEAN DEFAULT TRUE,

    -- Payment (payments is not partitioned: a real foreign key)
    payment_id UUID REFERENCES payments (id),

    -- Cancellation
    cancelled_at TIMESTAMPTZ,
    cancellation_reason TEXT,

    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),

    CONSTRAINT prive_subscriptions_price_nonnegative CHECK (price >= 0)
);

CREATE INDEX idx_prive_subs_user_id ON prive_subscriptions (user_id);
CREATE INDEX idx_prive_subs_status ON prive_subscriptions (status);
-- The reference defines idx_prive_subs_expiry twice: inline as (end_date) and in
-- "Indexing Strategy" as (user_id, end_date). The name takes the Indexing-Strategy
-- definition (a user's current subscription); idx_prive_subs_end_date keeps the
-- inline one for the nightly expiry scan.
CREATE INDEX idx_prive_subs_expiry ON prive_subscriptions (user_id, end_date);
CREATE INDEX idx_prive_subs_end_date ON prive_subscriptions (end_date);

CREATE TRIGGER set_updated_at BEFORE UPDATE ON prive_subscriptions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();


CREATE TABLE prive_merchants (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    merchant_id UUID NOT NULL REFERENCES merchants (id),

    -- Privé configuration
    is_prive_partner BOOLEAN DEFAULT FALSE,
    prive_tier VARCHAR(20), -- lite, plus, premium (which tiers get access)

    -- Benefits
    discount_percent NUMERIC(5, 2), -- exclusive discount for Privé members
    prive_coin_multiplier NUMERIC(3, 2) DEFAULT 1.00, -- extra coins for Privé members

    -- Offers only for Privé (offer IDs)
    exclusive_offers JSONB DEFAULT '[]',

    start_date DATE,
    end_date DATE,

    is_active BOOLEAN DEFAULT TRUE,

    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),

    CONSTRAINT prive_merchants_discount_percent CHECK (discount_percent BETWEEN 0 AND 100)
);

CREATE INDEX idx_prive_merchants_merchant_id ON prive_merchants (merchant_id);
CREATE INDEX idx_prive_merchants_active ON prive_merchants (is_active);

CREATE TRIGGER set_updated_at BEFORE UPDATE ON prive_merchants
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();


CREATE TABLE student_ambassadors (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users (id),
    college_id UUID NOT NULL REFERENCES colleges (id),

    ambassador_code VARCHAR(20) NOT NULL,

    -- Status: active, inactive, suspended
    status VARCHAR(20) DEFAULT 'active',

    -- Performance
    total_referrals INTEGER DEFAULT 0,
    successful_referrals INTEGER DEFAULT 0, -- referrals who made a purchase
    total_earnings NUMERIC(10, 2) DEFAULT 0.00,

    -- Commission (percentage)
    commission_rate NUMERIC(5, 2) DEFAULT 5.00,

    -- Payout: bank_transfer, upi, paytm
    payout_method VARCHAR(50),
    payout_details JSONB,

    -- Training
    training_completed BOOLEAN DEFAULT FALSE,
    training_completed_at TIMESTAMPTZ,

    -- Appointment
    appointed_at TIMESTAMPTZ DEFAULT NOW(),
    appointed_by UUID REFERENCES admin_users (id) ON DELETE SET NULL,

    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),

    UNIQUE (user_id, college_id),
    CONSTRAINT idx_ambassadors_code UNIQUE (ambassador_code),
    CONSTRAINT student_ambassadors_commission_rate_percent CHECK (commission_rate BETWEEN 0 AND 100)
);

-- Also the leading column of UNIQUE (user_id, college_id); kept for the name.
CREATE INDEX idx_ambassadors_user ON student_ambassadors (user_id);
CREATE INDEX idx_ambassadors_college ON student_ambassadors (college_id);
CREATE INDEX idx_ambassadors_status ON student_ambassadors (status);

CREATE TRIGGER set_updated_at BEFORE UPDATE ON student_ambassadors
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
