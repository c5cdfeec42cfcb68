-- 0007_offers: offers. (offer_redemptions points at orders and comes in 0009.)
-- idx_offers_active (partial) is in 0013 with the other Indexing-Strategy indexes.

CREATE TABLE offers (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    merchant_id UUID NOT NULL REFERENCES merchants (id) ON DELETE CASCADE,
    outlet_id UUID REFERENCES merchant_outlets (id), -- NULL = all outlets

    -- Basic details
    title VARCHAR(255) NOT NULL,
    description TEXT,
    terms_conditions TEXT,

    -- Offer type: discount_percent, discount_fixed, bogo, freebie, cashback
    offer_type VARCHAR(50) NOT NULL,

    -- Discount configuration (rupees, or percent for discount_percent)
    discount_value NUMERIC(10, 2), -- percentage or fixed amount
    max_discount NUMERIC(10, 2), -- cap for percentage discounts
    min_order_value NUMERIC(10, 2), -- minimum cart value

    -- BOGO configuration (if offer_type = bogo): {buy: 2, get: 1, on: "cheapest"}
    bogo_config JSONB,

    -- Coin configuration
    rez_coins_required INTEGER DEFAULT 0, -- coins to unlock
    rez_coins_earned INTEGER DEFAULT 0, -- coins earned on redemption
    branded_coins_earned INTEGER DEFAULT 0,

    -- Validity
    valid_from TIMESTAMPTZ NOT NULL,
    valid_until TIMESTAMPTZ NOT NULL,

    -- Time restrictions
    available_days JSONB DEFAULT '["mon","tue","wed","thu","fri","sat","sun"]',
    available_hours JSONB, -- [{start: "09:00", end: "12:00"}, {start: "18:00", end: "21:00"}]

    -- Usage limits
    total_redemption_limit INTEGER, -- NULL = unlimited
    per_user_limit INTEGER DEFAULT 1,
    redemptions_count INTEGER DEFAULT 0,

    -- Targeting
    user_segment VARCHAR(50), -- all, new_users, student, vip, custom
    user_tags JSONB DEFAULT '[]', -- ["foodie", "fashion_lover"]
    min_user_level INTEGER DEFAULT 0,

    -- Media
    image_url TEXT,
    banner_url TEXT,

    -- Tags & categories
    tags JSONB DEFAULT '[]', -- ["lunch", "weekend", "festive", "flash_deal"]
    categories_applicable JSONB DEFAULT '[]', -- category IDs

    -- Status
    status VARCHAR(20) DEFAULT 'draft', -- draft, active, paused, expired, rejected
    approval_status VARCHAR(20) DEFAULT 'pending', -- pending, approved, rejected
    approved_by UUID REFERENCES admin_users (id) ON DELETE SET NULL,
    approved_at TIMESTAMPTZ,
    rejection_reason TEXT,

    -- Analytics
    view_count INTEGER DEFAULT 0,
    save_count INTEGER DEFAULT 0,
    share_count INTEGER DEFAULT 0,

    -- Priority & boost
    is_featured BOOLEAN DEFAULT FALSE,
    is_boosted BOOLEAN DEFAULT FALSE, -- paid promotion
    boost_ends_at TIMESTAMPTZ,
    display_priority INTEGER DEFAULT 0,

    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),

    CONSTRAINT offers_validity_window CHECK (valid_until > valid_from),
    CONSTRAINT offers_discount_value_nonnegative CHECK (discount_value >= 0),
    CONSTRAINT offers_max_discount_nonnegative CHECK (max_discount >= 0),
    CONSTRAINT offers_min_order_value_nonnegative CHECK (min_order_value >= 0)
);

CREATE INDEX idx_offers_merchant_id ON offers (merchant_id);
CREATE INDEX idx_offers_status ON offers (status);
CREATE INDEX idx_offers_validity ON offers (valid_from, valid_until);
-- The reference defines idx_offers_featured twice: inline as (is_featured) WHERE
-- is_featured = TRUE (an index whose every entry is the same constant) and in
-- "Indexing Strategy" as below. The Indexing-Strategy definition is the useful one:
-- featured offers in display order.
CREATE INDEX idx_offers_featured ON offers (display_priority) WHERE is_featured = TRUE;
-- Also serves the reference's idx_offers_tags_gin (identical definition).
CREATE INDEX idx_offers_tags ON offers USING GIN (tags);

CREATE TRIGGER set_updated_at BEFORE UPDATE ON offers
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
