-- 0009_orders: orders (partitioned by month), payments, offer_redemptions.
--
-- orders is RANGE-partitioned by created_at, one partition per calendar month (UTC).
-- A unique constraint on a partitioned table must contain the partition key, so:
--   * PRIMARY KEY (id, created_at);
--   * order_number is unique per (order_number, created_at) only, with the plain
--     index idx_orders_number for lookups. Global uniqueness of order_number is no
--     longer enforced here: `rez-db validate` checks it.
--
-- CHECKED REFERENCES (no foreign key) into orders: payments.order_id,
-- offer_redemptions.order_id and reviews.order_id (0011). A foreign key to a
-- partitioned table must target its whole key (id, created_at), which would put a
-- copy of the order's created_at in every referencing table and, worse, would make
-- DETACH PARTITION of an old month (retention/archival) fail while any payment,
-- redemption or review still points into it. Each such column is indexed and
-- `rez-db validate` reports values with no matching orders.id.
-- Foreign keys FROM orders to users, merchants and merchant_outlets stay real.

CREATE TABLE orders (
    id UUID NOT NULL DEFAULT gen_random_uuid(),
    order_number VARCHAR(50) NOT NULL, -- human-readable: ORD-20240115-ABC123

    user_id UUID NOT NULL REFERENCES users (id),
    -- "merchants with active orders: RESTRICT": any order blocks the delete (orders
    -- are financial records; a status-aware rule cannot be a foreign key).
    merchant_id UUID NOT NULL REFERENCES merchants (id) ON DELETE RESTRICT,
    outlet_id UUID REFERENCES merchant_outlets (id),

    -- Order details: [{product_id, name, qty, price, total}]
    items JSONB NOT NULL,

    -- Pricing (rupees)
    subtotal NUMERIC(10, 2) NOT NULL,
    discount_amount NUMERIC(10, 2) DEFAULT 0.00,
    tax_amount NUMERIC(10, 2) DEFAULT 0.00,
    delivery_fee NUMERIC(10, 2) DEFAULT 0.00,
    total_amount NUMERIC(10, 2) NOT NULL,

    -- Offers applied: [{offer_id, discount}]
    offers_applied JSONB DEFAULT '[]',

    -- Coins
    coins_used INTEGER DEFAULT 0,
    coins_value NUMERIC(10, 2) DEFAULT 0.00, -- INR value of coins
    coins_earned INTEGER DEFAULT 0,

    -- Payment
    payment_method VARCHAR(50), -- upi, card, wallet, netbanking, cod
    payment_status VARCHAR(20) DEFAULT 'pending', -- pending, paid, failed, refunded
    payment_transaction_id VARCHAR(255),
    paid_at TIMESTAMPTZ,

    -- Order status: pending, confirmed, preparing, ready, completed, cancelled
    status VARCHAR(50) DEFAULT 'pending',

    -- Delivery (if applicable)
    delivery_address JSONB,
    delivery_type VARCHAR(20), -- pickup, delivery
    scheduled_for TIMESTAMPTZ,

    -- Timestamps
    confirmed_at TIMESTAMPTZ,
    completed_at TIMESTAMPTZ,
    cancelled_at TIMESTAMPTZ,
    cancellation_reason TEXT,

    -- Ratings
    rating INTEGER, -- 1-5
    review_text TEXT,
    reviewed_at TIMESTAMPTZ,

    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),

    PRIMARY KEY (id, created_at),
    CONSTRAINT orders_order_number_created_at_key UNIQUE (order_number, created_at),
    CONSTRAINT orders_rating_range CHECK (rating BETWEEN 1 AND 5),
    CONSTRAINT orders_subtotal_nonnegative CHECK (subtotal >= 0),
    CONSTRAINT orders_discount_amount_nonnegative CHECK (discount_amount >= 0),
    CONSTRAINT orders_tax_amount_nonnegative CHECK (tax_amount >= 0),
    CONSTRAINT orders_delivery_fee_nonnegative CHECK (delivery_fee >= 0),
    CONSTRAINT orders_total_amount_nonnegative CHECK (total_amount >= 0),
    CONSTRAINT orders_coins_value_nonnegative CHECK (coins_value >= 0)
) PARTITION BY RANGE (created_at);

COMMENT ON COLUMN orders.order_number IS
    'Human-readable order number. Unique only together with created_at (partitioning); global uniqueness is checked by `rez-db validate`.';

-- Current month and the next 3 (UTC, explicit +00 bounds; see 0002).
-- `rez-db partition-rotate` creates later ones.
SELECT create_range_partitions('orders', 1, 'YYYY_MM', 4);

CREATE TABLE orders_default PARTITION OF orders DEFAULT;

-- Partitioned indexes: CONCURRENTLY is not available on partitioned tables.
CREATE INDEX idx_orders_user_id ON orders (user_id);
CREATE INDEX idx_orders_merchant_id ON orders (merchant_id);
CREATE INDEX idx_orders_status ON orders (status);
CREATE INDEX idx_orders_payment ON orders (payment_status);
-- Also serves the reference's idx_orders_created_at (identical definition).
CREATE INDEX idx_orders_date ON orders (created_at DESC);
CREATE INDEX idx_orders_number ON orders (order_number);
-- From "Indexing Strategy" (Composite Indexes).
CREATE INDEX idx_orders_user_status ON orders (user_id, status);

-- Row-level BEFORE triggers on a partitioned table are cloned to every partition.
CREATE TRIGGER set_updated_at BEFORE UPDATE ON orders
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();


CREATE TABLE payments (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    order_id UUID, -- checked reference to orders(id): see the header of this file
    user_id UUID NOT NULL REFERENCES users (id),

    -- Payment gateway: razorpay, paytm, phonepe
    gateway VARCHAR(50) NOT NULL,
    gateway_transaction_id VARCHAR(255),
    gateway_order_id VARCHAR(255),

    -- Amount (rupees)
    amount NUMERIC(10, 2) NOT NULL,
    currency VARCHAR(3) DEFAULT 'INR',

    -- Method: upi, card, wallet, netbanking
    payment_method VARCHAR(50),
    payment_details JSONB, -- {upi_id: "", card_last4: "", bank_name: ""}

    -- Status: initiated, success, failed, refunded
    status VARCHAR(20) DEFAULT 'initiated',

    -- Response
    gateway_response JSONB,
    failure_reason TEXT,

    -- Timestamps
    initiated_at TIMESTAMPTZ DEFAULT NOW(),
    completed_at TIMESTAMPTZ,

    created_at TIMESTAMPTZ DEFAULT NOW(),

    CONSTRAINT idx_payments_gateway_txn UNIQUE (gateway_transaction_id),
    CONSTRAINT payments_amount_nonnegative CHECK (amount >= 0)
);

COMMENT ON COLUMN payments.order_id IS
    'Checked reference to orders(id) (orders is partitioned; no foreign key). `rez-db validate` reports orphans.';

CREATE INDEX idx_payments_order_id ON payments (order_id);
CREATE INDEX idx_payments_user_id ON payments (user_id);
CREATE INDEX idx_payments_status ON payments (status);


CREATE TABLE offer_redemptions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    -- "offers with redemptions: RESTRICT"
    offer_id UUID NOT NULL REFERENCES offers (id) ON DELETE RESTRICT,
    user_id UUID NOT NULL REFERENCES users (id),
    merchant_id UUID NOT NULL REFERENCES merchants (id),
    outlet_id UUID REFERENCES merchant_outlets (id),

    -- Transaction details
    order_id UUID, -- checked reference to orders(id): see the header of this file

    original_amount NUMERIC(10, 2) NOT NULL,
    discount_amount NUMERIC(10, 2) NOT NULL,
    final_amount NUMERIC(10, 2) NOT NULL,

    -- Coins
    rez_coins_used INTEGER DEFAULT 0,
    rez_coins_earned INTEGER DEFAULT 0,
    branded_coins_earned INTEGER DEFAULT 0,

    -- Status: pending, completed, cancelled, refunded
    status VARCHAR(20) DEFAULT 'pending',

    redeemed_at TIMESTAMPTZ DEFAULT NOW(),
    completed_at TIMESTAMPTZ,
    cancelled_at TIMESTAMPTZ,

    created_at TIMESTAMPTZ DEFAULT NOW(),

    CONSTRAINT offer_redemptions_original_amount_nonnegative CHECK (original_amount >= 0),
    CONSTRAINT offer_redemptions_discount_amount_nonnegative CHECK (discount_amount >= 0),
    CONSTRAINT offer_redemptions_final_amount_nonnegative CHECK (final_amount >= 0)
);

COMMENT ON COLUMN offer_redemptions.order_id IS
    'Checked reference to orders(id) (orders is partitioned; no foreign key). `rez-db validate` reports orphans.';

CREATE INDEX idx_offer_redemptions_offer_id ON offer_redemptions (offer_id);
CREATE INDEX idx_offer_redemptions_user_id ON offer_redemptions (user_id);
CREATE INDEX idx_offer_redemptions_merchant_id ON offer_redemptions (merchant_id);
CREATE INDEX idx_offer_redemptions_status ON offer_redemptions (status);
CREATE INDEX idx_offer_redemptions_date ON offer_redemptions (redeemed_at DESC);
-- Added: the checked reference needs an index (validate's anti-join, order lookups).
CREATE INDEX idx_offer_redemptions_order_id ON offer_redemptions (order_id);
