"""Weights through shared memory: what the learner writes, a reader maps back exactly; stale files go."""

import os
import subprocess
import sys

import torch

from learner.shm_weights import PREFIX, SharedMemoryWeights, read_tensors, remove_stale_files


def test_written_weights_read_back_exactly_and_the_file_is_reused(tmp_path):
    tensors = {"a": torch.randn(3, 5), "b": torch.arange(7, dtype=torch.int64), "c": torch.randn(2).bfloat16()}
    weights = SharedMemoryWeights(str(tmp_path))
    update = weights.write(tensors)
    assert update["offsets"] == [0, 64, 128]  # each tensor on its own 64-byte line: 60, 56 and 4 bytes
    for (name, view), (expected_name, expected) in zip(read_tensors(update), tensors.items()):
        assert name == expected_name and view.dtype == expected.dtype and torch.equal(view, expected)
    tensors["a"] += 1.0
    again = weights.write(tensors)  # the next push writes in place
    assert again["path"] == update["path"] and torch.equal(read_tensors(again)[0][1], tensors["a"])
    weights.close()
    assert not os.path.exists(update["path"])


def test_only_files_of_dead_learners_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f"{PREFIX}{int(dead.stdout)}-abc.bin"
    live = tmp_path / f"{PREFIX}{os.getpid()}-def.bin"
    stale.write_bytes(b"x")
    live.write_bytes(b"x")
    assert remove_stale_files(str(tmp_path)) == 1
    assert not stale.exists() and live.exists()
