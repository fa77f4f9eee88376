"""Downloads on request: fetched through a temporary file, checksum-verified, renamed into place.

Nothing is downloaded unless a loader is called with ``download=True`` (or ``refimpl data get``).
"""
from __future__ import annotations

import hashlib
import http.client
import urllib.request
import warnings
from pathlib import Path

from ..atomic import atomic_file
from .datasets import DatasetNotFoundError, cache_dir, how_to


# Checksums of the files as served, (algorithm, hex digest). MNIST: the SHA-256 sums used by
# TensorFlow/torchvision. Fashion-MNIST and KMNIST publish MD5 sums only (Fashion-MNIST's
# README, torchvision's KMNIST); the .gz files of Debian's dataset-fashion-mnist are
# recompressed, so their hashes differ from the canonical downloads and are not used here.
IDX_DOWNLOADS: dict[str, tuple[str, dict[str, tuple[str, str] | None]]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        {
            "train-images-idx3-ubyte.gz": ("sha256", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
            "train-labels-idx1-ubyte.gz": ("sha256", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
            "t10k-images-idx3-ubyte.gz": ("sha256", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
            "t10k-labels-idx1-ubyte.gz": ("sha256", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
        },
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        {
            "train-images-idx3-ubyte.gz": ("md5", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            "train-labels-idx1-ubyte.gz": ("md5", "25c81989df183df01b3e8a0aad5dffbe"),
            "t10k-images-idx3-ubyte.gz": ("md5", "bef4ecab320f06d8554ea6380940ec79"),
            "t10k-labels-idx1-ubyte.gz": ("md5", "bb300cfdad3c16e7a12a480ee83cd310"),
        },
    ),
    "kmnist": (
        "http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
        {
            "train-images-idx3-ubyte.gz": ("md5", "bdb82020997e1d708af4cf47b453dcf7"),
            "train-labels-idx1-ubyte.gz": ("md5", "e144d726b3acfaa3e44228e80efcd344"),
            "t10k-images-idx3-ubyte.gz": ("md5", "5c965bf0a639b31b8f53240b1b52f4d7"),
            "t10k-labels-idx1-ubyte.gz": ("md5", "7320c461ea6c1c855c0b718fb2a4b134"),
        },
    ),
}


def download(url: str, dest: Path, checksum: tuple[str, str] | None, name: str) -> None:
    """Fetch ``url`` to ``dest`` through a temporary file, verify it, then rename it into place.

    Nothing is left at ``dest`` (or beside it) unless the whole file arrived and matched.
    Raises DatasetNotFoundError when the transfer fails, ValueError on a checksum mismatch.
    """
    digest = hashlib.new(checksum[0] if checksum else "sha256")
    with atomic_file(dest, suffix=".part") as tmp:
        with open(tmp, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=60) as response:
                    while chunk := response.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
            except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError is an OSError
                raise DatasetNotFoundError(
                    f"Download of {url} failed (no network?): {exc}\n"
                    f"To obtain {name!r} without a download: {how_to(name)}",
                    [dest.parent],
                ) from exc
        if checksum is None:
            warnings.warn(
                f"no checksum is recorded for {url}; the download was not verified",
                stacklevel=3,
            )
        elif digest.hexdigest() != checksum[1]:
            raise ValueError(
                f"Download of {url} is corrupt: {checksum[0]} {digest.hexdigest()}, "
                f"expected {checksum[1]}; the file was not kept"
            )


def download_idx(name: str) -> Path:
    """Download the four IDX files of ``name`` into ``~/.cache/refimpl/<name>``."""
    base, files = IDX_DOWNLOADS[name]
    dest_dir = cache_dir(name)
    created = not dest_dir.exists()
    try:
        for filename, checksum in files.items():
            if not (dest_dir / filename).exists():
                download(base + filename, dest_dir / filename, checksum, name)
    finally:
        if created:  # remove a directory we created and left empty
            try:
                dest_dir.rmdir()
            except OSError:
                pass
    return dest_dir


