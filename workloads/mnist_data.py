"""MNIST from gzipped IDX files, checksummed, never downloaded.

The project ships the real data set as package data so the default job runs
offline anywhere.  A user may point at another directory holding the same four
standard file names; every file is checked against the SHA-256 sums shipped
with the project before it is parsed, so a truncated or substituted file is an
error rather than a silently different benchmark.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workloads.errors import DatasetError

SHIPPED_DIR = Path(__file__).resolve().parent / "data" / "mnist"

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

# Mean and standard deviation of the training pixels on [0, 1]; the shipped
# README lists them as a check of genuineness, and they normalise the inputs.
PIXEL_MEAN = 0.1307
PIXEL_STD = 0.3081


@dataclass(frozen=True)
class Split:
    """Images as uint8 (N, 28, 28) and labels as uint8 (N,)."""

    images: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class Mnist:
    train: Split
    test: Split
    source: str


def expected_checksums() -> dict[str, str]:
    """The SHA-256 sums shipped with the project, by file name."""
    sums = {}
    for line in (SHIPPED_DIR / "SHA256SUMS").read_text().splitlines():
        if line.strip():
            digest, name = line.split()
            sums[name.lstrip("*")] = digest
    return sums


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _parse_idx(raw: bytes, name: str, ndim: int) -> np.ndarray:
    """Parse an IDX file of unsigned bytes (type 0x08) with `ndim` dimensions."""
    if len(raw) < 4 + 4 * ndim or raw[0:2] != b"\x00\x00" or raw[2] != 0x08 or raw[3] != ndim:
        raise DatasetError(f"{name}: not an IDX file of uint8 with {ndim} dimension(s)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    count = int(np.prod(shape))
    if len(raw) - offset != count:
        raise DatasetError(
            f"{name}: header says {shape} ({count} bytes) but the file holds {len(raw) - offset}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)


def load_mnist(data_dir: str | Path | None = None) -> Mnist:
    """Load and verify MNIST from `data_dir` (default: the copy shipped in the package)."""
    directory = Path(data_dir) if data_dir is not None else SHIPPED_DIR
    sums = expected_checksums()
    arrays = {}
    for role, name in FILES.items():
        path = directory / name
        if not path.is_file():
            raise DatasetError(
                f"MNIST file missing: {path} (expected sha256 {sums[name]}); "
                f"a data directory must hold {', '.join(FILES.values())}"
            )
        digest = _sha256(path)
        if digest != sums[name]:
            raise DatasetError(
                f"MNIST file corrupt: {path} has sha256 {digest}, expected {sums[name]}"
            )
        try:
            raw = gzip.decompress(path.read_bytes())
        except (OSError, EOFError) as exc:  # pragma: no cover - checksum catches this first
            raise DatasetError(f"MNIST file unreadable: {path}: {exc}") from exc
        arrays[role] = _parse_idx(raw, str(path), 3 if role.endswith("images") else 1)
    for split in ("train", "test"):
        n_img, n_lab = len(arrays[f"{split}_images"]), len(arrays[f"{split}_labels"])
        if n_img != n_lab:
            raise DatasetError(f"MNIST {split}: {n_img} images but {n_lab} labels")
    return Mnist(
        train=Split(arrays["train_images"], arrays["train_labels"]),
        test=Split(arrays["test_images"], arrays["test_labels"]),
        source=str(directory),
    )


def normalise(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) to float32 (N, 28, 28, 1), standardised by the training statistics."""
    x = images.astype(np.float32) / 255.0
    x = (x - PIXEL_MEAN) / PIXEL_STD
    return x[..., None]
