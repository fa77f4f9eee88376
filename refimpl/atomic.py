"""Atomic file output: write to a temporary file beside the target, then rename it into place.

Every file the library writes (results, figures' JSON, checkpoints, downloads) goes through
:func:`atomic_file`, so an interrupted run never leaves a half-written file under the target's
name: the target is either the old file (or absent) or the complete new one.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_file", "write_atomic"]


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, *, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; on normal exit rename it to ``path``.

    The caller writes the temporary file (by name, e.g. ``np.savez(tmp, ...)``, or by opening it).
    On an exception (Ctrl-C included) the temporary file is removed and ``path`` is untouched.
    Creates the parent folder. The file gets the usual permissions of a new file (umask applied).

    Args:
        path: the final file name.
        suffix: the temporary file's suffix (``np.savez`` appends ``.npz`` unless it ends so).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    tmp = Path(tmp_name)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp creates 0600
        os.close(fd)
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` (``str`` as UTF-8) to ``path`` atomically (:func:`atomic_file`), synced to disk.

    Returns ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    with atomic_file(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
    return path
