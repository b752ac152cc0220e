"""Tests for the data set loaders of :mod:`dbn.datasets`.

IDX files are written by the tests themselves into temporary directories, and
downloads are served by a local HTTP server; only the real-MNIST test reads
the shared copy of the data, and is skipped when it is absent.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import os
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dbn import datasets
from dbn.datasets import load, load_digits, load_fashion_mnist, load_mnist, read_idx

N_IMAGES = 5
TRAIN_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
REAL_DATA_ROOTS = [
    *([Path(os.environ["DBN_DATA"])] if os.environ.get("DBN_DATA") else []),
    Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets",
]
MNIST_TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]

Data = tuple[np.ndarray, np.ndarray]
MnistDir = tuple[Path, dict[str, str]]


# --------------------------------------------------------------------------- #
# Building IDX files
# --------------------------------------------------------------------------- #
def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """Encode a uint8 array in the IDX format (optionally with a forced magic)."""
    magic = 0x800 | array.ndim if magic is None else magic
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_file(path: Path, content: bytes, compress: bool) -> Path:
    """Write ``content`` to ``path`` (gzip-compressed to ``path.gz`` if asked)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(content))
    else:
        path.write_bytes(content)
    return path


def write_split(
    directory: Path,
    images: np.ndarray,
    labels: np.ndarray,
    files: tuple[str, str] = TRAIN_FILES,
    compress: bool = True,
) -> dict[str, str]:
    """Write one split as IDX files; return the md5s of the files by name."""
    written = [
        write_file(directory / files[0], idx_bytes(images), compress),
        write_file(directory / files[1], idx_bytes(labels), compress),
    ]
    return {path.name: hashlib.md5(path.read_bytes()).hexdigest() for path in written}


def make_data(n: int = N_IMAGES, seed: int = 0) -> Data:
    """Random 28x28 uint8 images and labels 0-9."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    return images, labels


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Unset ``$DBN_DATA`` and work in an empty directory, so no real data leaks in."""
    monkeypatch.delenv("DBN_DATA", raising=False)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)


@pytest.fixture
def data() -> Data:
    return make_data()


@pytest.fixture
def mnist_dir(tmp_path: Path, data: Data) -> MnistDir:
    """A directory with gzip-compressed train files, and their md5 table."""
    directory = tmp_path / "mnist"
    return directory, write_split(directory, *data)


# --------------------------------------------------------------------------- #
# scikit-learn digits
# --------------------------------------------------------------------------- #
def test_load_digits_is_scaled_float32() -> None:
    X, y = load_digits()
    assert X.shape == (1797, 64) and y.shape == (1797,)
    assert X.dtype == np.float32 and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert set(np.unique(y)) == set(range(10))


def test_load_digits_bunch_holds_scaled_data() -> None:
    bunch = load_digits(return_X_y=False)
    X, y = load_digits()
    np.testing.assert_array_equal(bunch.data, X)
    np.testing.assert_array_equal(bunch.target, y)


# --------------------------------------------------------------------------- #
# IDX reading
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
def test_read_idx_round_trips(tmp_path: Path, data: Data, compress: bool) -> None:
    images, labels = data
    image_file = write_file(tmp_path / "images-idx3-ubyte", idx_bytes(images), compress)
    label_file = write_file(tmp_path / "labels-idx1-ubyte", idx_bytes(labels), compress)
    read_images, read_labels = read_idx(image_file), read_idx(label_file)
    assert read_images.dtype == np.uint8 and read_images.shape == (N_IMAGES, 28, 28)
    np.testing.assert_array_equal(read_images, images)
    np.testing.assert_array_equal(read_labels, labels)


def test_read_idx_rejects_truncated_payload(tmp_path: Path, data: Data) -> None:
    path = write_file(tmp_path / "images-idx3-ubyte", idx_bytes(data[0])[:-10], compress=False)
    with pytest.raises(ValueError, match=r"images-idx3-ubyte.*truncated.*3920.*3910"):
        read_idx(path)


def test_read_idx_rejects_trailing_bytes(tmp_path: Path, data: Data) -> None:
    path = write_file(tmp_path / "labels-idx1-ubyte", idx_bytes(data[1]) + b"\0", compress=False)
    with pytest.raises(ValueError, match="trailing bytes"):
        read_idx(path)


def test_read_idx_rejects_truncated_gzip(tmp_path: Path, data: Data) -> None:
    path = tmp_path / "images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(data[0]))[:-20])
    with pytest.raises(ValueError, match=r"images-idx3-ubyte\.gz.*gzip"):
        read_idx(path)


@pytest.mark.parametrize("magic", [0x00000903, 0x01000803, 0x00000800])
def test_read_idx_rejects_bad_magic(tmp_path: Path, data: Data, magic: int) -> None:
    path = write_file(tmp_path / "images-idx3-ubyte", idx_bytes(data[0], magic), compress=False)
    with pytest.raises(ValueError, match=f"images-idx3-ubyte.*magic number 0x{magic:08x}"):
        read_idx(path)


def test_read_idx_checks_dimension_count(tmp_path: Path, data: Data) -> None:
    path = write_file(tmp_path / "images-idx3-ubyte", idx_bytes(data[0]), compress=False)
    assert read_idx(path, ndim=3).shape == (N_IMAGES, 28, 28)
    with pytest.raises(ValueError, match=r"declares 3 dimension\(s\), expected 0x00000801"):
        read_idx(path, ndim=1)


# --------------------------------------------------------------------------- #
# load_mnist on test-written files
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
def test_load_mnist_scales_grey_levels(
    tmp_path: Path, data: Data, compress: bool
) -> None:
    images, labels = data
    checksums = write_split(tmp_path, images, labels, compress=compress)
    X, y = load_mnist(path=tmp_path, checksums=checksums)
    assert X.shape == (N_IMAGES, 784) and X.dtype == np.float32
    assert y.dtype == np.int64
    np.testing.assert_array_equal(X, images.reshape(N_IMAGES, 784).astype(np.float32) / 255)
    np.testing.assert_array_equal(y, labels)


def test_load_mnist_raw_files_are_not_md5_checked(
    tmp_path: Path, data: Data
) -> None:
    write_split(tmp_path, *data, compress=False)
    X, _ = load_mnist(path=tmp_path)  # canonical table, but raw files are not checked
    assert X.shape == (N_IMAGES, 784)


def test_load_mnist_reads_test_split_and_other_dtypes(tmp_path: Path) -> None:
    train, test = make_data(3, seed=1), make_data(7, seed=2)
    checksums = write_split(tmp_path, *train) | write_split(tmp_path, *test, files=TEST_FILES)
    X, y = load_mnist(path=tmp_path, split="test", checksums=checksums, dtype=np.float64)
    assert X.shape == (7, 784) and X.dtype == np.float64
    np.testing.assert_allclose(X, test[0].reshape(7, 784) / 255.0)
    np.testing.assert_array_equal(y, test[1])
    raw, _ = load_mnist(path=tmp_path, split="train", checksums=checksums, dtype=np.uint8)
    assert raw.dtype == np.uint8
    np.testing.assert_array_equal(raw, train[0].reshape(3, 784))


def test_load_mnist_prefers_gz_over_raw(tmp_path: Path) -> None:
    gz_data, raw_data = make_data(seed=3), make_data(seed=4)
    checksums = write_split(tmp_path, *gz_data, compress=True)
    write_split(tmp_path, *raw_data, compress=False)
    X, y = load_mnist(path=tmp_path, checksums=checksums, dtype=np.uint8)
    np.testing.assert_array_equal(X, gz_data[0].reshape(N_IMAGES, 784))
    np.testing.assert_array_equal(y, gz_data[1])


def test_threshold_binarization(mnist_dir: MnistDir, data: Data) -> None:
    directory, checksums = mnist_dir
    X, _ = load_mnist(path=directory, binarize="threshold", checksums=checksums)
    assert X.dtype == np.float32
    assert set(np.unique(X)) == {0.0, 1.0}
    expected = data[0].reshape(N_IMAGES, 784).astype(np.float32) / 255 > 0.5
    np.testing.assert_array_equal(X, expected)


def test_stochastic_binarization(tmp_path: Path) -> None:
    images, labels = make_data(200, seed=5)
    checksums = write_split(tmp_path, images, labels)
    options = dict(path=tmp_path, binarize="stochastic", checksums=checksums)
    first, _ = load_mnist(**options, random_state=7)
    again, _ = load_mnist(**options, random_state=np.random.default_rng(7))
    other, _ = load_mnist(**options, random_state=8)
    assert set(np.unique(first)) == {0.0, 1.0}
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    grey = images.reshape(200, 784) / 255.0
    # 156800 Bernoulli draws: the standard error of the mean is below 0.0013.
    assert abs(first.mean() - grey.mean()) < 0.01
    # Black pixels are never switched on.
    assert not first[images.reshape(200, 784) == 0].any()


def test_count_mismatch_is_rejected(tmp_path: Path) -> None:
    images, _ = make_data(5)
    _, labels = make_data(4)
    checksums = write_split(tmp_path, images, labels)
    with pytest.raises(ValueError, match=r"holds 5 images but .*train-labels.* holds 4 labels"):
        load_mnist(path=tmp_path, checksums=checksums)


def test_truncated_file_is_rejected_by_load_mnist(tmp_path: Path, data: Data) -> None:
    write_file(tmp_path / TRAIN_FILES[0], idx_bytes(data[0])[:-1], compress=False)
    write_file(tmp_path / TRAIN_FILES[1], idx_bytes(data[1]), compress=False)
    with pytest.raises(ValueError, match="train-images-idx3-ubyte: IDX file truncated"):
        load_mnist(path=tmp_path)


def test_labels_with_image_magic_are_rejected(tmp_path: Path, data: Data) -> None:
    images, _ = data
    write_split(tmp_path, images, images, compress=False)
    pattern = r"train-labels-idx1-ubyte.*0x00000803.*expected 0x00000801"
    with pytest.raises(ValueError, match=pattern):
        load_mnist(path=tmp_path)


def test_md5_mismatch_names_file_and_digests(mnist_dir: MnistDir) -> None:
    directory, checksums = mnist_dir
    found = checksums["train-images-idx3-ubyte.gz"]
    expected = datasets.MNIST_MD5["train-images-idx3-ubyte.gz"]
    with pytest.raises(ValueError, match=f"train-images-idx3-ubyte.gz.*{expected}.*{found}"):
        load_mnist(path=directory)  # the canonical table rejects test-written files


@pytest.mark.parametrize(
    ("option", "value"), [("split", "validation"), ("binarize", "otsu"), ("dtype", np.int32)]
)
def test_bad_options_are_rejected(mnist_dir: MnistDir, option: str, value: object) -> None:
    directory, checksums = mnist_dir
    with pytest.raises(ValueError, match=option):
        load_mnist(path=directory, checksums=checksums, **{option: value})


# --------------------------------------------------------------------------- #
# Directory resolution
# --------------------------------------------------------------------------- #
def test_missing_files_suggest_download(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="download=True") as error:
        load_mnist(path=empty)
    message = str(error.value)
    assert str(empty) in message and "train-images-idx3-ubyte" in message
    assert "$DBN_DATA" in message and "path=" in message


def test_dbn_data_environment_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data: Data
) -> None:
    checksums = write_split(tmp_path / "root" / "mnist", *data)
    monkeypatch.setenv("DBN_DATA", str(tmp_path / "root"))
    X, y = load_mnist(checksums=checksums, dtype=np.uint8)
    np.testing.assert_array_equal(X, data[0].reshape(N_IMAGES, 784))
    np.testing.assert_array_equal(y, data[1])


def test_default_directory_is_data_under_cwd(data: Data) -> None:
    checksums = write_split(Path.cwd() / "data" / "mnist", *data)
    _, y = load_mnist(checksums=checksums)
    np.testing.assert_array_equal(y, data[1])


def test_error_lists_every_directory_tried(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DBN_DATA", str(tmp_path / "root"))
    with pytest.raises(FileNotFoundError) as error:
        load_mnist()
    message = str(error.value)
    assert str(tmp_path / "root" / "mnist") in message
    assert str(Path.cwd() / "data" / "mnist") in message


def test_fashion_mnist_uses_its_own_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data: Data
) -> None:
    checksums = write_split(tmp_path / "fashion-mnist", *data)
    monkeypatch.setenv("DBN_DATA", str(tmp_path))
    _, y = load_fashion_mnist(checksums=checksums)
    np.testing.assert_array_equal(y, data[1])
    with pytest.raises(FileNotFoundError, match=r"mnist"):
        load_mnist(checksums=checksums)


def test_load_dispatches_by_name(mnist_dir: MnistDir, data: Data) -> None:
    directory, checksums = mnist_dir
    np.testing.assert_array_equal(load("digits")[0], load_digits()[0])
    _, y = load("mnist", path=directory, checksums=checksums)
    np.testing.assert_array_equal(y, data[1])
    with pytest.raises(ValueError, match="digits, mnist, fashion-mnist"):
        load("cifar10")


# --------------------------------------------------------------------------- #
# Downloads from a local HTTP server
# --------------------------------------------------------------------------- #
class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Static file handler that does not log requests to stderr."""

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """Serve ``tmp_path / "served"`` over HTTP; yield the directory and its URL."""
    for variable in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join()


def test_download_fetches_missing_files(
    server_root: tuple[Path, str], tmp_path: Path, data: Data
) -> None:
    root, url = server_root
    checksums = write_split(root, *data)
    target = tmp_path / "download" / "mnist"
    X, y = load_mnist(path=target, download=True, mirror=url, checksums=checksums)
    assert sorted(p.name for p in target.iterdir()) == sorted(checksums)
    np.testing.assert_array_equal(X, data[0].reshape(N_IMAGES, 784).astype(np.float32) / 255)
    np.testing.assert_array_equal(y, data[1])


def test_download_tries_the_next_mirror(
    server_root: tuple[Path, str], tmp_path: Path, data: Data
) -> None:
    root, url = server_root
    checksums = write_split(root, *data)
    _, y = load_mnist(
        path=tmp_path / "target", download=True, mirror=[url + "absent/", url], checksums=checksums
    )
    np.testing.assert_array_equal(y, data[1])


def test_download_checksum_mismatch_leaves_nothing(
    server_root: tuple[Path, str], tmp_path: Path, data: Data
) -> None:
    root, url = server_root
    write_split(root, *data)
    target = tmp_path / "target"
    wrong = {"train-images-idx3-ubyte.gz": "0" * 32}
    with pytest.raises(ValueError, match=r"checksum mismatch for train-images-idx3-ubyte\.gz"):
        load_mnist(path=target, download=True, mirror=url, checksums=wrong)
    assert list(target.iterdir()) == []


def test_download_failure_on_every_mirror(server_root: tuple[Path, str], tmp_path: Path) -> None:
    _, url = server_root
    target = tmp_path / "target"
    with pytest.raises(OSError, match=r"(?s)could not download train-images-idx3-ubyte\.gz.*404"):
        load_mnist(path=target, download=True, mirror=url, checksums={})
    assert list(target.iterdir()) == []


# --------------------------------------------------------------------------- #
# The real MNIST files
# --------------------------------------------------------------------------- #
def test_real_mnist_test_split() -> None:
    found = [root / "mnist" for root in REAL_DATA_ROOTS if (root / "mnist").is_dir()]
    if not found:
        pytest.skip("no MNIST copy in $DBN_DATA or ../shared/datasets")
    X, y = load_mnist(path=found[0], split="test")
    assert X.shape == (10000, 784) and X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == 1.0
    assert np.bincount(y, minlength=10).tolist() == MNIST_TEST_LABEL_COUNTS
