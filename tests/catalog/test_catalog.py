import psycopg
import pytest

from flux.catalog import audit, plans, tokens, users
from flux.catalog.db import Catalog
from flux.catalog.migrate import migrate, migration_files


def test_migrations_apply_once_in_order_and_seed_plans(fresh_db):
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        first = migrate(conn)
        assert first == [name for name, _ in migration_files()]
        assert first == sorted(first)
        assert migrate(conn) == []
        tables = {
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        assert {
            "users",
            "api_tokens",
            "plans",
            "clusters",
            "projects",
            "domains",
            "audit_log",
            "backups",
            "catalog_migrations",
        } <= tables
    catalog = Catalog(fresh_db)
    try:
        with catalog.connection() as conn:
            free = plans.get_plan(conn, "free")
            assert (
                free.rate_limit_per_minute,
                free.statement_timeout_ms,
                free.connection_limit,
            ) == (600, 5000, 5)
            pro = plans.get_plan(conn, "pro")
            assert (pro.rate_limit_per_minute, pro.statement_timeout_ms, pro.connection_limit) == (
                6000,
                15000,
                20,
            )
            assert plans.get_plan(conn, "enterprise") is not None
    finally:
        catalog.close()


def test_tokens_are_stored_hashed_and_revocable(fresh_db):
    catalog = Catalog(fresh_db)
    catalog.migrate()
    try:
        with catalog.transaction() as conn:
            user = users.create_user(conn, "a@example.com", None)
            token = tokens.create_token(conn, user.id, "ci")
        assert token.startswith("flx_live_") and len(token) > 40
        with catalog.connection() as conn:
            stored = conn.execute("SELECT token_hash, prefix FROM api_tokens").fetchone()
            assert token not in str(stored)
            assert tokens.user_for_token(conn, token) == user
            assert tokens.user_for_token(conn, token + "x") is None
            assert tokens.user_for_token(conn, "not-a-token") is None
            assert tokens.revoke_token(conn, token)
            assert tokens.user_for_token(conn, token) is None
    finally:
        catalog.close()


@pytest.mark.parametrize(
    "details",
    [
        {"jwtSecret": "s3cr3t", "mode": "v2"},
        {"nested": {"password": "pw"}, "list": [{"token": "t"}]},
    ],
)
def test_audit_redacts_secrets(fresh_db, details):
    catalog = Catalog(fresh_db)
    catalog.migrate()
    try:
        with catalog.transaction() as conn:
            audit.record(conn, user_id=None, action="test", details=details)
            stored = audit.entries(conn)[0]["details"]
        text = str(stored)
        for secret in ("s3cr3t", "pw'", "'t'"):
            assert secret not in text
        assert "[redacted]" in text
    finally:
        catalog.close()
