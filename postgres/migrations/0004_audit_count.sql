-- 0004: one audit record may stand for many identical refusals (see
-- otos.AuditRecord.Count), so that a flood cannot fill the disk.
ALTER TABLE audit ADD COLUMN count integer NOT NULL DEFAULT 1
    CONSTRAINT count CHECK (count >= 1);
