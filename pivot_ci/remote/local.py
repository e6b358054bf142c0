"""A remote that is a directory (a local path, a network mount): objects at <root>/files/<2 hex>/<rest>."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Collection, Sequence
from pathlib import Path

from pivot_ci.remote import base
from pivot_ci.state import fsutil


def url_path(url: str, project_root: Path) -> Path:
    """The directory a local URL names: `file:///abs`, an absolute path, or a path relative to the project."""
    raw = url.removeprefix("file://")
    path = Path(os.path.expanduser(raw))
    return path if path.is_absolute() else project_root / path


def _discard(tmp: Path) -> None:
    with contextlib.suppress(OSError):
        tmp.unlink()


class LocalRemote:
    def __init__(self, spec: base.RemoteSpec, project_root: Path) -> None:
        self.spec = spec
        self.root = url_path(spec.url, project_root)

    def _path(self, key: str, namespace: base.Namespace = base.FILES) -> Path:
        return self.root / base.rel_name(base.check_key(self.spec, key, namespace), namespace)

    def _require_root(self) -> None:
        if not self.root.is_dir():
            raise self.spec.error("not a directory", self.root,
                                  hint="create it or mount it, or fix the URL (`pivot remote add --force`)")

    def _not_created(self) -> bool:
        """Not created yet, in a directory that exists: the first push creates it; until then it holds nothing."""
        return not self.root.exists() and self.root.parent.is_dir()

    def has_many(self, keys: Collection[str], jobs: int, namespace: base.Namespace = base.FILES) -> set[str]:
        if self._not_created():
            return set()
        self._require_root()
        try:
            return {k for k in keys if self._path(k, namespace).is_file()}
        except OSError as exc:
            raise self.spec.error("cannot check objects", exc) from None

    def prepare_upload(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self.spec.error("cannot create the remote directory", exc) from None
        self._require_root()

    def _inside(self, directory: Path) -> None:
        """Refuse to write in `directory` unless it really is the remote's (a link in the remote leads astray)."""
        real = os.path.realpath(directory)
        root = os.path.realpath(self.root)
        if real != os.path.join(root, os.path.relpath(directory, self.root)):
            raise self.spec.error("refused to write", f"{directory} is a symbolic link to {real}",
                                  hint="pivot writes objects only in the remote's own directories: remove the link")

    def upload(self, key: str, src: Path, namespace: base.Namespace = base.FILES) -> None:
        final = self._path(key, namespace)
        # A hidden temporary sibling, then a rename: readers see the whole object or none of it.
        tmp = fsutil.temp_path(final)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            self._inside(final.parent)
            shutil.copyfile(src, tmp)
            os.chmod(tmp, 0o444)
            os.replace(tmp, final)
        except OSError as exc:
            _discard(tmp)
            raise self.spec.error(f"cannot upload object {key}", exc) from None
        except BaseException:
            _discard(tmp)
            raise

    def download(self, key: str, dest: Path, namespace: base.Namespace = base.FILES) -> bool:
        src = self._path(key, namespace)
        if not src.is_file():
            if not self._not_created():
                self._require_root()
            return False
        try:
            shutil.copyfile(src, dest)
        except OSError as exc:
            raise self.spec.error(f"cannot download object {key}", exc) from None
        return True

    def list_objects(self, jobs: int) -> dict[str, base.RemoteObject]:
        files = self.root / base.OBJECTS
        if not self.root.exists() and self.root.parent.is_dir():
            return {}
        self._require_root()
        out: dict[str, base.RemoteObject] = {}
        try:
            if not files.is_dir():
                return out
            for top in sorted(os.listdir(files)):
                for name in sorted(os.listdir(files / top)):
                    if name.startswith("."):
                        continue  # an upload in progress (temporary name)
                    key = base.key_of_listed(self.spec, f"{base.OBJECTS}/{top}/{name}")
                    st = os.stat(files / top / name)
                    out[key] = base.RemoteObject(st.st_size, max(st.st_mtime, st.st_ctime))
        except OSError as exc:
            raise self.spec.error("cannot list objects", exc) from None
        return out

    def delete(self, keys: Sequence[str], jobs: int) -> None:
        for key in keys:
            try:
                self._path(key).unlink(missing_ok=True)
            except OSError as exc:
                raise self.spec.error(f"cannot delete object {key}", exc) from None

    def close(self) -> None:
        pass
