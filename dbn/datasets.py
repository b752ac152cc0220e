"""Data set loaders returning ``(X, y)`` pairs ready for RBM / DBN training.

Three data sets are available:

``digits``
    scikit-learn's 8x8 handwritten digits (1797 samples, 64 features). It is
    shipped with scikit-learn, needs no download, and is the project's default
    data set (:func:`load_digits`).
``mnist``
    The 28x28 MNIST handwritten digits (60000 train / 10000 test samples, 784
    features), read from the four standard IDX files (:func:`load_mnist`).
``fashion-mnist``
    Fashion-MNIST, same layout as MNIST (:func:`load_fashion_mnist`). It is held
    out for evaluation only.

The IDX loaders look for their files, gzip-compressed (``*.gz``, preferred) or
raw, in the first of these directories that holds them:

1. the ``path`` argument, if given (then it is the only directory tried);
2. ``$DBN_DATA/<name>``, if the environment variable ``DBN_DATA`` is set;
3. ``data/<name>`` relative to the current working directory,

where ``<name>`` is ``mnist`` or ``fashion-mnist``. Every ``.gz`` file whose
name is in the checksum table is md5-verified before it is read, and every IDX
header is validated. With ``download=True`` missing files are fetched from
public mirrors into the first directory of that list, written atomically and
md5-verified.

All loaders return ``X`` as an ``(n_samples, n_features)`` array of grey levels
scaled to ``[0, 1]`` (optionally binarized) and ``y`` as ``int64`` labels.
:func:`load` dispatches on a data set name, for command-line ``--data`` options.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import numbers
import os
import struct
import tempfile
import urllib.request
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FASHION_MNIST_MD5",
    "FASHION_MNIST_MIRRORS",
    "MNIST_MD5",
    "MNIST_MIRRORS",
    "load",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "read_idx",
]

#: Canonical md5 digests of the four gzip-compressed MNIST files.
MNIST_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

#: Canonical md5 digests of the four gzip-compressed Fashion-MNIST files.
FASHION_MNIST_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}

#: Public MNIST mirrors, tried in order by ``load_mnist(download=True)``.
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

#: Public Fashion-MNIST mirrors, tried in order by ``load_fashion_mnist(download=True)``.
FASHION_MNIST_MIRRORS: tuple[str, ...] = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)

_SPLIT_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_BINARIZE_MODES = (None, "threshold", "stochastic")
_IDX_UINT8 = 0x08
_CHUNK_SIZE = 1 << 20
_DOWNLOAD_TIMEOUT_S = 60.0
_USER_AGENT = "dbn-datasets/1.0 (python urllib)"

PathLike = str | os.PathLike[str]
RandomState = int | np.random.Generator | None


@dataclass(frozen=True)
class _IdxDataset:
    """Description of an IDX data set laid out like MNIST."""

    title: str
    directory: str
    checksums: Mapping[str, str]
    mirrors: tuple[str, ...]


_MNIST = _IdxDataset("MNIST", "mnist", MNIST_MD5, MNIST_MIRRORS)
_FASHION_MNIST = _IdxDataset(
    "Fashion-MNIST", "fashion-mnist", FASHION_MNIST_MD5, FASHION_MNIST_MIRRORS
)


# --------------------------------------------------------------------------- #
# scikit-learn digits
# --------------------------------------------------------------------------- #
def load_digits(*, return_X_y: bool = True) -> Any:
    """Load scikit-learn's 8x8 digits, scaled to ``[0, 1]``.

    This is the project's embedded default data set: it ships with
    scikit-learn and needs no download.

    Parameters
    ----------
    return_X_y : bool, default=True
        Return ``(X, y)``. If False, return scikit-learn's ``Bunch`` with its
        ``data`` and ``target`` replaced by the scaled ``X`` and ``y``.

    Returns
    -------
    X : numpy.ndarray of shape (1797, 64), dtype float32
        Grey levels divided by 16, in ``[0, 1]``.
    y : numpy.ndarray of shape (1797,), dtype int64
        Digit labels 0-9.
    """
    if not isinstance(return_X_y, (bool, np.bool_)):
        raise TypeError(f"return_X_y must be True or False, got {return_X_y!r}")
    import sklearn.datasets  # imported where used, as in dbn.validation

    bunch = sklearn.datasets.load_digits()
    X = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    if return_X_y:
        return X, y
    bunch.data, bunch.target = X, y
    return bunch


# --------------------------------------------------------------------------- #
# IDX files
# --------------------------------------------------------------------------- #
def read_idx(path: PathLike, *, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file of unsigned bytes, as used by MNIST.

    The format is a big-endian int32 magic number ``0x000008DD`` (``08`` for
    unsigned bytes, ``DD`` the number of dimensions), then each dimension size
    as a big-endian int32, then the data in C order. Files whose name ends in
    ``.gz`` are decompressed with gzip.

    Parameters
    ----------
    path : str or os.PathLike
        The IDX file, raw or gzip-compressed (``.gz``).
    ndim : int, optional
        Required number of dimensions (3 for images, 1 for labels). Any
        number is accepted if None.

    Returns
    -------
    numpy.ndarray of dtype uint8
        The array, with the shape given by the header.

    Raises
    ------
    TypeError
        If ``path`` is not a path or ``ndim`` not an int.
    FileNotFoundError
        If the file does not exist.
    ValueError
        If ``ndim`` is below 1, the file is not valid gzip, the magic number is wrong, the number
        of dimensions differs from ``ndim``, or the payload length differs
        from the product of the dimensions (e.g. a truncated file).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike (an IDX file), got {type(path).__name__}")
    if ndim is not None and (isinstance(ndim, bool) or not isinstance(ndim, numbers.Integral)):
        raise TypeError(f"ndim must be None or a positive int, got {ndim!r}")
    if ndim is not None and ndim < 1:
        raise ValueError(f"ndim must be None or a positive int, got {ndim!r}")
    path = Path(path)
    return _parse_idx(_read_bytes(path), str(path), ndim)


def _read_bytes(path: Path) -> bytes:
    """Return the (decompressed, if ``.gz``) content of ``path``."""
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as stream:
            return stream.read()
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(f"{path}: corrupt or truncated gzip file ({error})") from error


def _parse_idx(raw: bytes, name: str, ndim: int | None) -> np.ndarray:
    """Decode the IDX bytes ``raw`` read from the file ``name``."""
    if len(raw) < 4:
        raise ValueError(f"{name}: too short for an IDX header ({len(raw)} bytes)")
    (magic,) = struct.unpack_from(">I", raw, 0)
    type_code, file_ndim = (magic >> 8) & 0xFF, magic & 0xFF
    if magic >> 16 != 0 or type_code != _IDX_UINT8 or file_ndim == 0:
        raise ValueError(
            f"{name}: bad IDX magic number 0x{magic:08x} "
            f"(expected 0x000008NN: unsigned bytes in NN dimensions)"
        )
    if ndim is not None and file_ndim != ndim:
        raise ValueError(
            f"{name}: IDX magic number 0x{magic:08x} declares {file_ndim} "
            f"dimension(s), expected 0x{0x800 | ndim:08x} ({ndim} dimension(s))"
        )
    header_size = 4 + 4 * file_ndim
    if len(raw) < header_size:
        raise ValueError(f"{name}: truncated IDX header ({len(raw)} bytes)")
    shape = struct.unpack_from(f">{file_ndim}I", raw, 4)
    expected = int(np.prod(shape, dtype=np.int64))
    found = len(raw) - header_size
    if found != expected:
        state = "truncated" if found < expected else "has trailing bytes"
        raise ValueError(
            f"{name}: IDX file {state}: shape {shape} needs {expected} data "
            f"bytes, found {found}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape).copy()


# --------------------------------------------------------------------------- #
# Locating, verifying and downloading files
# --------------------------------------------------------------------------- #
def _candidate_dirs(path: PathLike | None, directory: str) -> list[Path]:
    """Directories searched for the files, in order of preference."""
    if path is not None:
        return [Path(path)]
    candidates = []
    root = os.environ.get("DBN_DATA")
    if root:
        candidates.append(Path(root) / directory)
    candidates.append(Path.cwd() / "data" / directory)
    return candidates


def _find_file(directory: Path, stem: str) -> Path | None:
    """Return ``stem.gz`` or ``stem`` in ``directory`` (gzip preferred), if any."""
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    return None


def _md5(path: Path) -> str:
    """Hex md5 digest of the file ``path``."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK_SIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify_md5(path: Path, checksums: Mapping[str, str]) -> None:
    """Raise ValueError if ``path`` is a ``.gz`` file with a wrong known md5."""
    expected = checksums.get(path.name)
    if path.suffix != ".gz" or expected is None:
        return
    found = _md5(path)
    if found != expected:
        raise ValueError(
            f"checksum mismatch for {path}: expected md5 {expected}, found "
            f"{found}; the file is corrupt or not the canonical one, delete it "
            f"and download it again"
        )


def _mirror_list(mirror: str | Sequence[str] | None, default: tuple[str, ...]) -> list[str]:
    """Normalise the ``mirror`` argument to a list of base URLs."""
    if mirror is None:
        return list(default)
    if isinstance(mirror, str):
        return [mirror]
    return list(mirror)


def _fetch(url: str, target: Path, expected_md5: str | None) -> None:
    """Download ``url`` to ``target`` atomically, checking its md5 if known.

    The data go to a temporary file next to ``target`` that is renamed onto
    ``target`` only once complete and verified; on any failure it is removed.
    """
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.md5(usedforsecurity=False)
        request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(
            request, timeout=_DOWNLOAD_TIMEOUT_S
        ) as response:
            for chunk in iter(lambda: response.read(_CHUNK_SIZE), b""):
                digest.update(chunk)
                out.write(chunk)
        found = digest.hexdigest()
        if expected_md5 is not None and found != expected_md5:
            raise ValueError(
                f"checksum mismatch for {target.name} downloaded from {url}: "
                f"expected md5 {expected_md5}, found {found}"
            )
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _download(
    filename: str, directory: Path, mirrors: list[str], checksums: Mapping[str, str]
) -> Path:
    """Fetch ``filename`` into ``directory`` from the first mirror that serves it.

    Network errors move on to the next mirror; a checksum mismatch raises.
    """
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / filename
    failures = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + filename
        try:
            _fetch(url, target, checksums.get(filename))
            return target
        except (OSError, http.client.HTTPException) as error:
            failures.append(f"{url}: {error}")
    raise OSError(f"could not download {filename}:\n  " + "\n  ".join(failures))


def _locate(
    dataset: _IdxDataset,
    stems: tuple[str, ...],
    path: PathLike | None,
    download: bool,
    mirror: str | Sequence[str] | None,
    checksums: Mapping[str, str],
) -> list[Path]:
    """Return the files for ``stems`` from the first directory holding them all.

    With ``download=True`` the missing files are fetched into the first
    candidate directory; otherwise FileNotFoundError lists what was tried.
    """
    candidates = _candidate_dirs(path, dataset.directory)
    missing_by_dir = {}
    for directory in candidates:
        found = [_find_file(directory, stem) for stem in stems]
        missing = [stem for stem, file in zip(stems, found, strict=True) if file is None]
        if not missing:
            return found
        missing_by_dir[directory] = missing
    if download:
        target = candidates[0]
        mirrors = _mirror_list(mirror, dataset.mirrors)
        return [
            _find_file(target, stem) or _download(f"{stem}.gz", target, mirrors, checksums)
            for stem in stems
        ]
    tried = "\n".join(
        f"  {directory} (missing: {', '.join(f'{stem}[.gz]' for stem in missing)})"
        for directory, missing in missing_by_dir.items()
    )
    raise FileNotFoundError(
        f"{dataset.title} files not found. Directories tried:\n{tried}\n"
        f"Pass download=True to fetch them, path= to point at a directory "
        f"holding them, or set $DBN_DATA to a directory containing "
        f"{dataset.directory}/."
    )


# --------------------------------------------------------------------------- #
# Post-processing
# --------------------------------------------------------------------------- #
def _check_options(split: str, binarize: str | None, dtype: np.dtype) -> None:
    """Validate the loader options before any file is touched."""
    if not isinstance(split, str) or split not in _SPLIT_FILES:
        raise ValueError(f"split must be one of {sorted(_SPLIT_FILES)}, got {split!r}")
    if not (binarize is None or isinstance(binarize, str)) or binarize not in _BINARIZE_MODES:
        raise ValueError(f"binarize must be one of {list(_BINARIZE_MODES)}, got {binarize!r}")
    if dtype.kind != "f" and dtype != np.uint8:
        raise ValueError(f"dtype must be a floating type or uint8, got {dtype}")


def _as_dtype(dtype: Any) -> np.dtype:
    """``dtype`` as a NumPy dtype, or a ``TypeError`` naming the argument."""
    try:
        return np.dtype(dtype)
    except TypeError as error:
        raise TypeError(f"dtype must be a NumPy data type (numpy.float32, numpy.uint8, ...), not {dtype!r}") from error


def _check_arguments(path: Any, download: Any, mirror: Any, random_state: Any, checksums: Any) -> None:
    """Validate the types of the loader arguments that name files, sources and randomness."""
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike (a directory), got {type(path).__name__}")
    if not isinstance(download, (bool, np.bool_)):
        raise TypeError(f"download must be True or False, got {download!r}")
    mirrors = [mirror] if isinstance(mirror, str) or mirror is None else mirror
    if not isinstance(mirrors, Sequence) or not all(item is None or isinstance(item, str) for item in mirrors):
        raise TypeError(f"mirror must be a base URL (str) or a sequence of them, got {mirror!r}")
    if isinstance(random_state, (bool, np.bool_)) or not (
        random_state is None or isinstance(random_state, (numbers.Integral, np.random.Generator))
    ):
        raise TypeError(f"random_state must be None, an int or a numpy.random.Generator, got {random_state!r}")
    if isinstance(random_state, numbers.Integral) and random_state < 0:
        raise ValueError(f"random_state must be >= 0, got {random_state!r}")
    if checksums is not None and not isinstance(checksums, Mapping):
        raise TypeError(f"checksums must be a mapping of file name to md5 digest, got {type(checksums).__name__}")


def _transform(
    raw: np.ndarray, binarize: str | None, dtype: np.dtype, random_state: RandomState
) -> np.ndarray:
    """Turn raw bytes into grey levels in ``[0, 1]`` or binary values, as ``dtype``.

    With ``dtype=uint8`` and no binarization the raw bytes are returned.
    """
    if binarize == "threshold":
        return (raw > 127).astype(dtype)  # raw / 255 > 0.5 exactly when raw >= 128
    if binarize == "stochastic":
        grey = raw.astype(np.float32) / np.float32(255)
        rng = np.random.default_rng(random_state)
        return (rng.random(raw.shape, dtype=np.float32) < grey).astype(dtype)
    if dtype == np.uint8:
        return raw
    grey = raw.astype(dtype)
    grey /= 255
    return grey


def _load_idx_dataset(
    dataset: _IdxDataset,
    path: PathLike | None,
    split: str,
    binarize: str | None,
    download: bool,
    mirror: str | Sequence[str] | None,
    dtype: Any,
    random_state: RandomState,
    checksums: Mapping[str, str] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Generic loader behind :func:`load_mnist` and :func:`load_fashion_mnist`."""
    _check_arguments(path, download, mirror, random_state, checksums)
    dtype = _as_dtype(dtype)
    _check_options(split, binarize, dtype)
    table = dataset.checksums if checksums is None else checksums
    image_file, label_file = _locate(dataset, _SPLIT_FILES[split], path, download, mirror, table)
    for file in (image_file, label_file):
        _verify_md5(file, table)
    images = read_idx(image_file, ndim=3)
    labels = read_idx(label_file, ndim=1)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{image_file} holds {images.shape[0]} images but {label_file} "
            f"holds {labels.shape[0]} labels"
        )
    X = _transform(images.reshape(images.shape[0], -1), binarize, dtype, random_state)
    return X, labels.astype(np.int64)


def load_mnist(
    path: PathLike | None = None,
    split: str = "train",
    binarize: str | None = None,
    *,
    download: bool = False,
    mirror: str | Sequence[str] | None = None,
    dtype: Any = np.float32,
    random_state: RandomState = None,
    checksums: Mapping[str, str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Load the MNIST handwritten digits from the standard IDX files.

    Reads ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte`` (60000
    samples) or ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``
    (10000 samples), each gzip-compressed (``.gz``, preferred) or raw.

    Parameters
    ----------
    path : str or os.PathLike, optional
        Directory holding the IDX files. If None, ``$DBN_DATA/mnist`` (when
        ``DBN_DATA`` is set) then ``data/mnist`` under the current working
        directory are tried, and the first holding the files is used.
    split : {"train", "test"}, default="train"
        Which files to read: ``train-*`` or ``t10k-*``.
    binarize : {None, "threshold", "stochastic"}, default=None
        None keeps grey levels; "threshold" maps grey levels above 0.5 to 1
        and the rest to 0; "stochastic" samples each pixel from a Bernoulli
        distribution whose probability is its grey level.
    download : bool, default=False
        Fetch the missing files of ``split`` (``*.gz``) from ``mirror`` into
        the first directory tried, atomically and md5-verified.
    mirror : str or sequence of str, optional
        Base URL(s) to download from, tried in order until one serves the
        file. Defaults to :data:`MNIST_MIRRORS`.
    dtype : data-type, default=numpy.float32
        Floating type of ``X``, or ``numpy.uint8`` for the raw bytes 0-255
        unscaled (compact storage; binarized values are then 0 and 1).
    random_state : int or numpy.random.Generator, optional
        Seed or generator for ``binarize="stochastic"``; unused otherwise.
    checksums : mapping of str to str, optional
        md5 digests by ``.gz`` file name, replacing :data:`MNIST_MD5` (meant
        for tests). A ``.gz`` file whose name is in the table is verified
        before it is read; raw files are not md5-checked.

    Returns
    -------
    X : numpy.ndarray of shape (n_samples, 784)
        Images flattened in row-major order, grey levels in ``[0, 1]``.
    y : numpy.ndarray of shape (n_samples,), dtype int64
        Digit labels 0-9.

    Raises
    ------
    TypeError
        For an argument of the wrong type (``path``, ``download``, ``mirror``, ``dtype``,
        ``random_state``, ``checksums``), before any file is touched.
    FileNotFoundError
        If the files are missing and ``download`` is False.
    ValueError
        On a bad option (``split``, ``binarize``, ``dtype``, a negative
        ``random_state``), a checksum mismatch, or a malformed IDX file (bad
        magic number, truncated payload, image and label counts differing).
    OSError
        If ``download=True`` and no mirror could serve a missing file.
    """
    return _load_idx_dataset(
        _MNIST, path, split, binarize, download, mirror, dtype, random_state, checksums
    )


def load_fashion_mnist(path: PathLike | None = None, split: str = "train", binarize: str | None = None, *,
                       download: bool = False, mirror: str | Sequence[str] | None = None, dtype: Any = np.float32,
                       random_state: RandomState = None,
                       checksums: Mapping[str, str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Load Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017) from its IDX files.

    Same file names, layout, options and errors as :func:`load_mnist`: 28x28
    grey images of ten clothing classes, 60000 train and 10000 test samples.
    Fashion-MNIST is held out for evaluation only: no test, example default
    or tuned hyper-parameter may depend on it.

    Parameters
    ----------
    path : str or os.PathLike, optional
        Directory holding the IDX files. If None, ``$DBN_DATA/fashion-mnist``
        (when ``DBN_DATA`` is set) then ``data/fashion-mnist`` under the
        current working directory are tried.
    split : {"train", "test"}, default="train"
    binarize : {None, "threshold", "stochastic"}, default=None
    download : bool, default=False
    mirror : str or sequence of str, optional
        Defaults to :data:`FASHION_MNIST_MIRRORS`.
    dtype : data-type, default=numpy.float32
    random_state : int or numpy.random.Generator, optional
    checksums : mapping of str to str, optional
        Replaces :data:`FASHION_MNIST_MD5`.

    Returns
    -------
    X : numpy.ndarray of shape (n_samples, 784)
        Grey levels in ``[0, 1]`` (or binarized, see :func:`load_mnist`).
    y : numpy.ndarray of shape (n_samples,), dtype int64
        Class labels 0-9.
    """
    return _load_idx_dataset(
        _FASHION_MNIST, path, split, binarize, download, mirror, dtype, random_state, checksums
    )


# --------------------------------------------------------------------------- #
# Dispatch by name
# --------------------------------------------------------------------------- #
_LOADERS: dict[str, Callable[..., Any]] = {
    "digits": load_digits,
    "mnist": load_mnist,
    "fashion-mnist": load_fashion_mnist,
}


def load(name: str, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Load a data set by name, e.g. from a command-line ``--data`` option.

    Parameters
    ----------
    name : {"digits", "mnist", "fashion-mnist"}
        Data set name; case-insensitive, ``_`` is accepted for ``-``.
    **kwargs
        Passed to :func:`load_digits`, :func:`load_mnist` or
        :func:`load_fashion_mnist`.

    Returns
    -------
    X : numpy.ndarray of shape (n_samples, n_features)
    y : numpy.ndarray of shape (n_samples,), dtype int64

    Raises
    ------
    TypeError
        If ``name`` is not a string.
    ValueError
        If ``name`` is not a known data set.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a data set name (a str), one of {', '.join(_LOADERS)}; got {name!r}")
    key = name.lower().replace("_", "-")
    if key not in _LOADERS:
        raise ValueError(f"unknown data set {name!r}; valid names: {', '.join(_LOADERS)}")
    return _LOADERS[key](**kwargs)
