"""`application/vnd.pgrst.plan` shows the body expression as PostgREST generates it (the JSON
aggregate itself, not the text cast Flux adds when it runs the statement for rows)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio
CLIENT_ROW = "ROW(clients.id, clients.name)"


@pytest.mark.parametrize(
    ("target", "media", "body"),
    [
        ("/clients", "application/json", f"COALESCE(json_agg({CLIENT_ROW}), '[]'::json)"),
        (
            "/clients?id=eq.1",
            "application/vnd.pgrst.object",
            f"COALESCE((json_agg({CLIENT_ROW}) -> 0), 'null'::json)",
        ),
    ],
)
async def test_plan_shows_the_json_aggregate(rest_config, make_client, target, media, body):
    async with make_client(rest_config.with_(db_plan_enabled=True)) as client:
        accept = f'application/vnd.pgrst.plan+json; for="{media}"; options=verbose'
        r = await client.get(target, headers={"Accept": accept})
        assert r.status_code == 200, r.text
        assert r.json()[0]["Plan"]["Output"][2] == body
        # the same read still answers rows as before
        rows = await client.get(target, headers={"Accept": media})
        assert rows.status_code == 200 and "Microsoft" in rows.text
