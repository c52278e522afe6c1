-- 0003: count a template's devices once per statement, not once per row.
--
-- Device inserts arrive in batches of one statement (see batch.go). The
-- count is now kept by a statement-level trigger that reads the rows the
-- statement actually inserted (ON CONFLICT DO NOTHING skips the others):
-- one upsert of the session's counting row per template and statement. A
-- template with a cap is locked, and the statement fails as a whole when
-- its new rows would pass the cap; the store then inserts those rows one by
-- one, so that each learns whether it still had room. Deletes keep their
-- per-row trigger.
DROP TRIGGER devices_count_insert ON devices;
DROP FUNCTION devices_count_insert();

CREATE FUNCTION devices_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT n.template_id, count(*) AS added, tp.max_devices
        FROM new_rows n JOIN templates tp ON tp.id = n.template_id
        GROUP BY n.template_id, tp.max_devices
        ORDER BY n.template_id -- one locking order for every statement
    LOOP
        IF t.max_devices > 0 THEN
            PERFORM 1 FROM templates WHERE id = t.template_id FOR NO KEY UPDATE; -- not FOR UPDATE: the foreign key holds KEY SHARE
            IF (SELECT max_devices FROM templates WHERE id = t.template_id) > 0 AND
               (SELECT coalesce(sum(n), 0) FROM template_counts WHERE template_id = t.template_id) + t.added >
               (SELECT max_devices FROM templates WHERE id = t.template_id) THEN
                RAISE EXCEPTION 'the template has reached max_devices' USING CONSTRAINT = 'max_devices';
            END IF;
        END IF;
        INSERT INTO template_counts (template_id, shard, n) VALUES (t.template_id, pg_backend_pid() % 16, t.added)
        ON CONFLICT (template_id, shard) DO UPDATE SET n = template_counts.n + EXCLUDED.n;
    END LOOP;
    RETURN NULL;
END $$;

CREATE TRIGGER devices_count_insert AFTER INSERT ON devices
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION devices_count_insert();
