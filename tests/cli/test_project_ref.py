"""flux.json handling and project selection (slug, --hash, manifest, placeholder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flux.cli.client import ApiClient
from flux.cli.manifest import find_manifest, load_manifest, write_manifest
from flux.cli.project_ref import normalize_hash, select_project
from flux.cli.settings import Flags, resolve_settings
from flux.errors import FluxError

from .conftest import TOKEN, FakeControlPlane


@pytest.fixture
def client(control: FakeControlPlane, tmp_path: Path):
    settings = resolve_settings(
        Flags(api_base=control.base, token=TOKEN), cwd=tmp_path, environ={}, home=tmp_path
    )
    with ApiClient(settings) as api:
        yield api


def test_manifest_found_walking_up_and_rewritten_preserving_other_keys(tmp_path: Path) -> None:
    (tmp_path / "flux.json").write_text(
        '{"slug": "app", "hash": "REPLACE_AFTER_FLUX_INIT", "custom": 1}'
    )
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    manifest = find_manifest(nested)
    assert manifest is not None and manifest.path == tmp_path / "flux.json"
    assert manifest.has_placeholder_hash
    write_manifest(
        manifest.path,
        {
            "slug": "app",
            "hash": "abc1234",
            "mode": "v2_shared",
            "action": "linked",
            "secrets": {"jwtSecret": "x"},
        },
        manifest.data,
    )
    assert json.loads(manifest.path.read_text()) == {
        "slug": "app",
        "hash": "abc1234",
        "custom": 1,
        "mode": "v2_shared",
    }


@pytest.mark.parametrize("content", ["{oops", "[1, 2]"])
def test_malformed_manifest_is_a_clear_error(tmp_path: Path, content: str) -> None:
    (tmp_path / "flux.json").write_text(content)
    with pytest.raises(FluxError) as err:
        load_manifest(tmp_path / "flux.json")
    assert str(tmp_path / "flux.json") in err.value.message


def test_normalize_hash() -> None:
    assert normalize_hash(" ABC1234 ") == "abc1234"
    for bad in ("abc123", "abc12345", "xyz1234", ""):
        with pytest.raises(FluxError):
            normalize_hash(bad)
    with pytest.raises(FluxError) as err:
        normalize_hash("REPLACE_AFTER_FLUX_INIT")
    assert "flux init" in (err.value.hint or "")


def test_select_by_slug_hash_and_manifest(
    client: ApiClient, control: FakeControlPlane, tmp_path: Path
) -> None:
    percept = control.add("percept", "abc1234")
    control.add("other", "def5678")
    assert select_project(client, "percept", None, tmp_path).hash == percept["hash"]
    assert select_project(client, None, "DEF5678", tmp_path).hash == "def5678"
    assert select_project(client, "percept", "abc1234", tmp_path).slug == "percept"
    (tmp_path / "flux.json").write_text('{"slug": "other", "hash": "def5678"}')
    ref = select_project(client, None, None, tmp_path)
    assert (ref.slug, ref.hash) == ("other", "def5678")
    (tmp_path / "flux.json").write_text('{"slug": "other"}')
    assert select_project(client, None, None, tmp_path).hash == "def5678"


@pytest.mark.parametrize(
    ("slug", "hash_", "manifest", "code"),
    [
        (None, None, None, "no_project"),
        (None, None, '{"slug": "percept", "hash": "REPLACE_AFTER_FLUX_INIT"}', "placeholder_hash"),
        (None, None, "{}", "manifest_invalid"),
        ("percept", "def5678", None, "slug_mismatch"),
        ("missing", None, None, "not_found"),
        ("twin", None, None, "ambiguous"),
        (None, "nothex!", None, "bad_hash"),
    ],
)
def test_selection_errors(
    client: ApiClient,
    control: FakeControlPlane,
    tmp_path: Path,
    slug: str | None,
    hash_: str | None,
    manifest: str | None,
    code: str,
) -> None:
    control.add("percept", "abc1234")
    control.add("other", "def5678")
    control.add("twin", "1111111")
    control.add("twin", "2222222")
    if manifest is not None:
        (tmp_path / "flux.json").write_text(manifest)
    with pytest.raises(FluxError) as err:
        select_project(client, slug, hash_, tmp_path)
    assert err.value.code == code
    if code == "placeholder_hash":
        assert "flux init" in (err.value.hint or "")
    if code == "slug_mismatch":
        assert "'other'" in err.value.message and "'percept'" in err.value.message
    if code == "ambiguous":
        assert "--hash" in (err.value.hint or "")


def test_unknown_hash_is_the_api_404(
    client: ApiClient, control: FakeControlPlane, tmp_path: Path
) -> None:
    with pytest.raises(FluxError) as err:
        select_project(client, "percept", "abc1234", tmp_path)
    assert err.value.status == 404 and err.value.message == "project not found"
