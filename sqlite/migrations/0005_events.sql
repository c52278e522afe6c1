-- 0005: lifecycle events, written in the transaction of their change, and
-- the webhooks that receive them. An event's position (pos) is its place
-- in the order of commits: SQLite has one writer, so AUTOINCREMENT, which
-- never reuses a number, gives it.
CREATE TABLE events (
    pos       INTEGER PRIMARY KEY AUTOINCREMENT,
    id        TEXT    NOT NULL UNIQUE, -- UUIDv7, for de-duplication
    type      TEXT    NOT NULL,
    at        INTEGER NOT NULL,
    tenant_id TEXT    NOT NULL,
    subject   TEXT    NOT NULL,
    data      TEXT    NOT NULL
) STRICT;

CREATE INDEX events_tenant ON events (tenant_id, pos);

CREATE TABLE webhooks (
    id          TEXT    NOT NULL PRIMARY KEY,
    tenant_id   TEXT    NOT NULL REFERENCES tenants (id),
    url         TEXT    NOT NULL,
    types       TEXT    NOT NULL, -- comma-separated; empty: every type
    batch_size  INTEGER NOT NULL,
    sealed      BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    cursor      INTEGER NOT NULL,
    lease_node  TEXT    NOT NULL DEFAULT '',
    lease_until INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX webhooks_tenant ON webhooks (tenant_id, id);

-- The events a webhook has not received: failed, waiting behind a failed
-- event of the same subject, or given up on (dead).
CREATE TABLE webhook_deliveries (
    webhook_id  TEXT    NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    pos         INTEGER NOT NULL REFERENCES events (pos) ON DELETE CASCADE,
    subject     TEXT    NOT NULL,
    state       TEXT    NOT NULL
        CONSTRAINT state CHECK (state IN ('retrying', 'waiting', 'dead')),
    attempts    INTEGER NOT NULL,
    next_at     INTEGER NOT NULL,
    last_status INTEGER NOT NULL,
    last_error  TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (webhook_id, pos)
) STRICT, WITHOUT ROWID;

CREATE INDEX webhook_deliveries_pos ON webhook_deliveries (pos);
