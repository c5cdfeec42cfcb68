-- 0003_admin_and_colleges: the tables everything else points at and that point at
-- nothing: admin_users (referenced by every who-did-it column) and colleges.

CREATE TABLE admin_users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),

    email VARCHAR(255) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    full_name VARCHAR(255) NOT NULL,
    phone VARCHAR(15),

    -- Role: super_admin, operations_admin, support_admin, finance_admin
    role VARCHAR(50) NOT NULL,

    -- Permissions: {merchants: ["view", "edit"], offers: ["approve"]}
    permissions JSONB DEFAULT '{}',

    -- Operations admin specific
    assigned_city VARCHAR(100),
    assigned_team VARCHAR(100),

    -- Security
    two_factor_enabled BOOLEAN DEFAULT FALSE,
    two_factor_secret VARCHAR(255),

    -- Status
    is_active BOOLEAN DEFAULT TRUE,
    email_verified BOOLEAN DEFAULT TRUE,

    last_login_at TIMESTAMPTZ,
    last_login_ip INET,

    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),

    -- The reference's "email UNIQUE" plus "INDEX idx_admin_users_email (email)":
    -- one unique index under the reference's name.
    CONSTRAINT idx_admin_users_email UNIQUE (email)
);

CREATE INDEX idx_admin_users_role ON admin_users (role);
CREATE INDEX idx_admin_users_city ON admin_users (assigned_city);

CREATE TRIGGER set_updated_at BEFORE UPDATE ON admin_users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();


CREATE TABLE colleges (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),

    name VARCHAR(255) NOT NULL,
    short_name VARCHAR(100),
    college_code VARCHAR(50),

    -- Address
    address_line1 VARCHAR(255),
    city VARCHAR(100) NOT NULL,
    state VARCHAR(100) NOT NULL,
    pincode VARCHAR(10),

    -- Geolocation (plain columns: no spatial query on colleges in the reference)
    latitude NUMERIC(10, 8),
    longitude NUMERIC(11, 8),

    -- Contact
    website VARCHAR(255),
    contact_email VARCHAR(255),
    contact_phone VARCHAR(15),

    total_students INTEGER,

    -- Partnership: pending, active, inactive
    partnership_status VARCHAR(20) DEFAULT 'pending',
    partnership_start_date DATE,

    -- Campus manager
    campus_manager_name VARCHAR(255),
    campus_manager_phone VARCHAR(15),
    campus_manager_email VARCHAR(255),

    -- Configuration
    student_verification_required BOOLEAN DEFAULT TRUE,
    email_domain VARCHAR(255), -- e.g. "iitd.ac.in"

    logo_url TEXT,

    is_active BOOLEAN DEFAULT TRUE,

    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),

    CONSTRAINT idx_colleges_code UNIQUE (college_code)
);

CREATE INDEX idx_colleges_city ON colleges (city);
CREATE INDEX idx_colleges_status ON colleges (partnership_status);

CREATE TRIGGER set_updated_at BEFORE UPDATE ON colleges
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
