-- 0008_wallets: wallets, promo_coins (expiring coin lots), the wallet_transactions
-- ledger (partitioned by quarter), and the user-delete guard on users.
--
-- Units: coins are INTEGER everywhere. wallets.cash_balance is NUMERIC(10,2) RUPEES;
-- wallet_transactions rows with coin_type = 'cash' carry amount and balance_after in
-- PAISE (1 rupee = 100 paise), so cash_balance * 100 = sum(cash ledger amounts).

CREATE TABLE wallets (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,

    -- ReZ coins (universal)
    rez_coins_balance INTEGER DEFAULT 0,
    rez_coins_lifetime_earned INTEGER DEFAULT 0,
    rez_coins_lifetime_spent INTEGER DEFAULT 0,

    -- Branded coins (merchant-specific): {merchant_id: {balance: 100, earned: 500, spent: 400}}
    branded_coins JSONB DEFAULT '{}',

    -- Privé coins (premium)
    prive_coins_balance INTEGER DEFAULT 0,
    prive_coins_lifetime_earned INTEGER DEFAULT 0,
    prive_coins_lifetime_spent INTEGER DEFAULT 0,

    -- Promo coins (temporary/expiring)
    promo_coins_balance INTEGER DEFAULT 0,

    -- Cash balance, rupees
    cash_balance NUMERIC(10, 2) DEFAULT 0.00,

    -- Security
    pin_hash VARCHAR(255), -- wallet PIN for transactions
    pin_set BOOLEAN DEFAULT FALSE,

    -- Limits (coins)
    daily_spend_limit INTEGER DEFAULT 5000,
    monthly_spend_limit INTEGER DEFAULT 50000,

    -- Status
    is_active BOOLEAN DEFAULT TRUE,
    is_frozen BOOLEAN DEFAULT FALSE, -- frozen for security reasons
    frozen_reason TEXT,
    frozen_at TIMESTAMPTZ,

    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),

    CONSTRAINT idx_wallets_user_id UNIQUE (user_id),
    CONSTRAINT wallets_rez_coins_balance_nonnegative CHECK (rez_coins_balance >= 0),
    CONSTRAINT wallets_prive_coins_balance_nonnegative CHECK (prive_coins_balance >= 0),
    CONSTRAINT wallets_promo_coins_balance_nonnegative CHECK (promo_coins_balance >= 0),
    -- Upper bound: the cash ledger's balance_after is INTEGER paise, so a cash balance
    -- above 21,474,836.47 rupees could not equal its ledger (far above any PPI cap).
    CONSTRAINT wallets_cash_balance_range CHECK (cash_balance >= 0 AND cash_balance <= 21474836.47)
);

COMMENT ON COLUMN wallets.cash_balance IS
    'Cash balance in RUPEES (NUMERIC(10,2)). Its ledger is wallet_transactions rows with coin_type = ''cash'', whose amount/balance_after are in PAISE: cash_balance * 100 = sum(amount) of this wallet''s cash rows.';
COMMENT ON COLUMN wallets.branded_coins IS
    'Per-merchant coin balances: {"<merchant uuid>": {"balance": int, "earned": int, "spent": int}}. Each balance equals the sum of this wallet''s coin_type = ''branded'' ledger rows for that merchant_id.';

CREATE TRIGGER set_updated_at BEFORE UPDATE ON wallets
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- "users with wallet balance > 0: RESTRICT" (reference, Cascade Delete Policies).
-- wallets.user_id keeps ON DELETE CASCADE for empty wallets; see 0002.
CREATE TRIGGER refuse_delete_with_wallet_balance BEFORE DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION refuse_user_delete_with_balance();


CREATE TABLE promo_coins (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    wallet_id UUID NOT NULL REFERENCES wallets (id),
    user_id UUID NOT NULL REFERENCES users (id),

    campaign_id UUID, -- which promo campaign
    campaign_name VARCHAR(255),

    amount INTEGER NOT NULL,
    remaining_balance INTEGER NOT NULL,

    issued_at TIMESTAMPTZ DEFAULT NOW(),
    expires_at TIMESTAMPTZ NOT NULL,

    is_expired BOOLEAN DEFAULT FALSE,

    created_at TIMESTAMPTZ DEFAULT NOW(),

    CONSTRAINT promo_coins_remaining_within_amount
        CHECK (remaining_balance >= 0 AND remaining_balance <= amount)
);

CREATE INDEX idx_promo_coins_wallet_id ON promo_coins (wallet_id);
CREATE INDEX idx_promo_coins_expires ON promo_coins (expires_at);
CREATE INDEX idx_promo_coins_active ON promo_coins (wallet_id, is_expired) WHERE is_expired = FALSE;


-- The ledger, RANGE-partitioned by created_at, one partition per quarter (UTC).
-- The primary key must contain the partition key: PRIMARY KEY (id, created_at).
-- Nothing references wallet_transactions by foreign key. Foreign keys FROM it to
-- wallets, users and merchants are real (supported from partitioned tables).
CREATE TABLE wallet_transactions (
    id UUID NOT NULL DEFAULT gen_random_uuid(),
    wallet_id UUID NOT NULL REFERENCES wallets (id),
    user_id UUID NOT NULL REFERENCES users (id),

    -- earn, spend, transfer, refund, expire, admin_credit, admin_debit
    transaction_type VARCHAR(50) NOT NULL,
    coin_type VARCHAR(20) NOT NULL, -- rez, branded, prive, promo, cash

    amount INTEGER NOT NULL, -- positive for credit, negative for debit
    balance_after INTEGER NOT NULL,

    -- Reference
    reference_type VARCHAR(50), -- offer_redemption, referral, purchase, admin_adjustment
    reference_id UUID, -- id of the related entity

    -- For branded coins
    merchant_id UUID REFERENCES merchants (id),

    -- For promo coins
    promo_campaign_id UUID,
    expires_at TIMESTAMPTZ,

    -- Description
    description TEXT,
    notes TEXT, -- admin notes

    metadata JSONB DEFAULT '{}', -- {order_id: "", offer_id: ""}

    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),

    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);

COMMENT ON COLUMN wallet_transactions.amount IS
    'Signed (credit > 0, debit < 0). Unit depends on coin_type: coins for rez/branded/prive/promo; PAISE (1 rupee = 100 paise) for cash, so wallets.cash_balance * 100 = sum of the wallet''s cash amounts.';
COMMENT ON COLUMN wallet_transactions.balance_after IS
    'Balance of this coin_type (and merchant_id for branded) after the row, in the same unit as amount: coins, or PAISE for coin_type = ''cash''.';

-- Current quarter and the next 3 (UTC, explicit +00 bounds; see 0002).
-- `rez-db partition-rotate` creates the following ones.
SELECT create_range_partitions('wallet_transactions', 3, 'YYYY"_q"Q', 4);

-- Rows outside every range land here instead of failing the insert.
CREATE TABLE wallet_transactions_default PARTITION OF wallet_transactions DEFAULT;

-- Partitioned indexes (one per partition, created for future partitions too).
-- CONCURRENTLY is not available on partitioned tables, hence here and not in 0013.
CREATE INDEX idx_wallet_transactions_wallet_id ON wallet_transactions (wallet_id);
CREATE INDEX idx_wallet_transactions_user_id ON wallet_transactions (user_id);
CREATE INDEX idx_wallet_transactions_type ON wallet_transactions (transaction_type);
CREATE INDEX idx_wallet_transactions_date ON wallet_transactions (created_at DESC);
CREATE INDEX idx_wallet_transactions_reference ON wallet_transactions (reference_type, reference_id);
