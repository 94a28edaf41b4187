"""Spread embeds `...rel(...)`: to-many spreads as one JSON array per column, their order,
filters and inner joins, nesting, and aggregates inside spreads (hoisted out of to-one
spreads, refused in to-many ones). Data: tests/rest/fixtures/spread.sql."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

pytestmark = pytest.mark.anyio

TO_MANY_AGGREGATES = {
    "code": "PGRST127",
    "message": "Feature not implemented",
    "details": "Aggregates are not implemented for one-to-many or many-to-many spreads.",
    "hint": None,
}


@pytest.fixture
def spread_config(rest_db, rest_config):
    with psycopg.connect(rest_db, autocommit=True) as conn:
        conn.execute((Path(__file__).parent / "fixtures" / "spread.sql").read_text())
    return rest_config.with_(db_aggregates_enabled=True)


@pytest.fixture
async def client(spread_config, make_client):
    async with make_client(spread_config) as http:
        yield http


async def get_json(client, url, **kw):
    r = await client.get(url, **kw)
    assert r.status_code == 200, r.text
    return r.json()


async def test_to_many_spread_makes_an_array_per_column(client):
    rows = await get_json(client, "/orchards?select=name,...trees(label)&order=id&trees.order=id")
    assert rows == [
        {"name": "North", "label": ["N1", "N2"]},
        {"name": "South", "label": ["S1", "S2", "S3"]},
        {"name": "Empty", "label": []},
    ]
    rows = await get_json(
        client, "/orchards?select=name,...trees(tree:label,height)&id=eq.1&trees.order=id"
    )
    assert rows == [{"name": "North", "tree": ["N1", "N2"], "height": [3, 2]}]
    # many-to-many through the junction
    rows = await get_json(client, "/pickers?select=name,...trees(label)&order=id&trees.order=id")
    assert rows == [
        {"name": "Ann", "label": ["N1", "N2", "S1"]},
        {"name": "Bob", "label": ["S1", "S3"]},
        {"name": "Cid", "label": []},
    ]


async def test_star_in_a_to_many_spread_is_one_array_per_column(client):
    rows = await get_json(client, "/orchards?select=name,...trees(*)&id=eq.1&trees.order=id")
    assert rows == [
        {
            "name": "North",
            "id": [1, 2],
            "label": ["N1", "N2"],
            "orchard_id": [1, 1],
            "variety_id": [1, 2],
            "height": [3, 2],
        }
    ]
    assert list(rows[0]) == ["name", "id", "label", "orchard_id", "variety_id", "height"]


async def test_arrays_follow_the_spread_order_even_on_unselected_and_related_columns(client):
    rows = await get_json(
        client, "/orchards?select=name,...trees(label)&id=eq.2&trees.order=height.desc.nullsfirst"
    )
    assert rows == [{"name": "South", "label": ["S3", "S1", "S2"]}]
    rows = await get_json(
        client,
        "/orchards?select=name,...trees(label,...harvests(kilos))&id=lt.3&order=id"
        "&trees.order=harvests(kilos).desc",
    )
    assert rows == [
        {"name": "North", "label": ["N2", "N1"], "kilos": [20, 10]},
        {"name": "South", "label": ["S3", "S2", "S1"], "kilos": [None, 7, 5]},
    ]


async def test_embeds_and_spreads_nested_in_a_to_many_spread(client):
    rows = await get_json(
        client,
        "/orchards?select=name,...trees(label,variety:varieties(name),tree_pickers(picker_id),"
        "...harvests(kilos),harvest:harvests(kilos))&id=eq.2&trees.order=id"
        "&trees.tree_pickers.order=picker_id",
    )
    assert rows == [
        {
            "name": "South",
            "label": ["S1", "S2", "S3"],
            "variety": [{"name": "Fuji"}, {"name": "Fuji"}, {"name": "Gala"}],
            "tree_pickers": [[{"picker_id": 1}, {"picker_id": 2}], [], [{"picker_id": 2}]],
            "kilos": [5, 7, None],  # a missing to-one row is a null element, not a gap
            "harvest": [{"kilos": 5}, {"kilos": 7}, None],
        }
    ]
    rows = await get_json(
        client,
        "/orchards?select=name,...trees(label,...pickers(picker:name))&id=eq.2"
        "&trees.order=id&trees.pickers.order=name",
    )
    assert rows == [
        {"name": "South", "label": ["S1", "S2", "S3"], "picker": [["Ann", "Bob"], [], ["Bob"]]}
    ]


async def test_filters_inner_joins_and_null_embed_filters_on_to_many_spreads(client):
    rows = await get_json(
        client, "/orchards?select=name,...trees(label)&trees.label=like.*2&order=id"
    )
    assert rows == [
        {"name": "North", "label": ["N2"]},
        {"name": "South", "label": ["S2"]},
        {"name": "Empty", "label": []},
    ]
    r = await client.get(
        "/orchards?select=name,...trees!inner(label)&trees.height=gte.3&order=id",
        headers={"Prefer": "count=exact"},
    )
    assert r.status_code == 200, r.text
    assert r.json() == [{"name": "North", "label": ["N1"]}, {"name": "South", "label": ["S1"]}]
    assert r.headers["content-range"] == "0-1/2"
    rows = await get_json(
        client, "/orchards?select=name,...trees(label)&trees=not.is.null&order=id&trees.order=id"
    )
    assert rows == [
        {"name": "North", "label": ["N1", "N2"]},
        {"name": "South", "label": ["S1", "S2", "S3"]},
    ]
    rows = await get_json(client, "/orchards?select=name,...trees(label)&trees=is.null")
    assert rows == [{"name": "Empty", "label": []}]


async def test_empty_to_many_spreads_add_nothing(client):
    rows = await get_json(client, "/orchards?select=*,...trees()&order=id")
    assert rows == [
        {"id": 1, "name": "North"},
        {"id": 2, "name": "South"},
        {"id": 3, "name": "Empty"},
    ]
    rows = await get_json(client, "/pickers?select=name,...trees()&order=id")
    assert rows == [{"name": "Ann"}, {"name": "Bob"}, {"name": "Cid"}]


async def test_trailing_text_after_the_select_is_ignored_like_postgrest(client):
    rows = await get_json(client, "/orchards?select=name,...trees(label))&id=eq.1&trees.order=id")
    assert rows == [{"name": "North", "label": ["N1", "N2"]}]


async def test_aggregates_in_to_one_spreads_are_applied_by_the_parent(client):
    assert await get_json(client, "/trees?select=...harvests(total:kilos.sum())") == [{"total": 42}]
    assert await get_json(client, "/trees?select=...harvests(kilos.sum()::text)") == [{"sum": "42"}]
    # grouped by what another spread gives (a tree without harvest adds nothing to the sum)
    rows = await get_json(
        client,
        "/trees?select=...varieties(variety:name),...harvests(kilos.sum())"
        "&order=varieties(variety)",
    )
    assert rows == [{"variety": "Fuji", "sum": 32}, {"variety": "Gala", "sum": 10}]
    # count() inside a spread counts the spread's rows that exist
    rows = await get_json(
        client,
        "/trees?select=orchard_id,trees:count(),...harvests(harvested:count())&order=orchard_id",
    )
    assert rows == [
        {"orchard_id": 1, "trees": 2, "harvested": 2},
        {"orchard_id": 2, "trees": 3, "harvested": 2},
    ]


async def test_aggregates_hoist_through_nested_to_one_spreads(client):
    rows = await get_json(
        client, "/tree_pickers?select=picker_id,...trees(...harvests(kilos.sum()))&order=picker_id"
    )
    assert rows == [{"picker_id": 1, "sum": 35}, {"picker_id": 2, "sum": 5}]
    # up to the nearest embed that is not a to-one spread
    rows = await get_json(
        client, "/pickers?select=name,tree_pickers(...trees(...harvests(kilos.sum())))&order=id"
    )
    assert rows == [
        {"name": "Ann", "tree_pickers": [{"sum": 35}]},
        {"name": "Bob", "tree_pickers": [{"sum": 5}]},
        {"name": "Cid", "tree_pickers": [{"sum": None}]},
    ]


async def test_aggregates_group_by_embedded_resources_and_expanded_stars(client):
    rows = await get_json(
        client, "/trees?select=variety_id,total:height.sum(),varieties(name)&order=variety_id"
    )
    assert rows == [
        {"variety_id": 1, "total": 3, "varieties": {"name": "Gala"}},
        {"variety_id": 2, "total": 7, "varieties": {"name": "Fuji"}},
    ]
    rows = await get_json(client, "/varieties?select=*,n:count()&order=id")
    assert rows == [{"id": 1, "name": "Gala", "n": 1}, {"id": 2, "name": "Fuji", "n": 1}]


@pytest.mark.parametrize(
    "select",
    [
        "name,...trees(height.sum())",
        "name,...trees(label,...harvests(kilos.sum()))",  # hoisted into the to-many spread
        "name,...trees(count())",
    ],
)
async def test_to_many_spreads_refuse_aggregates(client, select):
    r = await client.get(f"/orchards?select={select}")
    assert r.status_code == 400
    assert r.json() == TO_MANY_AGGREGATES


async def test_spread_aggregates_when_aggregates_are_disabled(spread_config, make_client):
    async with make_client(spread_config.with_(db_aggregates_enabled=False)) as client:
        for select in ("name,...trees(height.sum())", "name,...trees(...harvests(count()))"):
            r = await client.get(f"/orchards?select={select}")
            assert r.status_code == 400
            assert r.json()["code"] == "PGRST123"


async def test_bad_spread_requests_are_client_errors(client):
    r = await client.get("/orchards?select=name,...trees(nope)")
    assert r.status_code == 400 and r.json()["code"] == "42703"
    r = await client.get(
        "/orchards?select=name,...trees(label,tree_pickers(picker_id))"
        "&trees.order=tree_pickers(picker_id)"
    )
    assert r.status_code == 400 and r.json()["code"] == "PGRST118"
    r = await client.get("/orchards?select=name,...trees(label)&order=trees(label)")
    assert r.status_code == 400 and r.json()["code"] == "PGRST118"
    r = await client.get("/orchards?select=name,...trees(label)&trees.nope.order=id")
    assert r.status_code == 400 and r.json()["code"] == "PGRST108"
