"""Which custom domains are accepted: public DNS names only (normalise_hostname, table-driven),
and the API's 422 for the rest."""

from __future__ import annotations

import pytest

from flux.control.domains import normalise_hostname
from flux.errors import BadInput

BASE = "flux.example.com"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("API.Example.com.", "api.example.com"),
        ("  shop.example.co.uk ", "shop.example.co.uk"),
        ("a-b.c-d.io", "a-b.c-d.io"),
        ("x" * 63 + ".com", "x" * 63 + ".com"),
        ("1.2.3.4.com", "1.2.3.4.com"),  # digits in labels are fine under a real TLD
        ("app.xn--p1ai", "app.xn--p1ai"),  # IDNA top-level domain
        ("flux.example.org", "flux.example.org"),  # not the base domain, only alike
        ("example.com", "example.com"),
    ],
)
def test_public_names_are_stored_normalised(raw: str, stored: str) -> None:
    assert normalise_hostname(raw, BASE) == stored


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("127.0.0.1", "IP address"),
        ("127.1", "IP address"),
        ("0x7f.1", "IP address"),
        ("0x7f000001", "IP address"),
        ("2130706433", "IP address"),
        ("0177.0.0.1", "IP address"),
        ("10.0.0.1.", "IP address"),
        ("::1", "IP address"),
        ("[::1]", "IP address"),
        ("[::ffff:127.0.0.1]", "IP address"),
        ("fe80::1%eth0", "IP address"),
        ("localhost", "special-use"),
        ("LOCALHOST.", "special-use"),
        ("api.localhost", "special-use"),
        ("printer.local", "special-use"),
        ("db.internal", "special-use"),
        ("a.test", "special-use"),
        ("1.0.0.127.in-addr.arpa", "special-use"),
        ("intranet", "single-label"),
        ("a.b.c1", "top-level domain"),
        ("a.123", "top-level domain"),
        ("a.c", "top-level domain"),
        ("-bad.example.com", "not a valid hostname"),
        ("bad-.example.com", "not a valid hostname"),
        ("a..example.com", "not a valid hostname"),
        ("under_score.example.com", "not a valid hostname"),
        ("not a host.com", "not a valid hostname"),
        ("bücher.de", "not a valid hostname"),
        ("*.example.com", "not a valid hostname"),
        ("api.example.com:443", "IP address"),  # a port is not part of a hostname
        ("x" * 64 + ".com", "not a valid hostname"),
        (".".join(["a" * 63] * 4) + ".com", "not a valid hostname"),  # 256 chars
        ("", "not a valid hostname"),
        ("flux.example.com", "base domain"),
        ("api--app--abc1234.flux.example.com", "base domain"),
    ],
)
def test_everything_else_is_refused_with_the_reason(raw: str, why: str) -> None:
    with pytest.raises(BadInput) as err:
        normalise_hostname(raw, BASE)
    assert why in err.value.message and err.value.status == 422


@pytest.mark.parametrize(
    "hostname", ["127.0.0.1", "0x7f.1", "[::1]", "localhost", "evil.localhost"]
)
def test_the_api_answers_422(api, hostname):
    h = api.post("/create", json={"name": "dom names"}).json()["project"]["hash"]
    res = api.post(f"/projects/{h}/domains", json={"hostname": hostname})
    assert res.status_code == 422 and res.json()["error"], res.text
    assert api.get(f"/projects/{h}/domains").json()["domains"] == []
