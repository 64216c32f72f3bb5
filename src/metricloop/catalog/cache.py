"""The validated catalog, cached by the content hash of the model files.

Parsing YAML with line tracking and validating every definition costs more than the rest of
a ``metricloop query`` call, and the files rarely change between calls. The key is the hash of
every model file's path and bytes plus the package and Python versions and the catalog code's
files, so any edit, added or removed file, upgrade or code change misses the cache and
re-parses. A cache file that cannot be read (cut short, corrupt, written by another version) is
ignored and rewritten; it is never trusted over the files. Only catalogs that validated are
cached: a broken file reports its errors on every call.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from metricloop.catalog import MODELS_DIR

if TYPE_CHECKING:  # hashing the files needs none of the catalog's code (the CLI's fast doors hash them)
    from metricloop.catalog.catalog import Catalog

CACHE_DIR = "cache"
_KEEP = 4  # older entries (other versions of the models) kept for a quick switch back


def model_files(root: Path, folder: str = MODELS_DIR) -> list[Path]:
    """The files :func:`load_catalog` reads, in the same order."""
    return sorted([*(root / folder).glob("**/*.yaml"), *(root / folder).glob("**/*.yml")])


def code_stamp(*folders: str) -> str:
    """Names, sizes and modification times of the package's modules in ``folders`` ("" = the top):
    code edited without a version bump (a developer's tree) must not reuse what older code cached."""
    package = Path(__file__).resolve().parent.parent
    parts = []
    for folder in folders:
        with os.scandir(package / folder) as entries:
            for e in entries:
                if e.name.endswith(".py"):
                    st = e.stat()
                    parts.append(f"{folder}/{e.name}:{st.st_size}:{st.st_mtime_ns}")
    return "\n".join(sorted(parts))


def content_key(root: Path, folder: str = MODELS_DIR) -> str:
    """Hash of the model files' names and bytes, the package and Python versions and the catalog's code."""
    from metricloop import __version__

    h = hashlib.sha256(f"metricloop {__version__} python {sys.version}\n{code_stamp('catalog')}\n".encode())
    for f in model_files(root, folder):
        data = f.read_bytes()
        h.update(f"{f.relative_to(root).as_posix()}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def load_cached_catalog(root: Path, cache_dir: Path, *, folder: str = MODELS_DIR) -> Catalog:
    """:func:`load_catalog` through a cache in ``cache_dir`` (``<project>/.metricloop/cache``)."""
    import pickle

    from metricloop.catalog.catalog import Catalog, load_catalog

    key = content_key(root, folder)
    path = cache_dir / f"catalog-{key[:32]}.pickle"
    try:
        with path.open("rb") as fh:
            cached = pickle.load(fh)  # the project's own state folder, written below
        if isinstance(cached, tuple) and len(cached) == 2 and cached[0] == key and isinstance(cached[1], Catalog):
            return cached[1]
    except Exception:  # missing, cut short, corrupt or from another version: the files decide
        pass
    catalog = load_catalog(root, folder=folder)
    _store(path, (key, catalog))
    return catalog


def _store(path: Path, value: object) -> None:
    """Write atomically (another process may be reading); a read-only folder just skips caching."""
    import pickle
    import tempfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".catalog-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        old = sorted(path.parent.glob("catalog-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
        for stale in old[_KEEP:]:
            stale.unlink(missing_ok=True)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        return
