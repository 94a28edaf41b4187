import re
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flux.errors import BadInput
from flux.naming import (
    is_valid_hash,
    is_valid_slug,
    legacy_service_url,
    new_hash,
    path_service_url,
    resource_name,
    service_url,
    shortid,
    slugify,
    tenant_ddl_role,
    tenant_role,
    tenant_schema,
)


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("percept", "percept"),
        ("Percept", "percept"),
        ("My Cool App!", "my-cool-app"),
        ("  --hello__world--  ", "hello-world"),
        ("a.b.c", "a-b-c"),
        ("Ünïcode Ñame", "n-code-ame"),
        ("x" * 50, "x" * 40),
        ("a" * 39 + "-b", "a" * 39),
        ("123", "123"),
    ],
)
def test_slugify(name, slug):
    assert slugify(name) == slug


@pytest.mark.parametrize("name", ["", "   ", "!!!", "---", "日本語"])
def test_slugify_rejects_names_without_letters_or_digits(name):
    with pytest.raises(BadInput):
        slugify(name)


@given(st.text(min_size=1, max_size=80))
def test_slugify_always_yields_a_valid_slug_or_refuses(name):
    try:
        slug = slugify(name)
    except BadInput:
        return
    assert is_valid_slug(slug)
    assert slugify(slug) == slug


def test_shortid_and_names():
    tid = uuid.UUID("68dd9524-7981-4c3e-9b1a-0123456789ab")
    assert shortid(tid) == "68dd95247981"
    assert tenant_schema("68dd95247981") == "t_68dd95247981_api"
    assert tenant_role("68dd95247981") == "t_68dd95247981_role"
    assert tenant_ddl_role("68dd95247981") == "t_68dd95247981_ddl"
    assert resource_name("abc1234", "percept") == "flux-abc1234-percept"


def test_hash_format():
    for _ in range(200):
        assert re.fullmatch(r"[0-9a-f]{7}", new_hash())
    assert is_valid_hash("abc1234")
    for bad in ("ABC1234", "abc123", "abc12345", "abc123g", ""):
        assert not is_valid_hash(bad)


def test_service_url_forms():
    assert (
        service_url("percept", "abc1234", "localhost", port=8000)
        == "http://api--percept--abc1234.localhost:8000"
    )
    assert (
        service_url("percept", "abc1234", "example.com", scheme="https", port=443)
        == "https://api--percept--abc1234.example.com"
    )
    assert (
        legacy_service_url("percept", "abc1234", "localhost", port=8000)
        == "http://api.percept.abc1234.localhost:8000"
    )
    assert (
        path_service_url("percept", "abc1234", "127.0.0.1", port=8000)
        == "http://127.0.0.1:8000/api--percept--abc1234"
    )
