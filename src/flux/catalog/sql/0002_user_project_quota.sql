-- Per-user project quota (issue 10): how many projects a user may own; admins change it.
ALTER TABLE users
    ADD COLUMN project_quota integer NOT NULL DEFAULT 100 CHECK (project_quota >= 0);
