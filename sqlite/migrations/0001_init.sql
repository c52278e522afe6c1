-- 0001: the initial schema and the default tenant.
--
-- Times are INTEGER Unix microseconds, UTC. Optional references and values
-- are NULL when absent, never ''. CHECK constraints that guard one field are
-- named after its JSON field, so that a violation can be reported by name.

CREATE TABLE tenants (
    id         TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE templates (
    id             TEXT    NOT NULL PRIMARY KEY,
    tenant_id      TEXT    NOT NULL REFERENCES tenants (id),
    name           TEXT    NOT NULL,
    device_type    TEXT    NOT NULL
        CONSTRAINT device_type CHECK (device_type IN ('direct', 'gateway', 'sub_device')),
    voucher_type   TEXT    NOT NULL
        CONSTRAINT voucher_type CHECK (voucher_type IN ('BASIC', 'ACCESSTOKEN')),
    registration   TEXT    NOT NULL
        CONSTRAINT registration CHECK (registration IN ('auto', 'off', 'allowlist')),
    reregistration TEXT    NOT NULL
        CONSTRAINT reregistration CHECK (reregistration IN ('until_connected', 'never')),
    auth_mode      TEXT    NOT NULL DEFAULT 'any'
        CONSTRAINT auth_mode CHECK (auth_mode IN ('any', 'signed')),
    max_devices    INTEGER NOT NULL DEFAULT 0 -- 0: no cap
        CONSTRAINT max_devices CHECK (max_devices >= 0),
    rate_limit     INTEGER NOT NULL DEFAULT 0 -- registrations a second; 0: none
        CONSTRAINT rate_limit CHECK (rate_limit >= 0),
    device_count   INTEGER NOT NULL DEFAULT 0, -- kept by the triggers on devices
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;

CREATE INDEX templates_tenant_id ON templates (tenant_id, id);

-- hash is the HMAC of the secret: the look-up key of device registration.
CREATE TABLE template_secrets (
    hash        BLOB    NOT NULL PRIMARY KEY
        CONSTRAINT template_secret CHECK (length(hash) > 0),
    template_id TEXT    NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
    sealed      BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER -- NULL: the current secret
) STRICT;

CREATE INDEX template_secrets_template_id ON template_secrets (template_id);

-- At most one current secret per template.
CREATE UNIQUE INDEX template_secrets_current ON template_secrets (template_id)
    WHERE expires_at IS NULL;

CREATE TABLE products (
    id          TEXT    NOT NULL PRIMARY KEY,
    tenant_id   TEXT    NOT NULL REFERENCES tenants (id),
    template_id TEXT    NOT NULL REFERENCES templates (id),
    name        TEXT    NOT NULL,
    product_key TEXT    NOT NULL UNIQUE
        CONSTRAINT product_key CHECK (product_key <> ''),
    created_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX products_tenant_id ON products (tenant_id, id);
CREATE INDEX products_template_id ON products (template_id, id);

CREATE TABLE devices (
    id                 TEXT    NOT NULL PRIMARY KEY,
    tenant_id          TEXT    NOT NULL REFERENCES tenants (id),
    template_id        TEXT    NOT NULL REFERENCES templates (id),
    product_id         TEXT    REFERENCES products (id),
    parent_id          TEXT    REFERENCES devices (id) ON DELETE RESTRICT
        CONSTRAINT parent_id CHECK (parent_id <> id),
    device_number      TEXT    NOT NULL UNIQUE
        CONSTRAINT device_number CHECK (device_number <> ''),
    name               TEXT    NOT NULL,
    sub_device_addr    TEXT,
    status             TEXT    NOT NULL
        CONSTRAINT status CHECK (status IN ('enabled', 'disabled')),
    credential_lookup  BLOB    UNIQUE, -- NULL after a reset
    password_hash      BLOB,           -- NULL for ACCESSTOKEN vouchers
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    first_connected_at INTEGER,
    last_seen_at       INTEGER,
    online             INTEGER NOT NULL DEFAULT 0
        CONSTRAINT online CHECK (online IN (0, 1)),
    -- Also the index of the parent_id filter and of the parent's foreign key.
    UNIQUE (parent_id, sub_device_addr)
) STRICT;

-- The list filters; id last so that a filtered page is read in order.
CREATE INDEX devices_tenant_id ON devices (tenant_id, id);
CREATE INDEX devices_template_id ON devices (template_id, id);
CREATE INDEX devices_product_id ON devices (product_id, id);

-- The cap and the count of a template's devices, enforced in the same
-- transaction as the insert (SQLite has one writer, so check and count
-- cannot interleave).
CREATE TRIGGER devices_cap BEFORE INSERT ON devices
WHEN (SELECT max_devices > 0 AND device_count >= max_devices FROM templates WHERE id = NEW.template_id)
BEGIN
    SELECT RAISE(ABORT, 'max_devices');
END;

CREATE TRIGGER devices_count_insert AFTER INSERT ON devices
BEGIN
    UPDATE templates SET device_count = device_count + 1 WHERE id = NEW.template_id;
END;

CREATE TRIGGER devices_count_delete AFTER DELETE ON devices
BEGIN
    UPDATE templates SET device_count = device_count - 1 WHERE id = OLD.template_id;
END;

-- Device numbers that an allowlist template accepts.
CREATE TABLE allowlist (
    template_id   TEXT    NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
    device_number TEXT    NOT NULL
        CONSTRAINT device_number CHECK (device_number <> ''),
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (template_id, device_number)
) STRICT, WITHOUT ROWID;

-- Nonces of signed requests, kept through the replay window.
CREATE TABLE nonces (
    template_id TEXT    NOT NULL,
    nonce       TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (template_id, nonce)
) STRICT, WITHOUT ROWID;

CREATE INDEX nonces_expires_at ON nonces (expires_at);

-- The audit trail: every registration attempt and every admin change.
CREATE TABLE audit (
    id            TEXT    NOT NULL PRIMARY KEY, -- UUIDv7: time order
    at            INTEGER NOT NULL,
    kind          TEXT    NOT NULL
        CONSTRAINT kind CHECK (kind IN ('registration', 'admin')),
    tenant_id     TEXT,
    actor         TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    code          INTEGER NOT NULL,
    template_id   TEXT,
    device_number TEXT,
    target        TEXT,
    client_addr   TEXT,
    detail        TEXT    NOT NULL DEFAULT ''
) STRICT;

-- Every registration writes an audit row, so the table keeps few indexes:
-- by tenant (every tenant's list) and by device number (investigations).
-- Rows are appended in time order, so pruning walks rowid order, and a
-- "since" or template filter scans what those indexes select.
CREATE INDEX audit_device_number ON audit (device_number, id);
CREATE INDEX audit_tenant_id ON audit (tenant_id, id);

CREATE TABLE tokens (
    id         TEXT    NOT NULL PRIMARY KEY,
    tenant_id  TEXT    REFERENCES tenants (id), -- NULL: the system administrator
    role       TEXT    NOT NULL
        CONSTRAINT role CHECK (role IN ('admin', 'viewer', 'service')),
    name       TEXT    NOT NULL,
    hash       BLOB    NOT NULL UNIQUE
        CONSTRAINT token CHECK (length(hash) > 0),
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER
) STRICT;

CREATE INDEX tokens_name ON tokens (name);

INSERT INTO tenants (id, name, created_at)
VALUES ('00000000-0000-0000-0000-000000000001', 'default', CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
