"""Start-up costs: ``import dbn`` beyond ``import torch``, and the first ``fit`` of a process beyond the second.

Each measurement runs in a fresh Python process (so nothing is cached in memory from an earlier
one) and is repeated ``--repeats`` times; the median is reported.

- ``import``: the seconds of ``import torch``, then of ``import dbn`` right after it in the same
  process: what a user of the library pays beyond torch itself.
- ``first fit``: ``RBM(64, 100).fit(digits, epochs=1)`` twice in one process; the first call
  pays any lazy initialisation (imports, optimiser set-up), the second does not.

Usage: ``python benchmarks/startup.py [--repeats 7]``. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

IMPORTS = """
import json, time
t0 = time.perf_counter(); import torch; t1 = time.perf_counter(); import dbn; t2 = time.perf_counter()
print(json.dumps({"torch": t1 - t0, "dbn": t2 - t1}))
"""
FITS = """
import json, time, torch
torch.set_num_threads(1)
from dbn import RBM
from dbn.datasets import load_digits
X, _ = load_digits()
seconds = []
for _ in range(2):
    t = time.perf_counter()
    RBM(64, 100).fit(X, epochs=1, progress=False, seed=0)
    seconds.append(time.perf_counter() - t)
print(json.dumps({"first": seconds[0], "second": seconds[1]}))
"""


def measure(code: str, repeats: int) -> dict[str, float]:
    """The median over ``repeats`` fresh processes of each value ``code`` prints as JSON."""
    runs = [json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                      text=True).stdout.strip().splitlines()[-1]) for _ in range(repeats)]
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    imports, fits = measure(IMPORTS, args.repeats), measure(FITS, args.repeats)
    print(f"median of {args.repeats} fresh processes")
    print("| measurement | seconds |")
    print("|---|---|")
    print(f"| `import torch` | {imports['torch']:.3f} |")
    print(f"| `import dbn` after torch | {imports['dbn']:.3f} |")
    print(f"| first `RBM(64, 100).fit(digits, epochs=1)` | {fits['first']:.3f} |")
    print(f"| second, same process | {fits['second']:.3f} |")
    print(f"| first minus second | {fits['first'] - fits['second']:.3f} |")


if __name__ == "__main__":
    main()
