-- 0004_users: customer accounts and what hangs off them: users, user_addresses,
-- user_colleges (student verification), user_social_accounts, user_sessions.
-- Wallets, orders and the rest come later; the user-delete guard on users is attached
-- in 0008 next to wallets, the table it inspects.

CREATE TABLE users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    phone VARCHAR(15) NOT NULL,
    email VARCHAR(255),
    password_hash VARCHAR(255), -- NULL for social login
    full_name VARCHAR(255),
    gender VARCHAR(20), -- male, female, other, prefer_not_to_say
    date_of_birth DATE,
    profile_picture_url TEXT,

    -- Authentication
    email_verified BOOLEAN DEFAULT FALSE,
    phone_verified BOOLEAN DEFAULT TRUE,
    two_factor_enabled BOOLEAN DEFAULT FALSE,
    two_factor_secret VARCHAR(255), -- TOTP secret

    -- Preferences
    language VARCHAR(10) DEFAULT 'en',
    notification_preferences JSONB DEFAULT '{"push": true, "email": true, "sms": false}',
    privacy_settings JSONB DEFAULT '{"profile_visible": true, "location_tracking": true}',

    -- Status
    status VARCHAR(20) DEFAULT 'active', -- active, suspended, deleted
    account_type VARCHAR(20) DEFAULT 'regular', -- regular, student, corporate

    -- Metadata
    last_login_at TIMESTAMPTZ,
    last_login_ip INET,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    deleted_at TIMESTAMPTZ, -- soft delete

    CONSTRAINT valid_email CHECK (email ~* '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$'),
    CONSTRAINT valid_phone CHECK (phone ~* '^\+?[1-9]\d{9,14}$'),
    CONSTRAINT valid_status CHECK (status IN ('active', 'suspended', 'deleted')),

    -- "phone UNIQUE" / "email UNIQUE" and the reference's idx_users_phone /
    -- idx_users_email are the same index: declared once, under the reference's names.
    CONSTRAINT idx_users_phone UNIQUE (phone),
    CONSTRAINT idx_users_email UNIQUE (email)
);

CREATE INDEX idx_users_status ON users (status);
CREATE INDEX idx_users_created_at ON users (created_at DESC);

CREATE TRIGGER set_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();


CREATE TABLE user_addresses (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,

    label VARCHAR(50), -- home, work, other
    full_name VARCHAR(255),
    phone VARCHAR(15),

    address_line1 VARCHAR(255) NOT NULL,
    address_line2 VARCHAR(255),
    landmark VARCHAR(255),
    city VARCHAR(100) NOT NULL,
    state VARCHAR(100) NOT NULL,
    pincode VARCHAR(10) NOT NULL,
    country VARCHAR(100) DEFAULT 'India',

    -- Geolocation (plain columns: no spatial query on addresses in the reference)
    latitude NUMERIC(10, 8),
    longitude NUMERIC(11, 8),

    is_default BOOLEAN DEFAULT FALSE,

    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE INDEX idx_user_addresses_user_id ON user_addresses (user_id);
CREATE INDEX idx_user_addresses_default ON user_addresses (user_id, is_default) WHERE is_default = TRUE;

CREATE TRIGGER set_updated_at BEFORE UPDATE ON user_addresses
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();


CREATE TABLE user_colleges (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    college_id UUID NOT NULL REFERENCES colleges (id),

    student_id_number VARCHAR(100),
    student_email VARCHAR(255), -- college email
    course VARCHAR(255),
    year_of_study INTEGER,
    graduation_year INTEGER,

    -- Verification: pending, verified, rejected
    verification_status VARCHAR(20) DEFAULT 'pending',
    verified_at TIMESTAMPTZ,
    verified_by UUID REFERENCES admin_users (id) ON DELETE SET NULL,

    -- Documents
    id_card_url TEXT,
    additional_proof_url TEXT,

    is_active BOOLEAN DEFAULT TRUE,

    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),

    UNIQUE (user_id, college_id)
);

CREATE INDEX idx_user_colleges_user_id ON user_colleges (user_id);
CREATE INDEX idx_user_colleges_college_id ON user_colleges (college_id);
CREATE INDEX idx_user_colleges_verification ON user_colleges (verification_status);

CREATE TRIGGER set_updated_at BEFORE UPDATE ON user_colleges
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();


CREATE TABLE user_social_accounts (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,

    provider VARCHAR(50) NOT NULL, -- google, facebook, apple
    provider_user_id VARCHAR(255) NOT NULL,
    provider_email VARCHAR(255),

    access_token TEXT,
    refresh_token TEXT,
    token_expires_at TIMESTAMPTZ,

    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),

    UNIQUE (provider, provider_user_id)
);

CREATE INDEX idx_user_social_user_id ON user_social_accounts (user_id);

CREATE TRIGGER set_updated_at BEFORE UPDATE ON user_social_accounts
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();


CREATE TABLE user_sessions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,

    token_hash VARCHAR(255) NOT NULL, -- JWT token hash
    device_id VARCHAR(255),
    device_name VARCHAR(255),
    device_type VARCHAR(50), -- ios, android, web
    app_version VARCHAR(20),

    ip_address INET,
    user_agent TEXT,

    -- Location
    city VARCHAR(100),
    country VARCHAR(100),

    last_activity_at TIMESTAMPTZ DEFAULT NOW(),
    expires_at TIMESTAMPTZ NOT NULL,

    created_at TIMESTAMPTZ DEFAULT NOW(),

    CONSTRAINT idx_user_sessions_token UNIQUE (token_hash)
);

CREATE INDEX idx_user_sessions_user_id ON user_sessions (user_id);
CREATE INDEX idx_user_sessions_expires ON user_sessions (expires_at);
