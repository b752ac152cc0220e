"""Exact log-likelihood of a small RBM trained with each negative phase of ``dbn.samplers``.

The 12-visible, 8-hidden RBM of ``tests/test_samplers.py`` on the 22 bars-and-stripes patterns of
3 x 4 pixels (the best possible mean log-likelihood is -log 22 = -3.09), trained with the test's
settings (60 epochs of 44 updates, lr 0.05, momentum 0.5) by CD-1, PCD, fast PCD at three fast
rates, parallel tempering and centered CD-1, one model per seed. Prints the exact mean
log-likelihood of each model and the mean over seeds.

Usage::

    python benchmarks/sampler_options.py [--seeds 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_samplers import PATTERNS, TRAINING  # noqa: E402  (the test's data and settings)

from dbn import RBM  # noqa: E402

OPTIONS = {
    "CD-1": {},
    "PCD": {"persistent": True},
    "fast PCD, fast_lr = lr": {"persistent": True, "fast_weights": True},
    "fast PCD, fast_lr = 2 lr": {"persistent": True, "fast_weights": True, "fast_lr": 0.1},
    "fast PCD, fast_lr = 4 lr": {"persistent": True, "fast_weights": True, "fast_lr": 0.2},
    "parallel tempering, 5 temperatures": {"persistent": True, "tempering": 5},
    "centered CD-1": {"centering": True},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = np.tile(PATTERNS, (40, 1))
    print(f"exact mean log-likelihood of the {len(PATTERNS)} patterns (best -3.09), seeds 0-{args.seeds - 1}")
    for name, options in OPTIONS.items():
        found = [RBM(12, 8).fit(data, **{**TRAINING, **options, "seed": seed}).log_likelihood(PATTERNS)
                 for seed in range(args.seeds)]
        print(f"{name:36s} mean {np.mean(found):6.2f}   " + " ".join(f"{value:6.2f}" for value in found))


if __name__ == "__main__":
    main()
