import uuid

import pytest
from starlette.testclient import TestClient

from flux.catalog import tokens, users
from flux.control.app import build_control_app


@pytest.fixture
def api(control):
    """A control-plane API client authenticated as a fresh user."""
    with control.catalog.transaction() as conn:
        user = users.create_user(conn, f"{uuid.uuid4().hex[:8]}@test", None)
        token = tokens.create_token(conn, user.id, "test")
    client = TestClient(build_control_app(control), base_url="http://testserver/api/cli/v1")
    client.headers["Authorization"] = f"Bearer {token}"
    return client
