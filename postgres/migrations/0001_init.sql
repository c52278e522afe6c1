-- 0001: the initial schema and the default tenant, as sqlite/migrations/0001.
--
-- Times are timestamptz (microseconds, as SQLite's INTEGER micros). Optional
-- references and values are NULL when absent, never ''. Ids compare
-- bytewise (COLLATE "C"), so that lists are in the same order as on SQLite.
-- CHECK constraints that guard one field are named after its JSON field,
-- so that a violation can be reported by name; unique and foreign-key
-- constraints keep PostgreSQL's default names, which error.go maps to fields.

CREATE TABLE tenants (
    id         text COLLATE "C" NOT NULL PRIMARY KEY,
    name       text             NOT NULL,
    created_at timestamptz      NOT NULL
);

CREATE TABLE templates (
    id             text COLLATE "C" NOT NULL PRIMARY KEY,
    tenant_id      text COLLATE "C" NOT NULL REFERENCES tenants (id),
    name           text             NOT NULL,
    device_type    text             NOT NULL
        CONSTRAINT device_type CHECK (device_type IN ('direct', 'gateway', 'sub_device')),
    voucher_type   text             NOT NULL
        CONSTRAINT voucher_type CHECK (voucher_type IN ('BASIC', 'ACCESSTOKEN')),
    registration   text             NOT NULL
        CONSTRAINT registration CHECK (registration IN ('auto', 'off', 'allowlist')),
    reregistration text             NOT NULL
        CONSTRAINT reregistration CHECK (reregistration IN ('until_connected', 'never')),
    auth_mode      text             NOT NULL DEFAULT 'any'
        CONSTRAINT auth_mode CHECK (auth_mode IN ('any', 'signed')),
    max_devices    integer          NOT NULL DEFAULT 0 -- 0: no cap
        CONSTRAINT max_devices CHECK (max_devices >= 0),
    rate_limit     integer          NOT NULL DEFAULT 0 -- registrations a second; 0: none
        CONSTRAINT rate_limit CHECK (rate_limit >= 0),
    created_at     timestamptz      NOT NULL,
    updated_at     timestamptz      NOT NULL
);

CREATE INDEX templates_tenant_id ON templates (tenant_id, id);

-- hash is the HMAC of the secret: the look-up key of device registration.
CREATE TABLE template_secrets (
    hash        bytea            NOT NULL PRIMARY KEY
        CONSTRAINT template_secret CHECK (length(hash) > 0),
    template_id text COLLATE "C" NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
    sealed      bytea            NOT NULL,
    created_at  timestamptz      NOT NULL,
    expires_at  timestamptz -- NULL: the current secret
);

CREATE INDEX template_secrets_template_id ON template_secrets (template_id);

-- At most one current secret per template.
CREATE UNIQUE INDEX template_secrets_current ON template_secrets (template_id)
    WHERE expires_at IS NULL;

CREATE TABLE products (
    id          text COLLATE "C" NOT NULL PRIMARY KEY,
    tenant_id   text COLLATE "C" NOT NULL REFERENCES tenants (id),
    template_id text COLLATE "C" NOT NULL REFERENCES templates (id),
    name        text             NOT NULL,
    product_key text             NOT NULL UNIQUE
        CONSTRAINT product_key CHECK (product_key <> ''),
    created_at  timestamptz      NOT NULL
);

CREATE INDEX products_tenant_id ON products (tenant_id, id);
CREATE INDEX products_template_id ON products (template_id, id);

CREATE TABLE devices (
    id                 text COLLATE "C" NOT NULL PRIMARY KEY,
    tenant_id          text COLLATE "C" NOT NULL REFERENCES tenants (id),
    template_id        text COLLATE "C" NOT NULL REFERENCES templates (id),
    product_id         text COLLATE "C" REFERENCES products (id),
    parent_id          text COLLATE "C" REFERENCES devices (id) ON DELETE RESTRICT
        CONSTRAINT parent_id CHECK (parent_id <> id),
    device_number      text             NOT NULL UNIQUE
        CONSTRAINT device_number CHECK (device_number <> ''),
    name               text             NOT NULL,
    sub_device_addr    text,
    status             text             NOT NULL
        CONSTRAINT status CHECK (status IN ('enabled', 'disabled')),
    credential_lookup  bytea            UNIQUE, -- NULL after a reset
    password_hash      bytea,                   -- NULL for ACCESSTOKEN vouchers
    created_at         timestamptz      NOT NULL,
    updated_at         timestamptz      NOT NULL,
    first_connected_at timestamptz,
    last_seen_at       timestamptz,
    online             boolean          NOT NULL DEFAULT false,
    -- Also the index of the parent_id filter and of the parent's foreign key.
    UNIQUE (parent_id, sub_device_addr)
);

-- The list filters; id last so that a filtered page is read in order.
CREATE INDEX devices_tenant_id ON devices (tenant_id, id);
CREATE INDEX devices_template_id ON devices (template_id, id);
CREATE INDEX devices_product_id ON devices (product_id, id);

-- The count of a template's devices, in up to 16 rows per template chosen by
-- the database session (its backend pid), so that concurrent registrations
-- of one template do not all queue on one row, and a transaction that
-- inserts many devices touches one counting row only (no deadlocks between
-- batches). The count is the sum of the rows; a row may go negative when a
-- device is deleted from another session. A template with a cap (max_devices > 0) serialises its
-- inserts on its own row instead and counts exactly, so that inserts on
-- several nodes cannot overshoot the cap. The trigger runs after the insert,
-- so a taken device number or address is reported before the cap; a
-- missing template is left to the foreign key.
CREATE TABLE template_counts (
    template_id text COLLATE "C" NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
    shard       smallint         NOT NULL,
    n           bigint           NOT NULL,
    PRIMARY KEY (template_id, shard)
);

CREATE FUNCTION devices_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cap   integer;
    total bigint;
BEGIN
    SELECT max_devices INTO cap FROM templates WHERE id = NEW.template_id;
    IF cap > 0 THEN
        PERFORM 1 FROM templates WHERE id = NEW.template_id FOR NO KEY UPDATE; -- not FOR UPDATE: the foreign key holds KEY SHARE
        SELECT max_devices INTO cap FROM templates WHERE id = NEW.template_id;
        SELECT coalesce(sum(n), 0) INTO total FROM template_counts WHERE template_id = NEW.template_id;
        IF cap > 0 AND total >= cap THEN
            RAISE EXCEPTION 'the template has reached max_devices' USING CONSTRAINT = 'max_devices';
        END IF;
    END IF;
    IF cap IS NOT NULL THEN
        INSERT INTO template_counts (template_id, shard, n) VALUES (NEW.template_id, pg_backend_pid() % 16, 1)
        ON CONFLICT (template_id, shard) DO UPDATE SET n = template_counts.n + 1;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER devices_count_insert AFTER INSERT ON devices
    FOR EACH ROW EXECUTE FUNCTION devices_count_insert();

CREATE FUNCTION devices_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO template_counts (template_id, shard, n) VALUES (OLD.template_id, pg_backend_pid() % 16, -1)
    ON CONFLICT (template_id, shard) DO UPDATE SET n = template_counts.n - 1;
    RETURN NULL;
END $$;

CREATE TRIGGER devices_count_delete AFTER DELETE ON devices
    FOR EACH ROW EXECUTE FUNCTION devices_count_delete();

-- Device numbers that an allowlist template accepts.
CREATE TABLE allowlist (
    template_id   text COLLATE "C" NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
    device_number text             NOT NULL
        CONSTRAINT device_number CHECK (device_number <> ''),
    created_at    timestamptz      NOT NULL,
    PRIMARY KEY (template_id, device_number)
);

-- Nonces of signed requests, kept through the replay window.
CREATE TABLE nonces (
    template_id text        NOT NULL,
    nonce       text        NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (template_id, nonce)
);

CREATE INDEX nonces_expires_at ON nonces (expires_at);

-- The audit trail: every registration attempt and every admin change.
CREATE TABLE audit (
    id            text COLLATE "C" NOT NULL PRIMARY KEY, -- UUIDv7: time order
    at            timestamptz      NOT NULL,
    kind          text             NOT NULL
        CONSTRAINT kind CHECK (kind IN ('registration', 'admin')),
    tenant_id     text COLLATE "C",
    actor         text             NOT NULL,
    action        text             NOT NULL,
    code          integer          NOT NULL,
    template_id   text COLLATE "C",
    device_number text,
    target        text,
    client_addr   text,
    detail        text             NOT NULL DEFAULT ''
);

CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_device_number ON audit (device_number, id);
CREATE INDEX audit_template_id ON audit (template_id, id);
CREATE INDEX audit_tenant_id ON audit (tenant_id, id);

CREATE TABLE tokens (
    id         text COLLATE "C" NOT NULL PRIMARY KEY,
    tenant_id  text COLLATE "C" REFERENCES tenants (id), -- NULL: the system administrator
    role       text             NOT NULL
        CONSTRAINT role CHECK (role IN ('admin', 'viewer', 'service')),
    name       text             NOT NULL,
    hash       bytea            NOT NULL UNIQUE
        CONSTRAINT token CHECK (length(hash) > 0),
    created_at timestamptz      NOT NULL,
    expires_at timestamptz,
    revoked_at timestamptz
);

CREATE INDEX tokens_name ON tokens (name);

INSERT INTO tenants (id, name, created_at)
VALUES ('00000000-0000-0000-0000-000000000001', 'default', date_trunc('second', now()));
