"""Offsite copies of restore-verified artefacts (the third trust state), configured by env:

- an S3-compatible store through boto3: `FLUX_BACKUPS_S3_BUCKET` (required),
  `FLUX_BACKUPS_S3_ENDPOINT` (MinIO, Ceph, R2, ...; default AWS), `FLUX_BACKUPS_S3_PREFIX`
  (default `flux-backups/`); credentials and region from the usual `AWS_*` variables;
- or a second directory: `FLUX_BACKUPS_OFFSITE_DIR` (another disk or a mounted share).

Objects are keyed `<prefix><tenant_id>/<backup_id>.dump` and carry the artefact's sha256; a
copy counts only once the store reports the full size back (S3) or the copied file's sha256
matches (directory).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from flux.backups.artefacts import new_private_file, private_folder, sha256_file
from flux.errors import FluxError


class OffsiteFailed(FluxError):
    def __init__(self, message: str) -> None:
        super().__init__(
            message, code="offsite_failed", hint="check the offsite settings", status=502
        )


class OffsiteTarget(Protocol):
    def put(self, path: Path, key: str, sha256: str) -> str:
        """Copy `path` under `key`; the copy's URI."""


@dataclass(frozen=True)
class DirectoryTarget:
    root: Path

    def put(self, path: Path, key: str, sha256: str) -> str:
        target = self.root / key
        private_folder(target.parent)
        partial = target.with_name(f".{target.name}.partial")
        new_private_file(partial)
        shutil.copyfile(path, partial)
        if sha256_file(partial) != sha256:
            partial.unlink(missing_ok=True)
            raise OffsiteFailed(f"the offsite copy of {path.name} does not match its checksum")
        os.replace(partial, target)
        return target.as_uri()


@dataclass(frozen=True)
class S3Target:
    bucket: str
    prefix: str
    endpoint: str | None

    def put(self, path: Path, key: str, sha256: str) -> str:
        try:
            import boto3
            from botocore.exceptions import BotoCoreError, ClientError
        except ImportError as exc:
            raise OffsiteFailed("boto3 is not installed (pip install 'flux[s3]')") from exc
        client = boto3.client("s3", endpoint_url=self.endpoint)
        name = self.prefix + key
        try:
            client.upload_file(
                str(path), self.bucket, name, ExtraArgs={"Metadata": {"sha256": sha256}}
            )
            head = client.head_object(Bucket=self.bucket, Key=name)
        except (BotoCoreError, ClientError) as exc:
            raise OffsiteFailed(f"the offsite copy to s3://{self.bucket} failed: {exc}") from exc
        if head.get("ContentLength") != path.stat().st_size:
            raise OffsiteFailed(f"the offsite copy of {path.name} is incomplete")
        return f"s3://{self.bucket}/{name}"


def configured() -> OffsiteTarget | None:
    bucket = os.environ.get("FLUX_BACKUPS_S3_BUCKET")
    if bucket:
        return S3Target(
            bucket,
            os.environ.get("FLUX_BACKUPS_S3_PREFIX", "flux-backups/"),
            os.environ.get("FLUX_BACKUPS_S3_ENDPOINT") or None,
        )
    folder = os.environ.get("FLUX_BACKUPS_OFFSITE_DIR")
    return DirectoryTarget(Path(folder)) if folder else None
