-- Backups and database access (issue 13). A backup outlives its project (the nuke gate keeps
-- the last verified one on disk), so its row keeps the project's names instead of a foreign key.
ALTER TABLE backups DROP CONSTRAINT IF EXISTS backups_tenant_id_fkey;
ALTER TABLE backups
    ADD COLUMN project_slug  text,
    ADD COLUMN project_hash  text,
    ADD COLUMN trigger       text NOT NULL DEFAULT 'manual'
        CHECK (trigger IN ('manual', 'schedule', 'nuke', 'upload')),
    ADD COLUMN meta          jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN error         text,
    ADD COLUMN offsite_at    timestamptz,
    ADD COLUMN offsite_uri   text;
ALTER TABLE backups ADD CONSTRAINT backups_kind_check
    CHECK (kind IN ('project_db', 'tenant_export'));
ALTER TABLE backups ADD CONSTRAINT backups_state_check
    CHECK (state IN ('validating', 'created', 'verified', 'verify_failed'));
CREATE INDEX backups_tenant_created ON backups (tenant_id, created_at DESC);

-- Temporary login roles handed out by `flux db` on v2 projects.
CREATE TABLE db_access_roles (
    role_name   text PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    cluster_id  text,
    access      text NOT NULL CHECK (access IN ('read-only', 'read-write')),
    user_id     bigint REFERENCES users(id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX db_access_roles_live ON db_access_roles (expires_at) WHERE revoked_at IS NULL;
CREATE INDEX db_access_roles_tenant ON db_access_roles (tenant_id, created_at);
