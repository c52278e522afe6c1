-- 0008: what a template does about a suspected clone of one of its devices
-- (otos.Template.CloneAction).
ALTER TABLE templates ADD COLUMN clone_action TEXT NOT NULL DEFAULT 'none';
