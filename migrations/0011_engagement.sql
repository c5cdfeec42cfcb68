-- 0011_engagement: events, campaigns, reviews, notifications, app_settings,
-- admin_activity_logs.

CREATE TABLE events (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),

    name VARCHAR(255) NOT NULL,
    slug VARCHAR(255) NOT NULL,
    description TEXT,

    event_type VARCHAR(50), -- flash_sale, festival, clearance, seasonal

    -- Timing
    start_date TIMESTAMPTZ NOT NULL,
    end_date TIMESTAMPTZ NOT NULL,

    -- Display
    banner_url TEXT,
    banner_mobile_url TEXT,
    theme_color VARCHAR(7), -- hex colour

    -- Featured merchants (merchant IDs)
    featured_merchants JSONB DEFAULT '[]',

    total_offers INTEGER DEFAULT 0,

    -- Target audience
    target_segments JSONB DEFAULT '["all"]', -- ["student", "new_users"]
    target_cities JSONB DEFAULT '[]', -- empty = all cities

    -- Analytics
    view_count INTEGER DEFAULT 0,
    participation_count INTEGER DEFAULT 0, -- users who redeemed offers

    -- Status: draft, scheduled, live, ended
    status VARCHAR(20) DEFAULT 'draft',
    is_featured BOOLEAN DEFAULT FALSE,

    created_by UUID REFERENCES admin_users (id) ON DELETE SET NULL,

    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),

    CONSTRAINT idx_events_slug UNIQUE (slug)
);

CREATE INDEX idx_events_dates ON events (start_date, end_date);
CREATE INDEX idx_events_status ON events (status);
CREATE INDEX idx_events_featured ON events (is_featured) WHERE is_featured = TRUE;

CREATE TRIGGER set_updated_at BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();


CREATE TABLE campaigns (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),

    name VARCHAR(255) NOT NULL,
    campaign_type VARCHAR(50), -- push_notification, email, sms, in_app

    -- Target audience
    target_segment VARCHAR(50), -- all, active_users, inactive_users, custom
    target_filters JSONB, -- {city: ["Mumbai"], tier: ["Gold"], last_purchase_days: 30}
    estimated_audience_size INTEGER,

    -- Content
    title VARCHAR(255),
    message TEXT,
    image_url TEXT,
    cta_text VARCHAR(100), -- call to action
    cta_link TEXT,

    -- Schedule: immediate, scheduled, recurring
    schedule_type VARCHAR(20) DEFAULT 'immediate',
    scheduled_at TIMESTAMPTZ,
    recurring_config JSONB, -- {frequency: "weekly", day: "monday", time: "10:00"}

    -- Status: draft, scheduled, sending, sent, cancelled
    status VARCHAR(20) DEFAULT 'draft',

    -- Results
    sent_count INTEGER DEFAULT 0,
    delivered_count INTEGER DEFAULT 0,
    opened_count INTEGER DEFAULT 0,
    clicked_count INTEGER DEFAULT 0,

    -- A/B testing: {variants: [{title: "A"}, {title: "B"}], split: 50}
    is_ab_test BOOLEAN DEFAULT FALSE,
    ab_test_config JSONB,

    created_by UUID REFERENCES admin_users (id) ON DELETE SET NULL,

    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    sent_at TIMESTAMPTZ
);

CREATE INDEX idx_campaigns_type ON campaigns (campaign_type);
CREATE INDEX idx_campaigns_status ON campaigns (status);
CREATE INDEX idx_campaigns_scheduled ON campaigns (scheduled_at);

CREATE TRIGGER set_updated_at BEFORE UPDATE ON campaigns
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();


CREATE TABLE reviews (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),

    user_id UUID NOT NULL REFERENCES users (id),
    merchant_id UUID NOT NULL REFERENCES merchants (id),
    -- Checked reference to orders(id), no foreign key: orders is partitioned (see
    -- 0009). Indexed below; `rez-db validate` reports orphans.
    order_id UUID,

    rating INTEGER NOT NULL CHECK (rating >= 1 AND rating <= 5),

    -- Review content
    title VARCHAR(255),
    review_text TEXT,
    images JSONB DEFAULT '[]', -- user-uploaded images

    -- Category ratings
    service_rating INTEGER CHECK (service_rating >= 1 AND service_rating <= 5),
    value_rating INTEGER CHECK (value_rating >= 1 AND value_rating <= 5),
    ambience_rating INTEGER CHECK (ambience_rating >= 1 AND ambience_rating <= 5),

    -- Status: published, flagged, removed
    status VARCHAR(20) DEFAULT 'published',
    is_verified_purchase BOOLEAN DEFAULT FALSE,

    -- Merchant response
    merchant_response TEXT,
    merchant_responded_at TIMESTAMPTZ,

    -- Helpfulness
    helpful_count INTEGER DEFAULT 0,
    not_helpful_count INTEGER DEFAULT 0,

    -- Moderation
    flagged_count INTEGER DEFAULT 0,
    flagged_reasons JSONB DEFAULT '[]',
    moderated_by UUID REFERENCES admin_users (id) ON DELETE SET NULL,
    moderation_notes TEXT,

    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),

    UNIQUE (user_id, order_id)
);

COMMENT ON COLUMN reviews.order_id IS
    'Checked reference to orders(id) (orders is partitioned; no foreign key). `rez-db validate` reports orphans.';

-- Also the leading column of UNIQUE (user_id, order_id); kept for the name.
CREATE INDEX idx_reviews_user ON reviews (user_id);
CREATE INDEX idx_reviews_merchant ON reviews (merchant_id);
CREATE INDEX idx_reviews_rating ON reviews (rating);
CREATE INDEX idx_reviews_status ON reviews (status);
CREATE INDEX idx_reviews_date ON reviews (created_at DESC);
-- Added: index for the checked reference.
CREATE INDEX idx_reviews_order_id ON reviews (order_id);

CREATE TRIGGER set_updated_at BEFORE UPDATE ON reviews
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();


CREATE TABLE notifications (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users (id),

    -- offer_nearby, order_update, coin_earned, referral_success
    type VARCHAR(50) NOT NULL,
    title VARCHAR(255) NOT NULL,
    message TEXT NOT NULL,

    -- Action: open_offer, open_order, open_wallet
    action_type VARCHAR(50),
    action_data JSONB, -- {offer_id: "", order_id: ""}

    -- Media
    image_url TEXT,
    icon_url TEXT,

    -- Priority: low, normal, high, urgent
    priority VARCHAR(20) DEFAULT 'normal',

    -- Status
    is_read BOOLEAN DEFAULT FALSE,
    read_at TIMESTAMPTZ,

    -- Delivery: push, in_app, email, sms
    delivery_method VARCHAR(20) DEFAULT 'push',
    delivered BOOLEAN DEFAULT FALSE,
    delivered_at TIMESTAMPTZ,

    expires_at TIMESTAMPTZ,

    created_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE INDEX idx_notifications_user ON notifications (user_id);
-- Also serves the reference's idx_notifications_user_read (identical definition).
CREATE INDEX idx_notifications_read ON notifications (user_id, is_read);
CREATE INDEX idx_notifications_type ON notifications (type);
-- Also serves the reference's idx_notifications_created_at (identical definition).
CREATE INDEX idx_notifications_date ON notifications (created_at DESC);


CREATE TABLE app_settings (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),

    setting_key VARCHAR(100) NOT NULL,
    setting_value JSONB NOT NULL,
    setting_type VARCHAR(50), -- string, number, boolean, json

    description TEXT,

    -- Examples:
    --   {key: "coin_to_inr_rate", value: 1.0, type: "number"}
    --   {key: "referral_reward_coins", value: 100, type: "number"}
    --   {key: "min_app_version_android", value: "1.0.0", type: "string"}
    --   {key: "maintenance_mode", value: false, type: "boolean"}

    updated_by UUID REFERENCES admin_users (id) ON DELETE SET NULL,
    updated_at TIMESTAMPTZ DEFAULT NOW(),

    created_at TIMESTAMPTZ DEFAULT NOW(),

    CONSTRAINT idx_app_settings_key UNIQUE (setting_key)
);

CREATE TRIGGER set_updated_at BEFORE UPDATE ON app_settings
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();


CREATE TABLE admin_activity_logs (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    -- NOT NULL, so it cannot be SET NULL like the other admin references: the log is
    -- kept, and an admin with logged actions cannot be deleted (deactivate instead).
    admin_user_id UUID NOT NULL REFERENCES admin_users (id) ON DELETE RESTRICT,

    action VARCHAR(100) NOT NULL, -- merchant_approved, offer_rejected, user_suspended
    entity_type VARCHAR(50), -- merchant, offer, user, transaction
    entity_id UUID,

    -- Changes made
    old_value JSONB,
    new_value JSONB,

    -- Context
    ip_address INET,
    user_agent TEXT,

    notes TEXT,

    created_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE INDEX idx_admin_logs_admin ON admin_activity_logs (admin_user_id);
CREATE INDEX idx_admin_logs_action ON admin_activity_logs (action);
CREATE INDEX idx_admin_logs_entity ON admin_activity_logs (entity_type, entity_id);
CREATE INDEX idx_admin_logs_date ON admin_activity_logs (created_at DESC);
