-- 0009: the life of a voucher after registration: rotation with an overlap,
-- expiry, and the hardware identity that factory-reset recovery proves
-- (otos.Template.RotationOverlap and VoucherLifetime, otos.Device).
ALTER TABLE templates ADD COLUMN rotation_overlap INTEGER NOT NULL DEFAULT 86400;
ALTER TABLE templates ADD COLUMN voucher_lifetime INTEGER NOT NULL DEFAULT 0;
-- Reregistration 'hardware' is stored as 'until_connected' with this flag:
-- SQLite cannot widen the reregistration CHECK without rebuilding the table
-- that every other table refers to.
ALTER TABLE templates ADD COLUMN hardware_recovery INTEGER NOT NULL DEFAULT 0
    CONSTRAINT hardware_recovery CHECK (hardware_recovery IN (0, 1));
ALTER TABLE devices ADD COLUMN expires_at INTEGER;
ALTER TABLE devices ADD COLUMN prev_lookup BLOB;
ALTER TABLE devices ADD COLUMN prev_password_hash BLOB;
ALTER TABLE devices ADD COLUMN prev_until INTEGER;
ALTER TABLE devices ADD COLUMN rotated_at INTEGER;
ALTER TABLE devices ADD COLUMN rotation_requested_at INTEGER;
ALTER TABLE devices ADD COLUMN hardware_hash BLOB;
ALTER TABLE devices ADD COLUMN hardware_key BLOB;
-- Partial: the devices that hold no previous voucher, nearly all, cost the
-- index nothing.
CREATE UNIQUE INDEX devices_prev_lookup ON devices (prev_lookup) WHERE prev_lookup IS NOT NULL;
