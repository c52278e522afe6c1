-- 0005: lifecycle events, written in the transaction of their change, and
-- the webhooks that receive them. An event's position (pos) is its place in
-- the order of commits: a transaction that writes events takes its
-- positions from event_counter as its last statement, and holds that row
-- until it commits, so the next one can only take later positions, and
-- commits later. A reader that follows positions misses no event.
CREATE TABLE event_counter (
    one  boolean PRIMARY KEY DEFAULT true CONSTRAINT one CHECK (one),
    last bigint  NOT NULL
);
INSERT INTO event_counter (one, last) VALUES (true, 0);

CREATE TABLE events (
    pos       bigint           PRIMARY KEY,
    id        text COLLATE "C" NOT NULL UNIQUE, -- UUIDv7, for de-duplication
    type      text             NOT NULL,
    at        timestamptz      NOT NULL,
    tenant_id text COLLATE "C" NOT NULL,
    subject   text COLLATE "C" NOT NULL,
    data      text             NOT NULL
);

CREATE INDEX events_tenant ON events (tenant_id, pos);

CREATE TABLE webhooks (
    id          text COLLATE "C" NOT NULL PRIMARY KEY,
    tenant_id   text COLLATE "C" NOT NULL REFERENCES tenants (id),
    url         text             NOT NULL,
    types       text             NOT NULL, -- comma-separated; empty: every type
    batch_size  integer          NOT NULL,
    sealed      bytea            NOT NULL,
    created_at  timestamptz      NOT NULL,
    cursor      bigint           NOT NULL,
    lease_node  text             NOT NULL DEFAULT '',
    lease_until timestamptz      NOT NULL DEFAULT '-infinity'
);

CREATE INDEX webhooks_tenant ON webhooks (tenant_id, id);

-- The events a webhook has not received: failed, waiting behind a failed
-- event of the same subject, or given up on (dead).
CREATE TABLE webhook_deliveries (
    webhook_id  text COLLATE "C" NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    pos         bigint           NOT NULL REFERENCES events (pos) ON DELETE CASCADE,
    subject     text COLLATE "C" NOT NULL,
    state       text             NOT NULL
        CONSTRAINT state CHECK (state IN ('retrying', 'waiting', 'dead')),
    attempts    integer          NOT NULL,
    next_at     timestamptz      NOT NULL,
    last_status integer          NOT NULL,
    last_error  text             NOT NULL,
    updated_at  timestamptz      NOT NULL,
    PRIMARY KEY (webhook_id, pos)
);

CREATE INDEX webhook_deliveries_pos ON webhook_deliveries (pos);
