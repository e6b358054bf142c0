"""A Remote for a configured remote, by URL scheme."""

from __future__ import annotations

from pathlib import Path

from pivot_ci.remote import base, local


def connect(spec: base.RemoteSpec, project_root: Path, jobs: int) -> base.Remote:
    """The remote `spec` names: S3 for s3:// (imports boto3 only then), a directory otherwise."""
    if spec.url.startswith("s3://"):
        from pivot_ci.remote import s3

        return s3.S3Remote(spec, jobs)
    return local.LocalRemote(spec, project_root)
