-- flux_system catalog, version 1: users, tokens, plans, clusters, projects, domains, audit.
CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    email         text NOT NULL UNIQUE,
    password_hash text,
    is_admin      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_tokens (
    id            bigserial PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          text NOT NULL,
    token_hash    text NOT NULL UNIQUE,
    prefix        text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);

CREATE TABLE plans (
    name                  text PRIMARY KEY,
    rate_limit_per_minute integer NOT NULL CHECK (rate_limit_per_minute > 0),
    statement_timeout     interval NOT NULL,
    connection_limit      integer NOT NULL CHECK (connection_limit > 0),
    max_rows              integer CHECK (max_rows > 0)
);

INSERT INTO plans (name, rate_limit_per_minute, statement_timeout, connection_limit, max_rows) VALUES
    ('free',        600,   '5 seconds',  5,  1000),
    ('pro',         6000,  '15 seconds', 20, 10000),
    ('enterprise',  60000, '60 seconds', 50, NULL);

CREATE TABLE clusters (
    id          text PRIMARY KEY,
    dsn         text NOT NULL,
    role        text NOT NULL DEFAULT 'shared' CHECK (role IN ('shared')),
    capacity    integer NOT NULL DEFAULT 5000 CHECK (capacity > 0),
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'draining', 'offline')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE projects (
    tenant_id             uuid PRIMARY KEY,
    slug                  text NOT NULL CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(slug) <= 40),
    hash                  text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{7}$'),
    owner_id              bigint NOT NULL REFERENCES users(id),
    mode                  text NOT NULL CHECK (mode IN ('v1_dedicated', 'v2_shared')),
    plan                  text NOT NULL REFERENCES plans(name),
    status                text NOT NULL DEFAULT 'active',
    lifecycle_state       text NOT NULL DEFAULT 'active' CHECK (lifecycle_state IN ('active', 'dormant', 'archived')),
    cluster_id            text REFERENCES clusters(id),
    jwt_secret            text NOT NULL,
    rate_limit_per_minute integer CHECK (rate_limit_per_minute > 0),
    maintenance           boolean NOT NULL DEFAULT false,
    runner_data           jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at            timestamptz NOT NULL DEFAULT now(),
    last_accessed_at      timestamptz,
    UNIQUE (owner_id, slug)
);
CREATE INDEX projects_owner_created ON projects (owner_id, created_at);

CREATE TABLE domains (
    hostname    text PRIMARY KEY CHECK (hostname = lower(hostname)),
    tenant_id   uuid NOT NULL REFERENCES projects(tenant_id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX domains_tenant ON domains (tenant_id);

CREATE TABLE backups (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES projects(tenant_id) ON DELETE CASCADE,
    kind        text NOT NULL,
    path        text NOT NULL,
    sha256      text,
    size_bytes  bigint,
    state       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    verified_at timestamptz
);

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    user_id     bigint REFERENCES users(id) ON DELETE SET NULL,
    action      text NOT NULL,
    tenant_id   uuid,
    target      text,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, at);
