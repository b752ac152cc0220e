"""Checkpoint files: the documented layout, checksums, kills mid-save, temporary files, load errors
that name the file, and devices checked before loading."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import random
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import numpy as np
import pytest
import torch

import dbn.serialization
from dbn import RBM, DeepBeliefNet
from dbn.serialization import MAGIC, load_checkpoint, resolve_map_location, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
LAYOUT = struct.Struct("<8sIQ32s")  # the header as documented in dbn.serialization
TORCH_ADVICE = re.compile(r"weights_only\W{0,3}(=|set to)\W{0,3}False")


class Opaque:
    """An arbitrary Python object, which no checkpoint may make dbn unpickle."""


def torch_bytes(content) -> bytes:
    buffer = io.BytesIO()
    torch.save(content, buffer)
    return buffer.getvalue()


def container(payload: bytes, *, version: int = 2) -> bytes:
    """A file in the documented layout around ``payload``."""
    return LAYOUT.pack(MAGIC, version, len(payload), hashlib.sha256(payload).digest()) + payload


def dbn_payload(header_changes: dict | None = None, state_dict=None) -> bytes:
    fields = {"format": "dbn-checkpoint", "version": 2, "class": "RBM", "config": {"a": 1}, "extra": None}
    fields.update(header_changes or {})
    return torch_bytes(
        {"header": json.dumps(fields), "state_dict": {"w": torch.ones(2)} if state_dict is None else state_dict}
    )


def stray_files(directory: Path, name: str = "model.pt") -> list[str]:
    return sorted(entry.name for entry in directory.iterdir() if entry.name != name)


def refusal(path: Path, error: type[Exception] = ValueError) -> str:
    """Load ``path`` as an RBM; return the whole traceback text of the refusal."""
    with pytest.raises(error) as caught:
        RBM.load(path)
    return "".join(traceback.format_exception(caught.type, caught.value, caught.tb))


@pytest.fixture(scope="module")
def tiny_rbm() -> RBM:
    X = np.random.default_rng(0).random((40, 5)).astype(np.float32)
    return RBM(5, 3).fit(X, epochs=1, batch_size=20, progress=False, seed=0)


# ------------------------------------------------------------------------------------- layout


def test_a_saved_file_has_the_documented_layout_and_its_checksum(tiny_rbm, tmp_path):
    path = tmp_path / "model.pt"
    tiny_rbm.save(path)
    data = path.read_bytes()
    magic, version, length, digest = LAYOUT.unpack_from(data)
    assert (magic, version) == (MAGIC, 2)
    assert len(data) == LAYOUT.size + length
    assert hashlib.sha256(data[LAYOUT.size :]).digest() == digest
    inner = torch.load(io.BytesIO(data[LAYOUT.size :]), weights_only=True)
    assert json.loads(inner["header"])["class"] == "RBM"
    assert torch.equal(inner["state_dict"]["weight"], tiny_rbm.weight.detach())


def test_a_version_1_file_without_a_checksum_still_loads(tmp_path):
    path = tmp_path / "old.pt"
    path.write_bytes(dbn_payload({"version": 1}))
    config, state_dict, extra = load_checkpoint(path, kind="RBM")
    assert config == {"a": 1} and torch.equal(state_dict["w"], torch.ones(2)) and extra is None
    stripped = tmp_path / "stripped.pt"  # a version 2 payload without its checksummed header
    stripped.write_bytes(dbn_payload())
    with pytest.raises(ValueError, match=f"{re.escape(str(stripped))} is corrupted or not a dbn checkpoint"):
        load_checkpoint(stripped, kind="RBM")


# ----------------------------------------------------------------------------------- bit flips


def test_every_single_bit_flip_is_refused(tiny_rbm, tmp_path):
    original = tmp_path / "model.pt"
    tiny_rbm.save(original)
    data = original.read_bytes()
    flipped = tmp_path / "flipped.pt"
    flipped.write_bytes(data)
    assert torch.equal(RBM.load(flipped).weight, tiny_rbm.weight)  # the unflipped copy loads
    rng = random.Random(0)
    header_bits = rng.sample(range(8 * LAYOUT.size), 50)  # the fixed header, and then anywhere
    positions = header_bits + [rng.randrange(8 * len(data)) for _ in range(150)]
    for position in positions:
        corrupted = bytearray(data)
        corrupted[position // 8] ^= 1 << (position % 8)
        flipped.write_bytes(corrupted)
        with pytest.raises(ValueError) as caught:
            RBM.load(flipped)
        assert str(flipped) in str(caught.value), f"bit {position}: {caught.value}"


def test_a_changed_payload_is_refused_as_a_checksum_mismatch(tiny_rbm, tmp_path):
    path = tmp_path / "model.pt"
    tiny_rbm.save(path)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x10
    path.write_bytes(data)
    message = refusal(path)
    assert f"{path} is corrupted (checksum mismatch)" in message


# ------------------------------------------------------------------------------ kills mid-save

SAVER = r"""
import os, sys
import torch
from dbn.serialization import save_checkpoint

torch.set_num_threads(1)
path, weights = sys.argv[1], torch.empty(int(sys.argv[2]))

def save_forever(step):
    while True:
        weights.fill_(step)
        state = {"weight": weights, "bias": torch.full((3,), float(step))}
        save_checkpoint(path, kind="Stress", config={"step": step}, state_dict=state, extra={"step": step})
        step += 1

print("ready", flush=True)
for line in sys.stdin:
    command, value = line.split()
    if command == "start":
        pid = os.fork()
        if pid == 0:
            try:
                save_forever(int(value))
            finally:
                os._exit(1)
        print(pid, flush=True)
    else:
        os.waitpid(int(value), 0)
        print("reaped", flush=True)
"""


def read_step(path: Path) -> int:
    """The step of a complete, verified stress checkpoint (every part must agree)."""
    config, state_dict, extra = load_checkpoint(path, kind="Stress")
    step = config["step"]
    assert extra == {"step": step}
    assert bool((state_dict["weight"] == step).all()) and bool((state_dict["bias"] == step).all())
    return step


def ask(saver: subprocess.Popen, line: str) -> str:
    saver.stdin.write(line + "\n")
    saver.stdin.flush()
    answer = saver.stdout.readline().strip()
    assert answer, f"the saver process stopped: {saver.stderr.read()}"
    return answer


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork and SIGKILL")
def test_a_save_killed_at_any_moment_leaves_the_old_or_the_new_file(tmp_path):
    """20 writers SIGKILLed after seeded delays; a server process forks them so that torch is
    imported once."""
    path = tmp_path / "model.pt"
    save_checkpoint(
        path,
        kind="Stress",
        config={"step": 0},
        state_dict={"weight": torch.zeros(4), "bias": torch.zeros(3)},
        extra={"step": 0},
    )
    saver = subprocess.Popen(
        [sys.executable, "-c", SAVER, str(path), str(2**20)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(60, saver.kill)  # a hung saver fails the test instead of stalling it
    watchdog.start()
    rng, last, interrupted = random.Random(0), 0, 0
    try:
        assert saver.stdout.readline().strip() == "ready", saver.stderr.read()
        for kill in range(1, 21):
            first = kill * 1_000_000
            writer = int(ask(saver, f"start {first}"))
            time.sleep(rng.uniform(0.01, 0.2))
            os.kill(writer, signal.SIGKILL)
            assert ask(saver, f"reap {writer}") == "reaped"
            step = read_step(path)
            assert step == last or step >= first, f"kill {kill}: step {step} is neither {last} nor new"
            last = step
            strays = stray_files(tmp_path)
            assert len(strays) <= 1, strays  # the earlier writers' leftovers went at the next save
            interrupted += any(name.startswith(f".model.pt.tmp-{writer}-") for name in strays)
    finally:
        watchdog.cancel()
        saver.kill()
        saver.communicate()
    assert interrupted >= 1  # some kills did land while a temporary file was being written
    assert last > 0  # and some writers did replace the file
    save_checkpoint(
        path,
        kind="Stress",
        config={"step": -1},
        state_dict={"weight": -torch.ones(4), "bias": -torch.ones(3)},
        extra={"step": -1},
    )
    assert read_step(path) == -1
    assert stray_files(tmp_path) == []


# -------------------------------------------------------------------------- temporary files


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", ""])
    process.wait()
    return process.pid


def test_only_our_stale_temporary_files_are_removed(tiny_rbm, tmp_path, monkeypatch):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = dead_pid()
        names = {
            "dead writer": f".model.pt.tmp-{dead}-0123abcd",
            "this process, not writing": f".model.pt.tmp-{os.getpid()}-89abcdef",
            "this process, writing in another thread": f".model.pt.tmp-{os.getpid()}-76543210",
            "live writer": f".model.pt.tmp-{live.pid}-deadbeef",
            "live writer, untouched for two hours": f".model.pt.tmp-{live.pid}-00000000",
            "another target": f".other.pt.tmp-{dead}-0123abcd",
            "not our pattern": f".model.pt.tmp-{dead}-backup",
            "not hidden": f"model.pt.tmp-{dead}-0123abcd",
            "a user's file": "model.pt.bak",
        }
        for name in names.values():
            (tmp_path / name).write_bytes(b"partial")
        old = time.time() - 2 * 3600
        os.utime(tmp_path / names["live writer, untouched for two hours"], (old, old))
        writing = {str(tmp_path / names["this process, writing in another thread"])}
        monkeypatch.setattr(dbn.serialization, "_WRITING", writing)
        monkeypatch.chdir(tmp_path)
        tiny_rbm.save("model.pt")  # a relative target: the same files, named differently
    finally:
        live.kill()
        live.wait()
    removed = ("dead writer", "this process, not writing", "live writer, untouched for two hours")
    kept = sorted(name for reason, name in names.items() if reason not in removed)
    assert stray_files(tmp_path) == kept
    assert torch.equal(RBM.load(tmp_path / "model.pt").weight, tiny_rbm.weight)


def fail_mid_write(content, stream):
    stream.write(b"PK\x03\x04 half an archive")
    raise OSError(28, "No space left on device")


def fail_at_rename(source, target):
    raise PermissionError(13, "Permission denied", str(target))


@pytest.mark.parametrize(
    ("target", "failure", "error"),
    [
        ("torch", ("save", fail_mid_write), OSError),
        ("os", ("replace", fail_at_rename), PermissionError),
    ],
)
def test_a_failed_save_leaves_no_temporary_file_and_the_old_checkpoint(
    tiny_rbm, tmp_path, monkeypatch, target, failure, error
):
    path = tmp_path / "model.pt"
    tiny_rbm.save(path)
    before = path.read_bytes()
    monkeypatch.setattr(getattr(dbn.serialization, target), *failure)
    with pytest.raises(error):
        tiny_rbm.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert stray_files(tmp_path) == []
    assert torch.equal(RBM.load(path).weight, tiny_rbm.weight)


def test_an_unserialisable_configuration_fails_before_any_file_is_made(tmp_path):
    with pytest.raises(TypeError):
        save_checkpoint(tmp_path / "model.pt", kind="RBM", config={"f": print}, state_dict={})
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------- load errors


def truncated(data: bytes, size: int) -> bytes:
    return data[:size]


FOREIGN = {
    "random bytes": (lambda data: random.Random(1).randbytes(3000), "is not a dbn checkpoint"),
    "a saved tensor": (lambda data: torch_bytes(torch.arange(5)), "is not a dbn checkpoint"),
    "a saved dict of tensors": (lambda data: torch_bytes({"weight": torch.zeros(3)}), "is not a dbn checkpoint"),
    "a pickle of an object": (lambda data: pickle.dumps(Opaque()), "is not a dbn checkpoint"),
    "a torch archive of an object": (lambda data: torch_bytes(Opaque()), "is not a readable dbn checkpoint"),
    "an empty file": (lambda data: b"", "is empty: not a dbn checkpoint"),
    "the magic bytes alone": (lambda data: MAGIC, "is a truncated dbn checkpoint"),
    "a truncated header": (lambda data: data[:30], "is a truncated dbn checkpoint"),
    "a truncated payload": (lambda data: data[: len(data) // 2], "is a truncated dbn checkpoint"),
    "the last byte missing": (lambda data: data[:-1], "is a truncated dbn checkpoint"),
    "bytes appended": (lambda data: data + b"\n", "is corrupted: 1 bytes follow"),
    "a truncated version 1 file": (
        lambda data: data[LAYOUT.size : LAYOUT.size + 600],
        "is not a readable dbn checkpoint",
    ),
}


@pytest.mark.parametrize("case", FOREIGN)
def test_a_file_that_is_not_a_checkpoint_is_named_and_refused(tiny_rbm, tmp_path, case):
    make, message = FOREIGN[case]
    tiny_rbm.save(tmp_path / "model.pt")
    path = tmp_path / "suspect.pt"
    path.write_bytes(make((tmp_path / "model.pt").read_bytes()))
    text = refusal(path)
    assert f"{path} {message}" in text
    assert not TORCH_ADVICE.search(text), text


def test_a_directory_and_a_missing_file_are_named(tmp_path):
    assert f"{tmp_path} is a directory, not a dbn checkpoint" in refusal(tmp_path)
    missing = tmp_path / "missing.pt"
    assert f"no checkpoint at {missing}" in refusal(missing, FileNotFoundError)


@pytest.mark.parametrize(
    ("payload", "version", "message"),
    [
        (dbn_payload({"class": 3}), 2, "'class' must be a str, not int"),
        (dbn_payload({"class": None}), 2, "'class' must be a str, not NoneType"),
        (dbn_payload({"version": "2"}), 2, "'version' must be an int, not str"),
        (dbn_payload({"version": True}), 2, "'version' must be an int, not bool"),
        (dbn_payload({"version": 1}), 2, "format version 1 is not valid in this layout"),
        (dbn_payload({"config": [64, 12]}), 2, "'config' must be a dict, not list"),
        (dbn_payload(state_dict=[torch.ones(2)]), 2, "'state_dict' must map names to tensors"),
        (dbn_payload(state_dict={"w": [1.0, 2.0]}), 2, "'state_dict' must map names to tensors"),
        (dbn_payload({"format": "other"}), 2, "is not a dbn checkpoint (no 'dbn-checkpoint' header)"),
        (torch_bytes({"header": "{not json", "state_dict": {}}), 2, "is not a dbn checkpoint: its header is not JSON"),
        (
            torch_bytes({"header": "[1, 2]", "state_dict": {}}),
            2,
            "is not a dbn checkpoint (no 'dbn-checkpoint' header)",
        ),
        (torch_bytes({"header": 7, "state_dict": {}}), 2, "is not a dbn checkpoint: a torch file without a dbn header"),
        (dbn_payload(), 3, "has checkpoint format version 3; this dbn reads versions 1 to 2: upgrade dbn"),
        (dbn_payload(), 0, "format version 0 is not valid in this layout"),
    ],
)
def test_header_fields_of_the_wrong_type_or_value_are_refused(tmp_path, payload, version, message):
    path = tmp_path / "model.pt"
    path.write_bytes(container(payload, version=version))
    with pytest.raises(ValueError) as caught:
        load_checkpoint(path, kind="RBM")
    assert str(path) in str(caught.value) and message in str(caught.value)


def test_a_well_formed_file_built_from_the_documented_layout_loads(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(container(dbn_payload({"extra": {"history": []}})))
    config, state_dict, extra = load_checkpoint(path, kind="RBM")
    assert (config, list(state_dict), extra) == ({"a": 1}, ["w"], {"history": []})
    assert torch.equal(state_dict["w"], torch.ones(2))


def test_a_checkpoint_of_another_class_says_which(tiny_rbm, tmp_path):
    path = tmp_path / "model.pt"
    tiny_rbm.save(path)
    with pytest.raises(ValueError, match="holds a 'RBM', not a 'DeepBeliefNet': load it with RBM.load"):
        DeepBeliefNet.load(path)


# ---------------------------------------------------------------------------------- devices


def test_the_cpu_is_always_a_map_location():
    assert resolve_map_location("cpu") == torch.device("cpu")
    assert resolve_map_location(torch.device("cpu")) == torch.device("cpu")


def test_cuda_without_a_cuda_device_suggests_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for location in ("cuda", "cuda:0", torch.device("cuda")):
        with pytest.raises(ValueError, match='no CUDA device is available: pass map_location="cpu"'):
            resolve_map_location(location)


def test_a_cuda_index_past_the_last_device_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_map_location("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ValueError, match=r"CUDA device 2, but only 2 CUDA device\(s\) are available \(0 to 1\)"):
        resolve_map_location("cuda:2")


def test_a_name_that_is_no_device_is_refused():
    with pytest.raises(ValueError, match="map_location='gpu' is not a device"):
        resolve_map_location("gpu")
    with pytest.raises(TypeError, match="map_location must be a torch.device, a str or an int, not float"):
        resolve_map_location(1.5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_present_cuda_device_is_accepted():
    count = torch.cuda.device_count()
    assert resolve_map_location("cuda") == torch.device("cuda")
    assert resolve_map_location(count - 1) == torch.device("cuda", count - 1)
    with pytest.raises(ValueError, match=f"only {count} CUDA device"):
        resolve_map_location(f"cuda:{count}")
