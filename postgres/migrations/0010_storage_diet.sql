-- 0010: the storage diet (issue 19), as far as it goes on PostgreSQL.
--
-- * A voucher's look-up key is 16 bytes (otos.VoucherLookup): the first 16
--   of the key it had, so the stored keys are cut to those.
-- * (parent_id, sub_device_addr) is indexed for sub-devices only, and
--   product_id for devices of a product only: a B-tree holds an entry for
--   every NULL too.
-- * The audit trail's template filter has no index of its own, as on SQLite:
--   it scans what the tenant or device number selects, or the trail in
--   order.
UPDATE devices SET credential_lookup = substring(credential_lookup FROM 1 FOR 16)
    WHERE length(credential_lookup) > 16;
UPDATE devices SET prev_lookup = substring(prev_lookup FROM 1 FOR 16)
    WHERE length(prev_lookup) > 16;

ALTER TABLE devices DROP CONSTRAINT devices_parent_id_sub_device_addr_key;
CREATE UNIQUE INDEX devices_parent ON devices (parent_id, sub_device_addr) WHERE parent_id IS NOT NULL;

DROP INDEX devices_product_id;
CREATE INDEX devices_product_id ON devices (product_id, id) WHERE product_id IS NOT NULL;

DROP INDEX audit_template_id;
