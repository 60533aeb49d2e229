"""Loading MNIST from the standard IDX gzip files (never downloaded)."""

import gzip
import os
import struct
from pathlib import Path

import numpy as np

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
#: Environment variable naming the MNIST directory for benchmarks and slow tests.
MNIST_ENV = "SK_SOFTMAX_MNIST_DIR"


def default_mnist_dir():
    """Where MNIST is looked for when no directory is given.

    ``$SK_SOFTMAX_MNIST_DIR``, else ``../shared/data/mnist`` beside the checkout
    (relative to the directory holding the ``sk_softmax`` package) if it exists,
    else None. The demo, the benchmarks, the slow tests and the documentation's
    MNIST example all use it (after ``--data-dir``, where they take one).
    """
    env = os.environ.get(MNIST_ENV)
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent.parent / ".." / "shared" / "data" / "mnist"
    here = here.resolve()
    return here if here.is_dir() else None


def _read_idx(path):
    """The array an IDX ``.gz`` file holds; a file that is not one (not
    gzip, empty, truncated, another magic number, a size that disagrees
    with its header) is a ValueError naming it."""
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
        magic = struct.unpack(">I", data[:4])[0]
        if magic == 0x00000803:
            n, rows, cols = struct.unpack(">III", data[4:16])
            pixels = np.frombuffer(data, dtype=np.uint8, offset=16)
            return pixels.reshape(n, rows * cols)
        if magic == 0x00000801:
            (n,) = struct.unpack(">I", data[4:8])
            return np.frombuffer(data, dtype=np.uint8, offset=8).reshape(n)
    except (OSError, EOFError, struct.error, ValueError) as exc:
        kind = "too short" if isinstance(exc, struct.error) else type(exc).__name__
        raise ValueError(
            f"{path} is not a readable IDX .gz file ({kind}: {exc}); download "
            "the four MNIST files again."
        ) from exc
    raise ValueError(f"{path} is not an IDX image or label file (magic {magic:#x}).")


def load_mnist(data_dir, dtype=np.float32):
    """Load MNIST from ``data_dir`` holding the four standard IDX ``.gz`` files.

    Parameters
    ----------
    data_dir : str or Path
        Directory with ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
        ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz``.
    dtype : dtype, default=np.float32
        dtype of the pixels, scaled to [0, 1].

    Returns
    -------
    X_train, y_train, X_test, y_test : ndarray
        Images as rows of 784 pixels in [0, 1]; labels as int64 in 0..9.

    Raises
    ------
    FileNotFoundError
        When the directory or one of the files is missing (the message names it).
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"MNIST data directory not found: {data_dir}")
    paths = {key: data_dir / name for key, name in MNIST_FILES.items()}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"MNIST files missing: {', '.join(missing)}")
    scale = np.asarray(1.0 / 255.0, dtype=dtype)
    X_train = _read_idx(paths["train_images"]).astype(dtype) * scale
    X_test = _read_idx(paths["test_images"]).astype(dtype) * scale
    y_train = _read_idx(paths["train_labels"]).astype(np.int64)
    y_test = _read_idx(paths["test_labels"]).astype(np.int64)
    return X_train, y_train, X_test, y_test
