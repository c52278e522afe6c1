-- 0009: the life of a voucher after registration: rotation with an overlap,
-- expiry, and the hardware identity that factory-reset recovery proves
-- (otos.Template.RotationOverlap and VoucherLifetime, otos.Device), as
-- sqlite/migrations/0009. Lifetimes and overlaps are in seconds.
ALTER TABLE templates ADD COLUMN rotation_overlap bigint NOT NULL DEFAULT 86400;
ALTER TABLE templates ADD COLUMN voucher_lifetime bigint NOT NULL DEFAULT 0; -- 0: no expiry
ALTER TABLE devices ADD COLUMN expires_at timestamptz; -- NULL: never
ALTER TABLE devices ADD COLUMN prev_lookup bytea;
ALTER TABLE devices ADD COLUMN prev_password_hash bytea;
ALTER TABLE devices ADD COLUMN prev_until timestamptz;
ALTER TABLE devices ADD COLUMN rotated_at timestamptz;
ALTER TABLE devices ADD COLUMN rotation_requested_at timestamptz;
ALTER TABLE devices ADD COLUMN hardware_hash bytea;
ALTER TABLE devices ADD COLUMN hardware_key bytea;
-- Partial: the devices that hold no previous voucher, nearly all, cost the
-- index nothing.
CREATE UNIQUE INDEX devices_prev_lookup ON devices (prev_lookup) WHERE prev_lookup IS NOT NULL;
-- The repeat policy 'hardware': recovery by the hardware identity.
ALTER TABLE templates DROP CONSTRAINT reregistration;
ALTER TABLE templates ADD CONSTRAINT reregistration
    CHECK (reregistration IN ('until_connected', 'never', 'hardware'));
