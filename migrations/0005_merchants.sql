-- 0005_merchants: merchants, merchant_outlets, merchant_users, merchant_bank_accounts.
--
-- merchants is NOT list-partitioned by city (reference "List Partitioning"): the
-- primary key of a partitioned table must contain the partition key, so merchants(id)
-- could no longer be the target of the ~12 foreign keys that point at it. See
-- docs/schema.md, "merchants is not partitioned".
--
-- Geospatial: latitude/longitude stay the source of truth; a stored generated
-- geography(Point, 4326) column `location` carries the GiST index (built in 0013).
-- The RLS policy on merchants is in 0014, the audit trigger in 0012.

CREATE TABLE merchants (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),

    -- Business information
    business_name VARCHAR(255) NOT NULL,
    business_type VARCHAR(100), -- restaurant, retail, service, etc.
    legal_entity_name VARCHAR(255),

    -- Contact
    primary_contact_name VARCHAR(255) NOT NULL,
    primary_contact_phone VARCHAR(15) NOT NULL,
    primary_contact_email VARCHAR(255) NOT NULL,

    -- Address
    address_line1 VARCHAR(255) NOT NULL,
    address_line2 VARCHAR(255),
    city VARCHAR(100) NOT NULL,
    state VARCHAR(100) NOT NULL,
    pincode VARCHAR(10) NOT NULL,
    country VARCHAR(100) DEFAULT 'India',

    -- Geolocation
    latitude NUMERIC(10, 8) NOT NULL,
    longitude NUMERIC(11, 8) NOT NULL,
    location geography(Point, 4326) GENERATED ALWAYS AS (
        ST_SetSRID(ST_MakePoint(longitude::float8, latitude::float8), 4326)::geography
    ) STORED,

    -- Business details
    gstin VARCHAR(15), -- GST number
    pan VARCHAR(10),
    fssai_license VARCHAR(14), -- for food businesses

    -- Media
    logo_url TEXT,
    cover_image_url TEXT,
    images JSONB DEFAULT '[]', -- array of image URLs

    -- Package & status
    package_tier VARCHAR(20) DEFAULT 'basic', -- basic, plus, premium, enterprise
    status VARCHAR(20) DEFAULT 'pending', -- pending, active, suspended, rejected

    -- Verification
    verified BOOLEAN DEFAULT FALSE,
    verified_at TIMESTAMPTZ,
    verified_by UUID REFERENCES admin_users (id) ON DELETE SET NULL,

    -- Operations
    onboarding_status VARCHAR(50) DEFAULT 'pending', -- pending, documents_submitted, verified, live
    onboarded_by UUID REFERENCES admin_users (id) ON DELETE SET NULL,
    assigned_city VARCHAR(100),
    assigned_team VARCHAR(100),

    -- Financials
    commission_rate NUMERIC(5, 2) DEFAULT 10.00, -- percentage
    settlement_frequency VARCHAR(20) DEFAULT 'weekly', -- daily, weekly, monthly

    -- Ratings
    average_rating NUMERIC(3, 2) DEFAULT 0.00,
    total_reviews INTEGER DEFAULT 0,

    -- Metadata
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,

    CONSTRAINT merchants_latitude_range CHECK (latitude BETWEEN -90 AND 90),
    CONSTRAINT merchants_longitude_range CHECK (longitude BETWEEN -180 AND 180),
    CONSTRAINT merchants_commission_rate_percent CHECK (commission_rate BETWEEN 0 AND 100),
    CONSTRAINT merchants_average_rating_range CHECK (average_rating BETWEEN 0 AND 5)
);

COMMENT ON COLUMN merchants.location IS
    'Generated from (longitude, latitude), SRID 4326; GiST-indexed by idx_merchants_location_gist. Write latitude/longitude, never this column.';

CREATE INDEX idx_merchants_city ON merchants (city);
CREATE INDEX idx_merchants_status ON merchants (status);
CREATE INDEX idx_merchants_package ON merchants (package_tier);
-- Kept because the reference names it; radius/nearest queries use the GiST index on
-- location (idx_merchants_location_gist), this B-tree only serves latitude-band scans.
CREATE INDEX idx_merchants_location ON merchants (latitude, longitude);
CREATE INDEX idx_merchants_verified ON merchants (verified);

CREATE TRIGGER set_updated_at BEFORE UPDATE ON merchants
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();


CREATE TABLE merchant_outlets (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    merchant_id UUID NOT NULL REFERENCES merchants (id) ON DELETE CASCADE,

    outlet_name VARCHAR(255) NOT NULL,
    outlet_code VARCHAR(50) UNIQUE,

    -- Address
    address_line1 VARCHAR(255) NOT NULL,
    address_line2 VARCHAR(255),
    city VARCHAR(100) NOT NULL,
    state VARCHAR(100) NOT NULL,
    pincode VARCHAR(10) NOT NULL,

    -- Geolocation
    latitude NUMERIC(10, 8) NOT NULL,
    longitude NUMERIC(11, 8) NOT NULL,
    location geography(Point, 4326) GENERATED ALWAYS AS (
        ST_SetSRID(ST_MakePoint(longitude::float8, latitude::float8), 4326)::geography
    ) STORED,

    -- Contact
    contact_phone VARCHAR(15),
    contact_email VARCHAR(255),

    -- Operations: {mon: [{open: "09:00", close: "21:00"}], ...}
    operating_hours JSONB,
    is_open_now BOOLEAN DEFAULT TRUE,

    -- Features: ["wifi", "parking", "ac", "outdoor_seating"]
    features JSONB DEFAULT '[]',

    is_active BOOLEAN DEFAULT TRUE,

    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),

    CONSTRAINT merchant_outlets_latitude_range CHECK (latitude BETWEEN -90 AND 90),
    CONSTRAINT merchant_outlets_longitude_range CHECK (longitude BETWEEN -180 AND 180)
);

COMMENT ON COLUMN merchant_outlets.location IS
    'Generated from (longitude, latitude), SRID 4326; GiST-indexed by idx_merchant_outlets_location_gist. Write latitude/longitude, never this column.';

CREATE INDEX idx_merchant_outlets_merchant_id ON merchant_outlets (merchant_id);
-- See idx_merchants_location: kept for the name, the GiST index serves spatial queries.
CREATE INDEX idx_merchant_outlets_location ON merchant_outlets (latitude, longitude);
CREATE INDEX idx_merchant_outlets_city ON merchant_outlets (city);

CREATE TRIGGER set_updated_at BEFORE UPDATE ON merchant_outlets
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();


CREATE TABLE merchant_users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    merchant_id UUID NOT NULL REFERENCES merchants (id) ON DELETE CASCADE,

    email VARCHAR(255) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    full_name VARCHAR(255) NOT NULL,
    phone VARCHAR(15),

    -- Role & permissions
    role VARCHAR(50) DEFAULT 'staff', -- owner, manager, staff
    permissions JSONB DEFAULT '{}', -- {offers: ["create", "edit"], transactions: ["view"]}

    -- Status
    is_active BOOLEAN DEFAULT TRUE,
    email_verified BOOLEAN DEFAULT FALSE,

    last_login_at TIMESTAMPTZ,

    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),

    CONSTRAINT idx_merchant_users_email UNIQUE (email)
);

CREATE INDEX idx_merchant_users_merchant_id ON merchant_users (merchant_id);

CREATE TRIGGER set_updated_at BEFORE UPDATE ON merchant_users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();


CREATE TABLE merchant_bank_accounts (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    merchant_id UUID NOT NULL REFERENCES merchants (id) ON DELETE CASCADE,

    account_holder_name VARCHAR(255) NOT NULL,
    account_number VARCHAR(20) NOT NULL,
    ifsc_code VARCHAR(11) NOT NULL,
    bank_name VARCHAR(255),
    branch_name VARCHAR(255),

    account_type VARCHAR(20) DEFAULT 'current', -- current, savings

    -- Verification
    is_verified BOOLEAN DEFAULT FALSE,
    verified_at TIMESTAMPTZ,
    verification_method VARCHAR(50), -- penny_drop, manual

    is_primary BOOLEAN DEFAULT TRUE,
    is_active BOOLEAN DEFAULT TRUE,

    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE INDEX idx_merchant_bank_merchant_id ON merchant_bank_accounts (merchant_id);

CREATE TRIGGER set_updated_at BEFORE UPDATE ON merchant_bank_accounts
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
