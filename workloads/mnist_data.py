"""MNIST from gzipped IDX files, checksummed, never downloaded.

The project ships the real data set as package data so the default job runs
offline anywhere.  A user may point at another directory holding the four
standard files, gzipped (`*.gz`) or not.  Every file is checked before it is
parsed, so a truncated or substituted file is an error rather than a silently
different benchmark: a gzipped file must match the SHA-256 of the shipped
copy, or its uncompressed content must match the SHA-256 of the original IDX
content (`SHA256SUMS.idx`, which any correct compression of MNIST satisfies).
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
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


def _read_sums(name: str) -> dict[str, str]:
    sums = {}
    for line in (SHIPPED_DIR / name).read_text().splitlines():
        if line.strip():
            digest, file_name = line.split()
            sums[file_name.lstrip("*")] = digest
    return sums


def expected_checksums() -> dict[str, str]:
    """SHA-256 of the shipped gzipped files, by file name."""
    return _read_sums("SHA256SUMS")


def expected_content_checksums() -> dict[str, str]:
    """SHA-256 of the uncompressed IDX content, by uncompressed file name."""
    return _read_sums("SHA256SUMS.idx")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_verified(directory: Path, gz_name: str) -> tuple[bytes, Path]:
    """The uncompressed, verified content of one MNIST file in `directory`."""
    idx_name = gz_name[: -len(".gz")]
    gz_sum = expected_checksums()[gz_name]
    content_sum = expected_content_checksums()[idx_name]
    gz_path, idx_path = directory / gz_name, directory / idx_name
    if gz_path.is_file():
        packed = gz_path.read_bytes()
        if _sha256(packed) == gz_sum:
            return gzip.decompress(packed), gz_path
        try:
            raw = gzip.decompress(packed)
        except (OSError, EOFError, zlib.error):
            raw = None
        if raw is not None and _sha256(raw) == content_sum:
            return raw, gz_path
        raise DatasetError(
            f"MNIST file corrupt: {gz_path} has sha256 {_sha256(packed)}; expected {gz_sum} "
            f"(or uncompressed content with sha256 {content_sum})"
        )
    if idx_path.is_file():
        raw = idx_path.read_bytes()
        if _sha256(raw) != content_sum:
            raise DatasetError(
                f"MNIST file corrupt: {idx_path} has sha256 {_sha256(raw)}, expected {content_sum}"
            )
        return raw, idx_path
    raise DatasetError(
        f"MNIST file missing: {gz_path} (expected sha256 {gz_sum}) or {idx_path} "
        f"(expected sha256 {content_sum}); a data directory must hold "
        f"{', '.join(FILES.values())} (gzipped or not)"
    )


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
    arrays = {}
    if not directory.is_dir():
        raise DatasetError(f"MNIST data directory not found: {directory}")
    for role, name in FILES.items():
        raw, path = _read_verified(directory, name)
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
