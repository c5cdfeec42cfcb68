-- 0006_catalog: categories (self-referencing tree) and products.
-- Full-text and JSONB indexes on products are in 0013 (built CONCURRENTLY).

CREATE TABLE categories (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),

    name VARCHAR(255) NOT NULL,
    slug VARCHAR(255) NOT NULL,
    description TEXT,

    parent_id UUID REFERENCES categories (id), -- nested categories
    level INTEGER DEFAULT 0, -- 0 = top, 1 = sub, 2 = sub-sub

    icon_url TEXT,
    image_url TEXT,

    -- Display
    display_order INTEGER DEFAULT 0,
    is_featured BOOLEAN DEFAULT FALSE,

    -- SEO
    meta_title VARCHAR(255),
    meta_description TEXT,

    is_active BOOLEAN DEFAULT TRUE,

    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),

    CONSTRAINT idx_categories_slug UNIQUE (slug)
);

CREATE INDEX idx_categories_parent ON categories (parent_id);
CREATE INDEX idx_categories_featured ON categories (is_featured) WHERE is_featured = TRUE;

CREATE TRIGGER set_updated_at BEFORE UPDATE ON categories
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();


CREATE TABLE products (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    merchant_id UUID NOT NULL REFERENCES merchants (id) ON DELETE CASCADE,
    category_id UUID REFERENCES categories (id),

    name VARCHAR(255) NOT NULL,
    slug VARCHAR(255) NOT NULL,
    description TEXT,

    -- Pricing (rupees)
    price NUMERIC(10, 2) NOT NULL,
    original_price NUMERIC(10, 2), -- for showing a discount
    currency VARCHAR(3) DEFAULT 'INR',

    -- Stock
    stock_quantity INTEGER DEFAULT 0,
    low_stock_threshold INTEGER DEFAULT 10,
    in_stock BOOLEAN DEFAULT TRUE,

    -- Media: [{url: "", alt: "", order: 1}]
    images JSONB DEFAULT '[]',
    primary_image_url TEXT,

    -- Attributes
    attributes JSONB DEFAULT '{}', -- {size: "M", color: "Red", brand: "Nike"}
    variants JSONB DEFAULT '[]', -- [{sku: "", size: "L", price: 599, stock: 10}]

    -- SEO
    meta_title VARCHAR(255),
    meta_description TEXT,

    -- Stats
    view_count INTEGER DEFAULT 0,
    order_count INTEGER DEFAULT 0,

    is_active BOOLEAN DEFAULT TRUE,

    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),

    UNIQUE (merchant_id, slug),
    CONSTRAINT products_price_nonnegative CHECK (price >= 0),
    CONSTRAINT products_original_price_nonnegative CHECK (original_price >= 0)
);

-- Also the leading column of UNIQUE (merchant_id, slug); kept because the reference
-- names it (see docs/schema.md, "Indexes that overlap").
CREATE INDEX idx_products_merchant_id ON products (merchant_id);
CREATE INDEX idx_products_category_id ON products (category_id);
CREATE INDEX idx_products_price ON products (price);
CREATE INDEX idx_products_created ON products (created_at DESC);

CREATE TRIGGER set_updated_at BEFORE UPDATE ON products
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
