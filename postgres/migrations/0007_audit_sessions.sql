-- 0007: broker CONNECTs that otos refuses are audited too (kind 'session').
ALTER TABLE audit DROP CONSTRAINT kind;
ALTER TABLE audit ADD CONSTRAINT kind CHECK (kind IN ('registration', 'admin', 'session'));
