-- bench/products.sql: the reindex benchmarks' catalogue: 20 categories, 100
-- merchants and :P products (psql -v P=N), every product searchable.
INSERT INTO categories (id, name, slug)
  SELECT ('30000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, 'Category ' || i, 'category-' || i FROM generate_series(1, 20) i;
INSERT INTO merchants (id, business_name, primary_contact_name, primary_contact_phone, primary_contact_email,
                       address_line1, city, state, pincode, latitude, longitude, status, average_rating)
  SELECT ('20000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, 'Merchant ' || i, 'Owner', '+9198' || lpad(i::text, 8, '0'),
         'm' || i || '@example.com', i || ' MG Road', 'Bengaluru', 'Karnataka', '560001',
         12.9 + i / 1000.0, 77.5 + i / 1000.0, 'active', 3.50 + (i % 15) / 10.0
  FROM generate_series(1, 100) i;
INSERT INTO products (merchant_id, category_id, name, slug, description, price, attributes)
  SELECT ('20000000-0000-4000-8000-' || lpad(to_hex(1 + i % 100), 12, '0'))::uuid,
         ('30000000-0000-4000-8000-' || lpad(to_hex(1 + i % 20), 12, '0'))::uuid,
         'Product ' || i, 'product-' || i, 'A fine product number ' || i || ' for the benchmark',
         (i % 100000) / 100.0 + 1, jsonb_build_object('tags', jsonb_build_array('tag' || (i % 50), 'bench'))
  FROM generate_series(1, :P) i;
