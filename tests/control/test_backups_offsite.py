"""Offsite replication of verified backups: to a local S3-compatible server (moto's, started
here on a free port) through boto3, and to a second directory."""

from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from flux.backups.artefacts import sha256_file
from flux.postgres import free_port


@pytest.fixture
def s3(monkeypatch):
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "FLUX_BACKUPS_S3_BUCKET": "offsite",
        "FLUX_BACKUPS_S3_ENDPOINT": endpoint,
    }.items():
        monkeypatch.setenv(key, value)
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket="offsite")
    yield client
    server.stop()


def _project_with_data(api) -> str:
    h = api.post("/create", json={"name": "far-away"}).json()["project"]["hash"]
    sql = "create table t (id int primary key); insert into t select generate_series(1, 50);"
    pushed = api.post(
        "/push", json={"hash": h, "mode": "raw", "files": [{"filename": "a.sql", "sql": sql}]}
    ).json()
    assert pushed["ok"], pushed
    return h


def test_verified_backups_are_copied_to_s3(api, control, tmp_path: Path, s3):
    control.backups_root = tmp_path / "backups"
    h = _project_with_data(api)
    backup = api.post(f"/projects/{h}/backups").json()["backup"]
    assert backup["label"] == "Restorable"
    uri = backup["offsite"]["uri"]
    assert uri.startswith("s3://offsite/flux-backups/") and uri.endswith(f"{backup['id']}.dump")
    key = uri.removeprefix("s3://offsite/")
    head = s3.head_object(Bucket="offsite", Key=key)
    assert head["ContentLength"] == backup["sizeBytes"]
    assert head["Metadata"]["sha256"] == backup["sha256"]


def test_offsite_directory_and_unreachable_store(api, control, tmp_path: Path, monkeypatch):
    control.backups_root = tmp_path / "backups"
    h = _project_with_data(api)
    monkeypatch.setenv("FLUX_BACKUPS_OFFSITE_DIR", str(tmp_path / "second"))
    backup = api.post(f"/projects/{h}/backups").json()["backup"]
    copy = Path(backup["offsite"]["uri"].removeprefix("file://"))
    assert copy.is_file() and sha256_file(copy) == backup["sha256"]
    assert copy.stat().st_mode & 0o777 == 0o600

    # a store that does not answer: the backup stays Restorable, without an offsite copy
    monkeypatch.setenv("FLUX_BACKUPS_S3_BUCKET", "nowhere")
    nothing_listens = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("FLUX_BACKUPS_S3_ENDPOINT", nothing_listens)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    other = api.post(f"/projects/{h}/backups").json()["backup"]
    assert other["label"] == "Restorable" and other["offsite"] is None
