-- 0007: broker CONNECTs that otos refuses are audited too (kind 'session').
-- SQLite cannot change a CHECK constraint: the table is rebuilt, rows, order
-- and indexes kept.
CREATE TABLE audit_new (
    id            TEXT    NOT NULL PRIMARY KEY, -- UUIDv7: time order
    at            INTEGER NOT NULL,
    kind          TEXT    NOT NULL
        CONSTRAINT kind CHECK (kind IN ('registration', 'admin', 'session')),
    tenant_id     TEXT,
    actor         TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    code          INTEGER NOT NULL,
    template_id   TEXT,
    device_number TEXT,
    target        TEXT,
    client_addr   TEXT,
    detail        TEXT    NOT NULL DEFAULT '',
    count         INTEGER NOT NULL DEFAULT 1
        CONSTRAINT count CHECK (count >= 1)
) STRICT;
INSERT INTO audit_new (id, at, kind, tenant_id, actor, action, code, template_id, device_number, target,
    client_addr, detail, count)
    SELECT id, at, kind, tenant_id, actor, action, code, template_id, device_number, target,
        client_addr, detail, count FROM audit ORDER BY rowid;
DROP TABLE audit;
ALTER TABLE audit_new RENAME TO audit;
CREATE INDEX audit_device_number ON audit (device_number, id);
CREATE INDEX audit_tenant_id ON audit (tenant_id, id);
