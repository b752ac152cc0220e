"""Activations and gradients layer by layer at initialisation (Glorot & Bengio 2010; He et al. 2015).

Ten-layer tanh MLPs (100 units per layer) on a batch of data: with N(0, 0.01^2) weights the
activations shrink toward 0 layer after layer; with N(0, 1) they pile up at +-1 (saturated);
Xavier keeps their spread. Then ten-layer ReLU MLPs: Xavier (gain 1) halves the activation variance
at every layer, He (gain sqrt 2) keeps it. Prints each layer's activation std, saturated or dead
fraction and back-propagated gradient std (:func:`dbn.diagnostics.layer_statistics`), and saves
Glorot & Bengio's histograms (:func:`dbn.plotting.plot_layer_histograms`).

Usage::

    python examples/activations_by_depth.py [--data digits|mnist] [--out results/activations_by_depth]
"""

import argparse
from pathlib import Path

import torch

from dbn.datasets import load
from dbn.diagnostics import layer_statistics, trace_layers
from dbn.init import init_
from dbn.plotting import plot_layer_histograms
from dbn.stacked import build_mlp

DEPTH, WIDTH, ROWS = 10, 100, 1000
CASES = [
    ("tanh", "normal", {"std": 0.01}),
    ("tanh", "normal", {"std": 1.0}),
    ("tanh", "xavier_uniform", {}),
    ("relu", "xavier_uniform", {}),
    ("relu", "he_normal", {}),
]

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data", default="digits", choices=["digits", "mnist"])
parser.add_argument("--out", default="results/activations_by_depth")
args = parser.parse_args()
torch.set_num_threads(1)

X, y = load(args.data)
X, y = X[:ROWS], y[:ROWS]
for activation, scheme, options in CASES:
    label = f"{activation}, {scheme}" + "".join(f" {k}={v}" for k, v in options.items())
    generator = torch.Generator().manual_seed(0)
    model = init_(build_mlp(X.shape[1], [WIDTH] * DEPTH, 10, activation), scheme, generator=generator, **options)
    stats = layer_statistics(model, X, y)[:-1]
    print(f"\n{label}")
    print("  layer  " + "  ".join(f"{r['layer']:>8d}" for r in stats))
    print("  std a  " + "  ".join(f"{r['std']:8.2e}" for r in stats))
    flat = "   (saturated)" if activation == "tanh" else "   (off: z <= 0)"
    print("  flat   " + "  ".join(f"{r['saturated']:8.2f}" for r in stats) + flat)
    print("  std dz " + "  ".join(f"{r['gradient_std']:8.1e}" for r in stats))
    name = f"depth_{activation}_{scheme}" + "".join(f"_{k}{v}" for k, v in options.items())
    plot_layer_histograms(trace_layers(model, X, y), Path(args.out) / f"{name}.png",
                          title=f"{DEPTH}-layer {label} at initialisation")
print(f"\nhistograms saved in {args.out}")
