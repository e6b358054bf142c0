"""The Remote protocol: content-addressed objects at files/<2 hex>/<rest>, run-cache entries at runs/..., keys."""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Protocol

from pivot_ci.errors import RemoteError

# An object key is a content hash (a tree's ends in .dir): never a path. Everything a remote hands back is
# checked against this before it is joined to a directory, so a hostile listing cannot name `../x`.
KEY_RE = re.compile(r"^[0-9a-f]{3,128}(\.dir)?\Z")
RUN_KEY_RE = re.compile(r"^[0-9a-f]{32}\Z")
OBJECTS = "files"


class Namespace(enum.Enum):
    """The two stores of a remote, each under its own top-level directory (prefix)."""

    FILES = OBJECTS  # cache objects, keyed by their content's hash
    RUNS = "runs"  # run-cache entries, keyed by the hash of a stage's inputs

    @property
    def key_re(self) -> re.Pattern[str]:
        return KEY_RE if self is Namespace.FILES else RUN_KEY_RE

    @property
    def noun(self) -> str:
        return "object" if self is Namespace.FILES else "run-cache"


FILES = Namespace.FILES

# (objects done, objects in all, bytes done): called from transfer threads, never concurrently.
Progress = Callable[[int, int, int], None]


@dataclasses.dataclass(frozen=True, slots=True)
class RemoteSpec:
    """One configured remote: the project's settings merged with the user's (credentials only there)."""

    name: str
    url: str
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    access_key_id: str | None = dataclasses.field(default=None, repr=False)
    secret_access_key: str | None = dataclasses.field(default=None, repr=False)
    session_token: str | None = dataclasses.field(default=None, repr=False)

    def error(self, what: str, cause: object, hint: str | None = None) -> RemoteError:
        """`remote 'origin' (s3://b/p): <what>: <cause>`, exit 1."""
        return RemoteError(f"remote '{self.name}' ({self.url}): {what}: {cause}",
                           hint=hint or "check that the remote is reachable, then run the command again "
                                        "(objects already transferred are kept)")

    def bad_content(self, what: str, cause: object, hint: str) -> BadContent:
        """The remote answered, with something that is not what its key names: about one object, not the remote."""
        return BadContent(f"remote '{self.name}' ({self.url}): {what}: {cause}", hint=hint)


class BadContent(RemoteError):
    """A corrupt object or run-cache entry on a reachable remote."""


def is_key(key: str, namespace: Namespace = FILES) -> bool:
    return namespace.key_re.match(key) is not None


def check_key(spec: RemoteSpec, key: str, namespace: Namespace = FILES) -> str:
    """`key` itself when it is a valid key of `namespace`; RemoteError naming the remote otherwise."""
    if not is_key(key, namespace):
        what = ("a content hash (hex digits, optionally `.dir`)" if namespace is FILES
                else "the 32-hex-digit hash of a stage's inputs")
        raise spec.error(f"refused {namespace.noun} key", repr(key),
                         hint=f"a key there is {what}; the remote holds something pivot-ci did not write")
    return key


def rel_name(key: str, namespace: Namespace = FILES) -> str:
    """`files/ab/cdef...` for key `abcdef...` (the same layout as the local cache), `runs/ab/...` for an entry."""
    return f"{namespace.value}/{key[:2]}/{key[2:]}"


def key_of_listed(spec: RemoteSpec, name: str, namespace: Namespace = FILES) -> str:
    """The key of a listed name `files/ab/cdef...` (relative to the remote's root); refused unless it is
    exactly that shape, so no listing can make pivot-ci read or write elsewhere."""
    parts = name.split("/")
    if len(parts) != 3 or parts[0] != namespace.value or len(parts[1]) != 2:
        raise spec.error(f"refused {namespace.noun} key in listing", repr(name),
                         hint=f"the remote holds something pivot-ci did not write under {namespace.value}/; "
                              "remove it")
    return check_key(spec, parts[1] + parts[2], namespace)


@dataclasses.dataclass(frozen=True, slots=True)
class RemoteObject:
    """One listed object: its size and when it was last written (gc's grace period)."""

    size: int
    mtime: float


class Remote(Protocol):
    """What push and fetch need; implementations raise RemoteError (naming the remote) and nothing else."""

    spec: RemoteSpec

    def has_many(self, keys: Collection[str], jobs: int, namespace: Namespace = FILES) -> set[str]:
        """The subset of `keys` present on the remote, found in bulk (no download)."""
        ...

    def prepare_upload(self) -> None:
        """Make sure objects can be written (create the directory, check the bucket)."""
        ...

    def upload(self, key: str, src: Path, namespace: Namespace = FILES) -> None:
        """Store `src` as object `key`; atomically: the object is complete or absent, never partial."""
        ...

    def download(self, key: str, dest: Path, namespace: Namespace = FILES) -> bool:
        """Write object `key` to the new file `dest`; False when the remote does not have it."""
        ...

    def list_objects(self, jobs: int) -> dict[str, RemoteObject]:
        """Every object on the remote (gc --remote), each name validated as an object key."""
        ...

    def delete(self, keys: Sequence[str], jobs: int) -> None:
        """Delete objects in the order given (gc puts manifests first); an absent one is not an error."""
        ...

    def close(self) -> None:
        ...
