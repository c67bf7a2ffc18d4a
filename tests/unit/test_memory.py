"""smsflow.memory: freed heap memory goes back to the OS."""

from __future__ import annotations

import subprocess
import sys

import pytest

from smsflow.memory import _TRIM

# glibc keeps freed blocks between live ones; RSS stays at the peak until malloc_trim
_FRAGMENTED = """
import os
from smsflow.memory import process_memory, release_free_memory

def rss_mib():
    return process_memory(os.getpid())["VmRSS"] // 1024

blocks = [bytearray(4000) for _ in range(50_000)]  # ~200 MiB of malloc blocks
kept = blocks[::64]  # one in 64 stays: no free run reaches the top of the heap
del blocks
before = rss_mib()
release_free_memory()
print(before, rss_mib())
"""


@pytest.mark.skipif(_TRIM is None, reason="not glibc: nothing to trim")
def test_freed_heap_memory_leaves_the_rss() -> None:
    out = subprocess.run([sys.executable, "-c", _FRAGMENTED], capture_output=True, text=True,
                         check=True).stdout
    before, after = map(int, out.split())
    assert before > 150, out  # the freed blocks were still resident
    assert after < before / 2, out


_TUNE_GC = """
import gc, sys
from smsflow.memory import tune_gc
tune_gc(int(sys.argv[1]))
print(gc.get_threshold(), gc.get_freeze_count() > 0)
"""


def test_tune_gc_freezes_the_start_up_and_sets_the_young_threshold() -> None:
    out = subprocess.run([sys.executable, "-c", _TUNE_GC, "12345"], capture_output=True,
                         text=True, check=True).stdout.split()
    assert " ".join(out) == "(12345, 20, 100) True"
