"""An S3 (or S3-compatible: endpoint_url) remote through boto3: objects at s3://bucket/prefix/files/<2>/<rest>.

Uploads go straight to the final key: an S3 PUT is atomic (readers see the old object, the whole new one,
or nothing, never part of it), and a multipart upload becomes visible only when it is completed, so no
temporary key plus copy is needed for "no partial object visible".
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pivot_ci.errors import ConfigError
from pivot_ci.remote import base

MAX_ATTEMPTS = 4  # botocore "standard" retries: transient errors and throttling, exponential backoff + jitter
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 60
LARGE_OBJECT = 64 << 20  # above this, downloads use parallel ranged GETs
MULTIPART_THRESHOLD = 8 << 20  # s3transfer's default: above it, uploads are multipart and parallel
CHUNK = 1 << 20
DELETE_BATCH = 1000
_MISSING_CODES = ("404", "NoSuchKey", "NotFound")


def split_url(url: str) -> tuple[str, str]:
    """(bucket, key prefix ending in '/' or empty) of `s3://bucket/prefix`."""
    rest = url.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


def _cause(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        err = response["Error"]
        return f"{err.get('Code', '?')}: {err.get('Message') or 'no message'}"
    return str(exc) or type(exc).__name__


class S3Remote:
    def __init__(self, spec: base.RemoteSpec, jobs: int) -> None:
        try:
            import boto3
            import boto3.exceptions
            import boto3.s3.transfer
            import botocore.config
            import botocore.exceptions
        except ImportError:
            raise ConfigError(f"remote '{spec.name}' ({spec.url}) needs boto3",
                              hint="pip install 'pivot-ci[s3]'") from None
        self.spec = spec
        self.bucket, self.prefix = split_url(spec.url)
        self._errors: tuple[type[BaseException], ...] = (
            botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, boto3.exceptions.Boto3Error)
        self._client_error = botocore.exceptions.ClientError
        # AWS_MAX_ATTEMPTS / AWS_RETRY_MODE, when set, win over our default (botocore reads them itself)
        retries: dict[str, object] = {"mode": os.environ.get("AWS_RETRY_MODE") or "standard"}
        if not os.environ.get("AWS_MAX_ATTEMPTS"):
            retries["max_attempts"] = MAX_ATTEMPTS
        config = botocore.config.Config(
            retries=retries, connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
            max_pool_connections=max(10, jobs + 4))
        try:
            session = boto3.session.Session(
                aws_access_key_id=spec.access_key_id, aws_secret_access_key=spec.secret_access_key,
                aws_session_token=spec.session_token, profile_name=spec.profile, region_name=spec.region)
            self._client: Any = session.client("s3", endpoint_url=spec.endpoint_url, config=config)
        except self._errors as exc:
            raise spec.error("cannot connect", _cause(exc)) from None
        self._transfer = boto3.s3.transfer.TransferConfig(multipart_threshold=MULTIPART_THRESHOLD,
                                                          max_concurrency=max(1, min(jobs, 10)))

    def _key(self, key: str, namespace: base.Namespace = base.FILES) -> str:
        return self.prefix + base.rel_name(base.check_key(self.spec, key, namespace), namespace)

    def _is_missing(self, exc: BaseException) -> bool:
        return isinstance(exc, self._client_error) and _cause(exc).split(":")[0] in _MISSING_CODES

    def _fail(self, what: str, exc: BaseException) -> Exception:
        cause = _cause(exc)
        hint = None
        if "NoSuchBucket" in cause:
            hint = f"create the bucket '{self.bucket}', or fix the URL (`pivot remote add --force`)"
        elif "Credentials" in type(exc).__name__ or "AccessDenied" in cause or "InvalidAccessKeyId" in cause:
            hint = "set credentials for this remote in the per-user config file (see docs/remotes.md)"
        return self.spec.error(what, cause, hint)

    def _head(self, key: str, namespace: base.Namespace = base.FILES) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=self._key(key, namespace))
        except self._errors as exc:
            if self._is_missing(exc):
                return False
            raise self._fail(f"cannot check object {key}", exc) from None
        return True

    def list_prefix(self, two_hex: str, namespace: base.Namespace = base.FILES) -> set[str]:
        """Every key under files/<two_hex>/ (or runs/...), each validated before it is used."""
        found: set[str] = set()
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=f"{self.prefix}{namespace.value}/{two_hex}/")
            for page in pages:
                for item in page.get("Contents", ()):
                    found.add(base.key_of_listed(self.spec, str(item["Key"])[len(self.prefix):], namespace))
        except self._errors as exc:
            raise self._fail("cannot list objects", exc) from None
        return found

    def has_many(self, keys: Collection[str], jobs: int, namespace: base.Namespace = base.FILES) -> set[str]:
        wanted = [base.check_key(self.spec, k, namespace) for k in keys]
        if not wanted:
            return set()
        prefixes = sorted({k[:2] for k in wanted})
        with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="pivot-s3") as pool:
            # Listing a prefix answers for all of its keys in one request (1,000 per page); HEAD wins
            # when the keys are few and spread out.
            if len(wanted) > 2 * len(prefixes):
                listed: set[str] = set().union(*pool.map(lambda p: self.list_prefix(p, namespace), prefixes))
                return {k for k in wanted if k in listed}
            found = pool.map(lambda k: self._head(k, namespace), wanted)
            return {k for k, ok in zip(wanted, found, strict=True) if ok}

    def prepare_upload(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except self._errors as exc:
            if self._is_missing(exc):
                raise self.spec.error("bucket does not exist", self.bucket,
                                      hint=f"create the bucket '{self.bucket}' or fix the URL") from None
            raise self._fail("cannot reach the bucket", exc) from None

    def upload(self, key: str, src: Path, namespace: base.Namespace = base.FILES) -> None:
        # Small objects: one PUT (s3transfer's manager costs more than the request). Large ones: s3transfer's
        # parallel multipart upload, which is committed (made visible) only by its final request.
        try:
            if src.stat().st_size > MULTIPART_THRESHOLD:
                self._client.upload_file(str(src), self.bucket, self._key(key, namespace), Config=self._transfer)
                return
            with open(src, "rb") as f:
                self._client.put_object(Bucket=self.bucket, Key=self._key(key, namespace), Body=f)
        except self._errors as exc:
            raise self._fail(f"cannot upload object {key}", exc) from None

    def download(self, key: str, dest: Path, namespace: base.Namespace = base.FILES) -> bool:
        # One GET streamed to disk: most objects are small, and s3transfer's download_file would first
        # spend a HEAD on each. Large objects go through s3transfer's parallel ranged GETs instead.
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self._key(key, namespace))
            body = response["Body"]
            try:
                if int(response.get("ContentLength", 0)) > LARGE_OBJECT:
                    body.close()
                    self._client.download_file(self.bucket, self._key(key, namespace), str(dest),
                                               Config=self._transfer)
                    return True
                with open(dest, "wb") as f:
                    for chunk in body.iter_chunks(CHUNK):
                        f.write(chunk)
            finally:
                body.close()
        except self._errors as exc:
            if self._is_missing(exc):
                return False
            raise self._fail(f"cannot download object {key}", exc) from None
        return True

    def list_objects(self, jobs: int) -> dict[str, base.RemoteObject]:
        out: dict[str, base.RemoteObject] = {}
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=f"{self.prefix}{base.OBJECTS}/")
            for page in pages:
                for item in page.get("Contents", ()):
                    key = base.key_of_listed(self.spec, str(item["Key"])[len(self.prefix):])
                    out[key] = base.RemoteObject(int(item["Size"]), item["LastModified"].timestamp())
        except self._errors as exc:
            raise self._fail("cannot list objects", exc) from None
        return out

    def delete(self, keys: Sequence[str], jobs: int) -> None:
        # DeleteObjects takes up to 1,000 keys; batches go in order, so manifests (first) go before their files
        for i in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": self._key(k)} for k in keys[i:i + DELETE_BATCH]]
            try:
                response = self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            except self._errors as exc:
                raise self._fail("cannot delete objects", exc) from None
            failed = response.get("Errors") or []
            if failed:
                first = failed[0]
                raise self.spec.error(f"cannot delete {len(failed)} objects",
                                      f"{first.get('Key')}: {first.get('Code')}: {first.get('Message')}")

    def close(self) -> None:
        self._client.close()
