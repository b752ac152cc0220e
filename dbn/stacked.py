r"""Plain MLPs and many of them evaluated as one: the networks the comparisons train.

- :func:`build_mlp` — ``Linear, [BatchNorm1d], f, ..., Linear``: one network of given sizes;
- :func:`architecture` — the layers of a network by type and settings, the key under which
  networks can be stacked together;
- :class:`StackedMLP` — ``M`` networks of one architecture as one module: every layer's weights
  in one tensor, the ``M`` products of a layer in one grouped matrix product
  (``torch.baddbmm``), and :meth:`StackedMLP.unstack` to get any of them back as a plain
  ``nn.Sequential``.

The stacked weights are held transposed, (M, in, out), the layout in which the grouped products
take them as they are: with the models' own (out, in) layout every product would read a
transposed view and every weight gradient would come out transposed and be copied into the
parameter's layout, which costs 16-21% of a training step of 50 networks of 3 x 32 to 3 x 128
ReLU units on the digits (``benchmarks/compare_speed.py``; ``docs/performance.md``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from dbn.init import get_activation

__all__ = ["StackedMLP", "architecture", "build_mlp"]

_NORM_STATE = ("weight", "bias", "running_mean", "running_var")


def build_mlp(
    n_inputs: int, hidden: Sequence[int], n_outputs: int, activation: str, *, batchnorm: bool = False
) -> nn.Sequential:
    """``Linear, [BatchNorm1d], f, Linear, ..., Linear``: the hidden sizes, then a linear output layer.

    Each hidden linear layer has ``pieces * width`` outputs (:attr:`dbn.init.Activation.pieces`:
    ``k`` for maxout, whose module maps them to ``width`` units); with ``batchnorm`` an
    ``nn.BatchNorm1d`` (torch's defaults) normalises them before the activation.

    Parameters
    ----------
    n_inputs, n_outputs : int
        Features of a row and outputs of the network (one logit per class).
    hidden : sequence of int
        Units of each hidden layer.
    activation : str
        A key of :data:`dbn.init.ACTIVATIONS`.
    batchnorm : bool
        Insert ``nn.BatchNorm1d`` after every hidden linear layer.
    """
    entry = get_activation(activation)
    sizes = [n_inputs, *hidden]
    modules: list[nn.Module] = []
    for below, above in zip(sizes, sizes[1:], strict=False):
        modules.append(nn.Linear(below, entry.pieces * above))
        if batchnorm:
            modules.append(nn.BatchNorm1d(entry.pieces * above))
        modules.append(entry.module())
    modules.append(nn.Linear(sizes[-1], n_outputs))
    return nn.Sequential(*modules)


def architecture(model: nn.Sequential) -> tuple[tuple[str, str], ...]:
    """The layers of a network by type and settings (shapes, slopes, pieces, norm options):
    networks with equal architectures can form one :class:`StackedMLP`."""
    return tuple((type(module).__name__, module.extra_repr()) for module in model)


class StackedMLP(nn.Module):
    r"""``M`` MLPs of one architecture and activation, evaluated together on the same batch.

    Layer :math:`l` holds the weights of every model in one tensor of shape
    (M, in, out), each model's ``nn.Linear`` weight transposed; a batch ``x`` of shape (B, in) gives
    outputs of shape (B, M, out), rows first as :func:`dbn.training.train_network` expects, through
    :math:`z = b + h W^\top` per model (``torch.baddbmm``). The activation acts on the last
    dimension (maxout included). Each ``nn.BatchNorm1d`` of the models becomes one
    ``nn.BatchNorm1d`` over the M x C channels of the batch laid out as (B, M C): every channel
    of every model gets its own batch statistics,
    running statistics and affine parameters, exactly as in the separate models, and
    ``train()``/``eval()`` switch all of them between batch and running statistics.

    Parameters
    ----------
    models : sequence of nn.Sequential
        Networks built by :func:`build_mlp` with the same sizes, activation and normalisation
        (``nn.BatchNorm1d`` with affine parameters and running statistics, as built there);
        their current weights and normalisation state are copied.

    Raises
    ------
    ValueError
        If ``models`` is empty or their architectures (:func:`architecture`) differ.
    """

    def __init__(self, models: Sequence[nn.Sequential]) -> None:
        super().__init__()
        if not models:
            raise ValueError("StackedMLP needs at least one model")
        architectures = [architecture(model) for model in models]
        if any(other != architectures[0] for other in architectures):
            raise ValueError(
                f"every model must have the same layer shapes and types, got {architectures[0]} and others"
            )
        layers = [[m for m in model if isinstance(m, nn.Linear)] for model in models]
        norms = [[m for m in model if isinstance(m, nn.BatchNorm1d)] for model in models]
        depth, n_norms = len(layers[0]), len(norms[0])
        self.weights = nn.ParameterList(_stack([m[i].weight.T for m in layers]) for i in range(depth))
        self.biases = nn.ParameterList(_stack([m[i].bias for m in layers]) for i in range(depth))
        self.norms = nn.ModuleList(_stack_norms([m[i] for m in norms]) for i in range(n_norms))
        self.activation = next(m for m in models[0] if not isinstance(m, (nn.Linear, nn.BatchNorm1d)))
        self._template = [copy.deepcopy(models[0])]  # a list: not registered, its parameters are not ours

    @property
    def n_models(self) -> int:
        """The number ``M`` of stacked networks."""
        return self.weights[0].shape[0]

    def forward(self, x: Tensor) -> Tensor:
        """Every model's outputs on the batch ``x`` (B, in): shape (B, M, out)."""
        h = x.expand(self.n_models, *x.shape)
        linear, norm = iter(zip(self.weights, self.biases, strict=True)), iter(self.norms)
        for module in self._template[0]:
            if isinstance(module, nn.Linear):
                weight, bias = next(linear)
                h = torch.baddbmm(bias.unsqueeze(1), h, weight)
            elif isinstance(module, nn.BatchNorm1d):
                models, rows, channels = h.shape
                side_by_side = h.transpose(0, 1).reshape(rows, models * channels)
                h = next(norm)(side_by_side).view(rows, models, channels).transpose(0, 1)
            else:
                h = self.activation(h)
        return h.transpose(0, 1)

    @torch.no_grad()
    def unstack(self, index: int) -> nn.Sequential:
        """Model ``index`` as an independent ``nn.Sequential`` (in eval mode)."""
        model = copy.deepcopy(self._template[0]).eval()
        linears = [m for m in model if isinstance(m, nn.Linear)]
        for layer, weight, bias in zip(linears, self.weights, self.biases, strict=True):
            layer.weight.copy_(weight[index].T)
            layer.bias.copy_(bias[index])
        for norm, stacked in zip([m for m in model if isinstance(m, nn.BatchNorm1d)], self.norms, strict=True):
            part = slice(index * norm.num_features, (index + 1) * norm.num_features)
            for name in _NORM_STATE:
                getattr(norm, name).copy_(getattr(stacked, name)[part])
            norm.num_batches_tracked.copy_(stacked.num_batches_tracked)
        return model


def _stack(tensors: list[Tensor]) -> nn.Parameter:
    """One parameter holding copies of ``tensors`` along a new first (model) dimension."""
    return nn.Parameter(torch.stack([tensor.detach() for tensor in tensors]))


@torch.no_grad()
def _stack_norms(norms: list[nn.BatchNorm1d]) -> nn.BatchNorm1d:
    """One ``nn.BatchNorm1d`` over the channels of all ``norms`` side by side, their state copied."""
    first = norms[0]
    stacked = nn.BatchNorm1d(len(norms) * first.num_features, eps=first.eps, momentum=first.momentum)
    stacked = stacked.to(first.weight.dtype)
    for name in _NORM_STATE:
        getattr(stacked, name).copy_(torch.cat([getattr(norm, name) for norm in norms]))
    stacked.num_batches_tracked.copy_(first.num_batches_tracked)
    return stacked
