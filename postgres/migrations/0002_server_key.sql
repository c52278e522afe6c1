-- 0002: the server's master key, kept in the database so that every node
-- that shares it has the same key (see provision.ServerKey). One row.

CREATE TABLE server_key (
    id         integer     NOT NULL PRIMARY KEY
        CONSTRAINT id CHECK (id = 1),
    key        bytea       NOT NULL
        CONSTRAINT key CHECK (length(key) > 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
