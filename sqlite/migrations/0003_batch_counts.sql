-- 0003: cheaper device inserts for registration storms.
--
-- The store now keeps each template's device_count and checks max_devices
-- itself, once per group-commit batch (see count.go), instead of two
-- triggers that read and rewrote the template's row for every device.
-- Deleting a device still decrements the count by trigger.
DROP TRIGGER devices_cap;
DROP TRIGGER devices_count_insert;

-- Most devices have no product: they need no entry in its index.
DROP INDEX devices_product_id;
CREATE INDEX devices_product_id ON devices (product_id, id) WHERE product_id IS NOT NULL;
