-- 0006: the sub-device templates under which a gateway template's gateways
-- may register sub-devices themselves (otos.Template.SubTemplates), as
-- comma-separated ids.
ALTER TABLE templates ADD COLUMN sub_templates TEXT NOT NULL DEFAULT '';
