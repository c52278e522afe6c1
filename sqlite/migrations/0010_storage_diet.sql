-- 0010: the storage diet (issue 19). A new device cost 976 bytes on disk, most
-- of them 36-character text UUIDs repeated in rows and indexes. Now:
--
-- * ids of devices and audit records, and the tenant and template ids of
--   audit records, are stored as keys: a canonical UUID (every id otos makes)
--   as its 16 bytes, any other id as its text (see key.go);
-- * a device refers to its tenant and template by their seq, a small integer
--   that never changes (tenants and templates are never deleted), so the two
--   indexes that list a tenant's or a template's devices hold a few bytes
--   where they held 72;
-- * a device's status is 1 (enabled) or 0 (disabled); name is NULL when
--   empty; updated_at is NULL until the first change (it reads as
--   created_at);
-- * a voucher's look-up key is 16 bytes (otos.VoucherLookup): the username's
--   6-byte time and 10 bytes of its hash, where it was 6 and 32;
-- * (parent_id, sub_device_addr) is indexed for sub-devices only;
-- * audit records are kept in id (time) order without a rowid, their kind is
--   0 (registration), 1 (admin) or 2 (session), and an actor that is the
--   client address (every device's) is NULL and reads as client_addr.
--
-- Nothing is dropped: every row, time and hash is copied, in the same order.

ALTER TABLE tenants ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE tenants SET seq = rowid;
CREATE UNIQUE INDEX tenants_seq ON tenants (seq);

ALTER TABLE templates ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE templates SET seq = rowid;
CREATE UNIQUE INDEX templates_seq ON templates (seq);

-- The rename carries the old table's indexes and trigger; they go with it.
ALTER TABLE devices RENAME TO devices_old;

CREATE TABLE devices (
    id                    ANY     NOT NULL UNIQUE, -- a key (see above)
    tenant_seq            INTEGER NOT NULL REFERENCES tenants (seq),
    template_seq          INTEGER NOT NULL REFERENCES templates (seq),
    product_id            TEXT    REFERENCES products (id),
    parent_id             ANY     REFERENCES devices (id) ON DELETE RESTRICT
        CONSTRAINT parent_id CHECK (parent_id <> id),
    device_number         TEXT    NOT NULL UNIQUE
        CONSTRAINT device_number CHECK (device_number <> ''),
    name                  TEXT,    -- NULL: ''
    sub_device_addr       TEXT,
    status                INTEGER NOT NULL -- 1: enabled, 0: disabled
        CONSTRAINT status CHECK (status IN (0, 1)),
    credential_lookup     BLOB    UNIQUE, -- NULL after a reset
    password_hash         BLOB,           -- NULL for ACCESSTOKEN vouchers
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER,        -- NULL: created_at
    first_connected_at    INTEGER,
    last_seen_at          INTEGER,
    online                INTEGER NOT NULL DEFAULT 0
        CONSTRAINT online CHECK (online IN (0, 1)),
    expires_at            INTEGER,
    prev_lookup           BLOB,
    prev_password_hash    BLOB,
    prev_until            INTEGER,
    rotated_at            INTEGER,
    rotation_requested_at INTEGER,
    hardware_hash         BLOB,
    hardware_key          BLOB
) STRICT;

INSERT INTO devices (id, tenant_seq, template_seq, product_id, parent_id, device_number, name, sub_device_addr,
    status, credential_lookup, password_hash, created_at, updated_at, first_connected_at, last_seen_at, online,
    expires_at, prev_lookup, prev_password_hash, prev_until, rotated_at, rotation_requested_at, hardware_hash,
    hardware_key)
SELECT CASE WHEN o.id GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]' THEN unhex(replace(o.id, '-', '')) ELSE o.id END, n.seq, t.seq, o.product_id,
    CASE WHEN o.parent_id GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]' THEN unhex(replace(o.parent_id, '-', '')) ELSE o.parent_id END,
    o.device_number, NULLIF(o.name, ''), o.sub_device_addr, o.status = 'enabled',
    substr(o.credential_lookup, 1, 16), o.password_hash, o.created_at, NULLIF(o.updated_at, o.created_at),
    o.first_connected_at, o.last_seen_at, o.online, o.expires_at, substr(o.prev_lookup, 1, 16),
    o.prev_password_hash, o.prev_until, o.rotated_at, o.rotation_requested_at, o.hardware_hash, o.hardware_key
FROM devices_old o JOIN tenants n ON n.id = o.tenant_id JOIN templates t ON t.id = o.template_id
ORDER BY o.rowid;

-- Dropping a table deletes its rows first, which its own ON DELETE RESTRICT
-- would refuse for a gateway listed before its sub-devices.
UPDATE devices_old SET parent_id = NULL WHERE parent_id IS NOT NULL;
DROP TABLE devices_old;

-- Sub-devices only: the parent's foreign key and the parent_id filter use it.
CREATE UNIQUE INDEX devices_parent ON devices (parent_id, sub_device_addr) WHERE parent_id IS NOT NULL;
-- The list filters; id last so that a filtered page is read in order.
CREATE INDEX devices_tenant ON devices (tenant_seq, id);
CREATE INDEX devices_template ON devices (template_seq, id);
CREATE INDEX devices_product_id ON devices (product_id, id) WHERE product_id IS NOT NULL;
CREATE UNIQUE INDEX devices_prev_lookup ON devices (prev_lookup) WHERE prev_lookup IS NOT NULL;

CREATE TRIGGER devices_count_delete AFTER DELETE ON devices
BEGIN
    UPDATE templates SET device_count = device_count - 1 WHERE seq = OLD.template_seq;
END;

CREATE TABLE audit_new (
    id            ANY     NOT NULL PRIMARY KEY, -- a key; UUIDv7: time order
    at            INTEGER NOT NULL,
    kind          INTEGER NOT NULL -- 0: registration, 1: admin, 2: session
        CONSTRAINT kind CHECK (kind IN (0, 1, 2)),
    tenant_id     ANY,
    actor         TEXT, -- NULL: client_addr
    action        TEXT    NOT NULL,
    code          INTEGER NOT NULL,
    template_id   ANY,
    device_number TEXT,
    target        TEXT,
    client_addr   TEXT,
    detail        TEXT    NOT NULL DEFAULT '',
    count         INTEGER NOT NULL DEFAULT 1
        CONSTRAINT count CHECK (count >= 1)
) STRICT, WITHOUT ROWID;

INSERT INTO audit_new (id, at, kind, tenant_id, actor, action, code, template_id, device_number, target,
    client_addr, detail, count)
SELECT CASE WHEN id GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]' THEN unhex(replace(id, '-', '')) ELSE id END, at,
    CASE kind WHEN 'registration' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END,
    CASE WHEN tenant_id GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]' THEN unhex(replace(tenant_id, '-', '')) ELSE tenant_id END,
    CASE WHEN actor = client_addr THEN NULL ELSE actor END, action, code,
    CASE WHEN template_id GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]' THEN unhex(replace(template_id, '-', '')) ELSE template_id END,
    device_number, target, client_addr, detail, count
FROM audit ORDER BY rowid;
DROP TABLE audit;
ALTER TABLE audit_new RENAME TO audit;
CREATE INDEX audit_device_number ON audit (device_number, id);
CREATE INDEX audit_tenant_id ON audit (tenant_id, id);
