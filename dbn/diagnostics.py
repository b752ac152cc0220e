r"""Per-layer diagnostics of a feed-forward network on a batch, after Glorot & Bengio (2010).

For every ``nn.Linear`` :math:`l` of a network with pre-activations :math:`z_l = W_l a_{l-1} + b_l`
and activations :math:`a_l = f(z_l)` (:math:`a_l = z_l` for a layer without a non-linearity, such
as the output layer), one forward and one backward pass of the mean loss :math:`L` over a batch
give (:func:`layer_statistics`):

- ``mean``, ``std``: of :math:`a_l` over the batch and the units;
- ``saturated``: the fraction of entries of :math:`z_l` in the activation's flat region
  (:attr:`dbn.init.Activation.flat`: within 1 % of a bound of the sigmoid or tanh, :math:`z \le 0`
  for rectifiers), and ``dead_units``: the fraction of units flat on every row of the batch;
- ``gradient_std``, ``gradient_norm``: of the back-propagated gradient
  :math:`\partial L / \partial z_l` (standard deviation and Frobenius norm over the batch);
- ``weight_gradient_norm``: :math:`\lVert \partial L / \partial W_l \rVert_F`; ``weight_std``.

Their histograms, layer by layer, are the figures of Glorot & Bengio (2010, figures 3-7):
activations that collapse toward 0 or pile up at the bounds, gradients that shrink or grow with
depth (drawn by :func:`dbn.plotting.plot_layer_histograms` with :func:`draw_layer_histograms`).
:func:`symmetry_score` counts the distinct hidden units of a layer: 1 after a zero or constant
initialisation, which no amount of training breaks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dbn.init import ACTIVATIONS, Activation, linear_layers
from dbn.validation import as_float_tensor

__all__ = [
    "LayerTrace",
    "draw_layer_histograms",
    "filter_mosaic",
    "layer_statistics",
    "symmetry_score",
    "symmetry_scores",
    "trace_layers",
]


@dataclass
class LayerTrace:
    """What one ``nn.Linear`` saw in a forward and backward pass (tensors detached, on the CPU)."""

    pre_activation: Tensor
    activation: Tensor
    gradient: Tensor
    weight: Tensor
    weight_gradient: Tensor
    nonlinearity: Activation | None


def _activation_after(model: nn.Module) -> list[tuple[nn.Linear, nn.Module | None, Activation | None]]:
    """Pair each ``nn.Linear`` with the registered activation module that follows it, if any."""
    leaves = [module for module in model.modules() if not list(module.children())]
    pairs = []
    for index, module in enumerate(leaves):
        if not isinstance(module, nn.Linear):
            continue
        following = leaves[index + 1] if index + 1 < len(leaves) else None
        found = next((a for a in ACTIVATIONS.values() if following is not None and a.recognises(following)), None)
        pairs.append((module, following if found is not None else None, found))
    return pairs


def trace_layers(model: nn.Module, X: Tensor | np.ndarray, y: Tensor | np.ndarray) -> list[LayerTrace]:
    """One forward and backward pass of the mean cross-entropy of ``model(X)`` against classes ``y``.

    Parameters
    ----------
    model : nn.Module
        A network whose ``nn.Linear`` layers are each followed by their activation module (or none),
        e.g. an ``nn.Sequential`` MLP; its parameters' ``.grad`` are left untouched.
    X : array or tensor, shape (n_samples, in_features)
    y : array or tensor of int, shape (n_samples,)
        Class indices of the logits the model outputs.

    Returns
    -------
    list of LayerTrace
        One per ``nn.Linear``, input side first.
    """
    pairs = _activation_after(model)
    if not pairs:
        raise ValueError("the model has no nn.Linear layer to diagnose")
    weight = pairs[0][0].weight
    X = as_float_tensor(X, "X", dtype=weight.dtype, device=weight.device, n_features=pairs[0][0].in_features)
    y = torch.as_tensor(y, device=weight.device).long()
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must hold one class index per row of X ({X.shape[0]}), got shape {tuple(y.shape)}")
    captured: dict[int, Tensor] = {}
    hooks = []
    for index, (linear, after, _) in enumerate(pairs):
        hooks.append(linear.register_forward_hook(lambda m, i, o, key=2 * index: captured.__setitem__(key, o)))
        if after is not None:
            hooks.append(after.register_forward_hook(lambda m, i, o, key=2 * index + 1: captured.__setitem__(key, o)))
    was_training = model.training
    model.eval()
    try:
        output = model(X)
        if output.ndim != 2 or int(y.max()) >= output.shape[1]:
            raise ValueError(f"y holds class index {int(y.max())} but the model outputs shape {tuple(output.shape)}")
        parameters = [linear.weight for linear, _, _ in pairs]
        pre = [captured[2 * index] for index in range(len(pairs))]
        loss = F.cross_entropy(output, y)
        gradients = torch.autograd.grad(loss, pre + parameters)
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    traces = []
    for index, (linear, _after, found) in enumerate(pairs):
        z = pre[index].detach()
        a = captured.get(2 * index + 1, z).detach()
        traces.append(
            LayerTrace(
                z.cpu(),
                a.cpu(),
                gradients[index].cpu(),
                linear.weight.detach().cpu(),
                gradients[len(pairs) + index].cpu(),
                found,
            )
        )
    return traces


def layer_statistics(model: nn.Module, X: Tensor | np.ndarray, y: Tensor | np.ndarray) -> list[dict]:
    """The statistics of the module docstring for every ``nn.Linear`` of ``model`` on ``(X, y)``.

    Returns
    -------
    list of dict
        One per layer, input side first: ``layer`` (1-based), ``units``, ``activation`` (name or
        None), ``mean``, ``std``, ``saturated`` and ``dead_units`` (None without a non-linearity),
        ``gradient_std``, ``gradient_norm``, ``weight_gradient_norm``, ``weight_std``.
    """
    records = []
    for index, trace in enumerate(trace_layers(model, X, y)):
        nonlinear = trace.nonlinearity is not None and trace.nonlinearity.name != "identity"
        flat = trace.nonlinearity.flat(trace.pre_activation) if nonlinear else None
        records.append(
            {
                "layer": index + 1,
                "units": trace.pre_activation.shape[1],
                "activation": trace.nonlinearity.name if trace.nonlinearity is not None else None,
                "mean": float(trace.activation.mean()),
                "std": float(trace.activation.std()),
                "saturated": float(flat.float().mean()) if nonlinear else None,
                "dead_units": float(flat.all(0).float().mean()) if nonlinear else None,
                "gradient_std": float(trace.gradient.std()),
                "gradient_norm": float(trace.gradient.norm()),
                "weight_gradient_norm": float(trace.weight_gradient.norm()),
                "weight_std": float(trace.weight.std()),
            }
        )
    return records


@torch.no_grad()
def symmetry_score(layer: nn.Linear, *, rtol: float = 1e-4, atol: float = 1e-7) -> int:
    r"""The number of distinct units of ``layer``: rows of :math:`[W \mid b]` that differ.

    Two units are the same when every incoming weight and the bias differ by at most
    ``atol + rtol * max|[W | b]|``; units are grouped greedily, each joining the first earlier
    representative it matches. A layer initialised with zeros or a constant keeps a score of 1
    through training: identical units receive identical gradients.
    """
    rows = layer.weight.detach().double()
    if layer.bias is not None:
        rows = torch.cat([rows, layer.bias.detach().double()[:, None]], 1)
    tolerance = atol + rtol * float(rows.abs().max())
    distance = torch.cdist(rows, rows, p=float("inf"))
    covered = torch.zeros(rows.shape[0], dtype=torch.bool)
    count = 0
    for unit in range(rows.shape[0]):
        if not covered[unit]:
            count += 1
            covered |= distance[unit] <= tolerance
    return count


def symmetry_scores(model: nn.Module, **tolerances: float) -> list[int]:
    """:func:`symmetry_score` of every hidden ``nn.Linear`` (all but the last) of ``model``."""
    return [symmetry_score(layer, **tolerances) for layer in linear_layers(model)[:-1]]


def _histogram(values: Tensor, low: float, high: float, bins: int) -> Tensor:
    counts = torch.histc(values.float().flatten(), bins=bins, min=low, max=high)
    return counts / max(values.numel(), 1)


def draw_layer_histograms(
    traces: list[LayerTrace], left: Any, right: Any, *, bins: int = 60, legend: bool = True
) -> None:
    r"""Draw Glorot & Bengio's (2010, figures 3-7) histograms on two matplotlib axes.

    One curve per hidden layer (all layers but the output one): the fraction of (row, unit)
    entries per bin of the activations (``left``) and of the back-propagated gradients
    :math:`\partial L / \partial z` (``right``, a symmetric range set by the largest magnitude).
    """
    import matplotlib.pyplot as plt

    hidden = traces[:-1] if len(traces) > 1 else traces
    low = min(float(t.activation.min()) for t in hidden)
    high = max(float(t.activation.max()) for t in hidden)
    low, high = (low - 0.5, high + 0.5) if high - low < 1e-9 else (low, high)
    span = max(float(t.gradient.abs().max()) for t in hidden) or 1.0
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(hidden)))
    for index, (trace, colour) in enumerate(zip(hidden, colours, strict=False)):
        for axis, values, (a, b) in ((left, trace.activation, (low, high)), (right, trace.gradient, (-span, span))):
            counts = _histogram(values, a, b, bins).numpy()
            axis.step(np.linspace(a, b, bins + 1)[:-1], counts, where="post", color=colour, label=f"layer {index + 1}")
    right.ticklabel_format(axis="x", style="sci", scilimits=(-2, 2))
    for axis in (left, right):
        axis.tick_params(labelsize=6)
    if legend:
        left.legend(fontsize=5, ncol=2)


def filter_mosaic(
    weight: Tensor, *, n: int = 64, columns: int | None = None, image_shape: tuple[int, int] | None = None
) -> np.ndarray:
    """The first ``n`` rows of a first-layer weight matrix tiled as images (square by default),
    each scaled to [-1, 1] by its largest magnitude, separated by 1-pixel borders (NaN)."""
    weight = weight.detach().cpu().double()[:n]
    side = int(round(weight.shape[1] ** 0.5))
    height, width = image_shape or (side, weight.shape[1] // side)
    columns = columns or int(np.ceil(np.sqrt(weight.shape[0])))
    rows = int(np.ceil(weight.shape[0] / columns))
    mosaic = np.full((rows * (height + 1) + 1, columns * (width + 1) + 1), np.nan)
    for index, filter_ in enumerate(weight):
        scale = float(filter_.abs().max()) or 1.0
        top, left = 1 + (index // columns) * (height + 1), 1 + (index % columns) * (width + 1)
        mosaic[top : top + height, left : left + width] = (filter_ / scale).reshape(height, width).numpy()
    return mosaic
