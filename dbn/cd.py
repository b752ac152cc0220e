r"""Contrastive divergence as one differentiable node: the free-energy difference.

The CD update of an RBM is the gradient of

.. math::  L = \frac1n \sum_{a} F(v^{data}_a) - \frac1m \sum_{b} F(\mathrm{sg}(v^{model}_b)),

where the model samples end a Gibbs chain and are held constant. Since
:math:`\partial F / \partial W = -E[h \mid v]\, v^\top`, :math:`\partial F / \partial b = -v`
(plus nothing from the base term) and :math:`\partial F / \partial c = -E[h \mid v]`,

.. math::

    \nabla_W L = \tfrac1m P_{model}^\top V_{model} - \tfrac1n P_{data}^\top V_{data}, \quad
    \nabla_b L = \overline{v^{model}} - \overline{v^{data}}, \quad
    \nabla_c L = \overline{p^{model}} - \overline{p^{data}}.

:class:`FreeEnergyDifference` computes ``L`` from pre-activations and hidden means that the
sampling chain has already produced, and returns exactly this gradient in its backward pass: two
accumulated matrix products for the weights, nothing recomputed. So a CD-1 step costs the five
products of a hand-written loop, while the gradient lands in ``.grad`` where ``torch.optim``,
schedulers, gradient clipping and DDP's all-reduce find it. ``tests/test_cd.py`` checks that it
equals autograd's gradient of the same expression written with :meth:`RBM.model_free_energy`.

:meth:`ContrastiveDivergence.set_gradients` is the same step without autograd, the one
:meth:`dbn.rbm.RBM.fit` runs: the chain writes into buffers allocated at the first step of each
batch shape (:class:`Workspace`) and the gradient into ``.grad`` tensors kept from step to step,
by the same operations in the same order (:func:`cd_gradients` is shared with the backward pass),
so its gradients are bit for bit those of ``forward`` and ``backward``
(``tests/test_speed_paths.py``); it skips the surrogate's value, which only a monitor reads,
unless ``track_steps`` is set.

A sparsity penalty (Hinton 2010, sec. 11) adds :math:`\lambda (q_j - p)` to the derivative with
respect to each hidden unit's total input on the data side; it enters as ``hidden_offset``, which
is subtracted from the data's hidden means.

Three options of :mod:`dbn.samplers` plug into the same step, and cost nothing when they are off:
a ``sampler`` replaces the persistent chains' Gibbs steps (fast persistent CD, parallel
tempering) and sees each step's final gradient, and ``centering`` replaces the gradient by the
centered one. Both act through a *gradient hook*, called on the three gradients where
:func:`cd_gradients` has written them: in :meth:`ContrastiveDivergence.set_gradients` on the
``.grad`` buffers, in the backward pass of :class:`FreeEnergyDifference` on its results, by the
same operations, so the two paths stay bit for bit equal with these options too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from dbn.energy import EnergyModel
from dbn.precision import autocast
from dbn.samplers import Centering, Gradients, NegativeSampler
from dbn.units import BernoulliUnits, Units

__all__ = ["Buffers", "ContrastiveDivergence", "FreeEnergyDifference", "Workspace", "cd_gradients",
           "free_energy_difference", "surrogate_value"]


def _mean_free_energy(visible: Units, hidden: Units, v: Tensor, x: Tensor, visible_bias: Tensor) -> Tensor:
    """Mean free energy of the rows ``v`` with hidden inputs ``x``, accumulated in the bias dtype."""
    dtype = visible_bias.dtype
    base = visible.base(v).sum(dtype=dtype) - v.sum(0, dtype=dtype) @ visible_bias
    return (base - hidden.log_partition(x).sum(dtype=dtype)) / v.shape[0]


class Buffers(dict):
    """Named buffers of one batch shape (a dict, name -> tensor): ``buffers(name, shape, dtype)``
    is the tensor of that name, allocated the first time it is asked for. A name stands for one
    shape and dtype within a set of buffers."""

    def __init__(self, device: torch.device) -> None:
        super().__init__()
        self.device = device

    def __call__(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
        tensor = self.get(name)
        if tensor is None:
            tensor = self[name] = torch.empty(shape, dtype=dtype, device=self.device)
        return tensor


class Workspace:
    """The buffers of a training run: one :class:`Buffers` per batch shape, allocated at its first step.

    A run asks for the same names and shapes at every step (a ragged last batch adds a second
    set), so after the first step nothing is allocated: the memory stays warm in the caches, and
    on a GPU its addresses are the same at every replay of a CUDA graph.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.groups: dict[Any, Buffers] = {}

    def __call__(self, key: Any) -> Buffers:
        """The buffers for ``key`` (a batch shape, or any name for buffers of fixed shapes)."""
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Buffers(self.device)
        return group

    def tensors(self) -> list[Tensor]:
        """Every buffer."""
        return [tensor for group in self.groups.values() for tensor in group.values()]


def cd_gradients(
    v_data: Tensor,
    p_data: Tensor,
    v_model: Tensor,
    p_model: Tensor,
    scales: tuple[Tensor, Tensor],
    dtype: torch.dtype,
    compute: torch.dtype,
    needs: tuple[bool, bool, bool] = (True, True, True),
    out: Buffers | None = None,
    grads: tuple[Tensor, Tensor, Tensor] | None = None,
) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    """The gradient of the CD surrogate with respect to the weights, visible and hidden biases.

    ``scales`` are :math:`g/m` and :math:`g/n` (``g`` the incoming gradient, 1 for a loss), ``dtype``
    the parameters' dtype and ``compute`` that of the chain's products (bfloat16 under autocast).
    With ``out`` and ``grads`` the intermediates are written into buffers and the gradients into
    ``grads``; the operations (and so the bits of the result) are the same either way.
    """
    scale_model, scale_data = scales
    grad_weight, grad_visible, grad_hidden = (None, None, None) if grads is None else grads
    # (g/m) (P_model^T V_model - (m/n) P_data^T V_data): the tensor g never becomes a Python
    # number, so this never waits for the device (and can be captured in a CUDA graph)
    ratio = -v_model.shape[0] / v_data.shape[0]
    if needs[0] and compute != dtype and ratio == -1:
        # reduced precision: the two terms nearly cancel, so round only their difference, by
        # taking it inside one product (accumulated in float32): [P_m; P_d]^T [V_m; -V_d]
        p_stacked = v_stacked = product = None
        if out is None:
            negated = v_data.to(compute).neg()
        else:  # the same rounding, then the same (exact) negation, in buffers
            rows, (n_hidden, n_visible) = v_model.shape[0] + v_data.shape[0], grad_weight.shape
            p_stacked = out("p_stacked", (rows, n_hidden), compute)
            v_stacked = out("v_stacked", (rows, n_visible), compute)
            product = out("product", (n_hidden, n_visible), compute)
            negated = out("v_negated", v_data.shape, compute).copy_(v_data).neg_()
        stacked_p = torch.cat([p_model.to(compute), p_data.to(compute)], out=p_stacked)
        stacked_v = torch.cat([v_model.to(compute), negated], out=v_stacked)
        product = torch.mm(stacked_p.t(), stacked_v, out=product)
        grad_weight = product.to(dtype) if grads is None else grad_weight.copy_(product)
        grad_weight.mul_(scale_model)
    elif needs[0]:
        # full precision (also for reduced precision with unequal row counts, PCD with
        # n_chains != batch size): .to(dtype) is a no-op for float32 inputs
        grad_weight = torch.mm(p_model.t().to(dtype), v_model.to(dtype), out=grad_weight)
        grad_weight.addmm_(p_data.t().to(dtype), v_data.to(dtype), alpha=ratio).mul_(scale_model)
    if needs[1]:
        grad_visible = torch.sum(v_model, 0, dtype=dtype, out=grad_visible)
        term = None if out is None else out("v_sum", grad_visible.shape, dtype)
        grad_visible.mul_(scale_model).sub_(torch.sum(v_data, 0, dtype=dtype, out=term).mul_(scale_data))
    if needs[2]:
        grad_hidden = torch.sum(p_model, 0, dtype=dtype, out=grad_hidden)
        term = None if out is None else out("p_sum", grad_hidden.shape, dtype)
        grad_hidden.mul_(scale_model).sub_(torch.sum(p_data, 0, dtype=dtype, out=term).mul_(scale_data))
    return grad_weight, grad_visible, grad_hidden


class FreeEnergyDifference(torch.autograd.Function):
    """Mean free energy of the data minus that of the model samples; see the module docstring."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        weight: Tensor,
        visible_bias: Tensor,
        hidden_bias: Tensor,
        v_data: Tensor,
        x_data: Tensor,
        p_data: Tensor,
        v_model: Tensor,
        x_model: Tensor,
        p_model: Tensor,
        visible: Units,
        hidden: Units,
        hook: Callable[[Gradients], Any] | None = None,
    ) -> Tensor:
        ctx.save_for_backward(v_data, p_data, v_model, p_model)
        ctx.compute_dtype = x_data.dtype  # bfloat16 under autocast: the products of backward too
        ctx.hook = hook
        with torch.autocast(v_data.device.type, enabled=False):
            return _mean_free_energy(visible, hidden, v_data, x_data, visible_bias) - _mean_free_energy(
                visible, hidden, v_model, x_model, visible_bias
            )

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        v_data, p_data, v_model, p_model = ctx.saved_tensors
        scales = (grad / v_model.shape[0], grad / v_data.shape[0])
        hook = ctx.hook
        needs = tuple(ctx.needs_input_grad[:3]) if hook is None else (True, True, True)
        gradients = cd_gradients(v_data, p_data, v_model, p_model, scales, grad.dtype, ctx.compute_dtype, needs)
        if hook is not None:
            hook(gradients)
        return gradients + (None,) * 9


def free_energy_difference(rbm: EnergyModel, v_data: Tensor, x_data: Tensor, p_data: Tensor, v_model: Tensor,
                           x_model: Tensor, p_model: Tensor, hidden_offset: Tensor | None = None,
                           hook: Callable[[Gradients], Any] | None = None) -> Tensor:
    """The CD surrogate of ``rbm`` from the chain's ends (all tensors computed without autograd).

    ``x`` are hidden pre-activations :math:`W v + c` and ``p`` the hidden means for the data and
    model rows. ``hidden_offset`` (per hidden unit) is added to the derivative with respect to
    the data's hidden inputs, and its penalty :math:`\\overline{\\text{offset} \\cdot x_{data}}`
    to the value. ``hook``, if given, is called in the backward pass on the three gradients
    (weights, visible and hidden biases, all computed), which it may change in place.
    """
    if hidden_offset is not None:
        p_data = p_data - hidden_offset
    loss = FreeEnergyDifference.apply(
        rbm.weight,
        rbm.visible_bias,
        rbm.hidden_bias,
        v_data,
        x_data,
        p_data,
        v_model,
        x_model,
        p_model,
        rbm.visible,
        rbm.hidden,
        hook,
    )
    if hidden_offset is not None:
        loss = loss + (x_data.mean(0) @ hidden_offset)
    return loss


def surrogate_value(rbm: EnergyModel, v_data: Tensor, x_data: Tensor, v_model: Tensor, x_model: Tensor,
                    hidden_offset: Tensor | None = None, precision: str = "float32") -> Tensor:
    """The value of :func:`free_energy_difference` alone (no autograd node), computed as there
    (the penalty's product under the autocast of ``precision``)."""
    with torch.autocast(v_data.device.type, enabled=False):
        loss = _mean_free_energy(rbm.visible, rbm.hidden, v_data, x_data, rbm.visible_bias) - _mean_free_energy(
            rbm.visible, rbm.hidden, v_model, x_model, rbm.visible_bias
        )
    if hidden_offset is not None:
        with autocast(precision, v_data.device):
            loss = loss + (x_data.mean(0) @ hidden_offset)
    return loss


class _Layers:
    """The chain's maps: through the model's own methods (allocating, under autocast where it is
    on), or, after :meth:`begin`, into buffers by the same operations.

    In the buffered form ``hidden_input`` and ``visible_input`` are the products of
    :meth:`dbn.rbm.RBM.hidden_input` (``W v + c``) and :meth:`~dbn.rbm.RBM.visible_input`
    (``W^T h + b``) with ``out=``; under bfloat16 their operands are first rounded to bfloat16 into
    buffers, as :func:`torch.autocast` rounds them (:meth:`begin` rounds the parameters once per
    step). Bernoulli units sample and take means in place; other unit types use their own
    (allocating) methods. Used without autograd only.
    """

    def __init__(self, rbm: EnergyModel, workspace: Workspace | None, precision: str) -> None:
        self.rbm, self.workspace = rbm, workspace
        self.dtype = rbm.weight.dtype
        self.compute = torch.bfloat16 if precision == "bfloat16" else self.dtype
        self.sample_dtype = torch.promote_types(self.compute, torch.float32)  # of the uniforms, as in BernoulliUnits
        self.out: Buffers | None = None
        self.bernoulli_hidden = self.bernoulli_visible = False
        self.gradients: tuple[Tensor, Tensor, Tensor] | None = None

    def begin(self, key: Any) -> _Layers:
        """Start a step whose batch shape is ``key``: its buffers, this step's parameters."""
        rbm, workspace, compute = self.rbm, self.workspace, self.compute
        self.out = workspace(key)
        self.bernoulli_hidden = type(rbm.hidden) is BernoulliUnits
        self.bernoulli_visible = type(rbm.visible) is BernoulliUnits
        self.parameters = weight, visible_bias, hidden_bias = rbm.weight, rbm.visible_bias, rbm.hidden_bias
        if compute != weight.dtype:
            cast = workspace("parameters")
            weight = cast("weight", weight.shape, compute).copy_(weight)
            visible_bias = cast("visible_bias", visible_bias.shape, compute).copy_(visible_bias)
            hidden_bias = cast("hidden_bias", hidden_bias.shape, compute).copy_(hidden_bias)
        self.weight, self.weight_t, self.visible_bias, self.hidden_bias = weight, weight.t(), visible_bias, hidden_bias
        if self.gradients is None:
            grads = workspace("gradients")
            self.gradients = tuple(grads(name, p.shape, p.dtype) for name, p in zip(
                ("weight", "visible_bias", "hidden_bias"), self.parameters, strict=True))
        return self

    def _cast(self, t: Tensor, name: str) -> Tensor:
        """``t`` rounded to the compute dtype into a buffer (the rounding autocast does)."""
        cast = self.out.get(name)
        if cast is None:
            cast = self.out(name, t.shape, self.compute)
        return cast.copy_(t)

    def hidden_input(self, v: Tensor, name: str) -> Tensor:
        if self.out is None:
            return self.rbm.hidden_input(v)
        return self._affine(v, self.hidden_bias, self.weight_t, name)

    def visible_input(self, h: Tensor, name: str) -> Tensor:
        if self.out is None:
            return self.rbm.visible_input(h)
        return self._affine(h, self.visible_bias, self.weight, name)

    def _affine(self, x: Tensor, bias: Tensor, weight: Tensor, name: str) -> Tensor:
        """``bias + x @ weight`` in the compute dtype, into the buffer ``name``."""
        if x.dtype != self.compute:
            x = self._cast(x, name + "_cast")
        result = self.out.get(name)
        if result is None:
            result = self.out(name, (x.shape[0], weight.shape[1]), self.compute)
        return torch.addmm(bias, x, weight, out=result)

    def hidden_mean(self, x: Tensor, name: str) -> Tensor:
        if self.out is None or not self.bernoulli_hidden:
            return self.rbm.hidden.mean(x)
        return torch.sigmoid(x, out=self.out(name, x.shape, x.dtype))

    def visible_mean(self, z: Tensor, name: str) -> Tensor:
        if self.out is None or not self.bernoulli_visible:
            return self.rbm.visible.mean(z)
        return torch.sigmoid(z, out=self.out(name, z.shape, z.dtype))

    def hidden_sample(self, x: Tensor, generator: torch.Generator, name: str, mean: Tensor | None = None) -> Tensor:
        if self.out is None or not self.bernoulli_hidden:
            units = self.rbm.hidden
            return units.sample(x, generator) if mean is None else units.sample(x, generator, mean=mean)
        return self._bernoulli(x if mean is None else None, mean, generator, name)

    def visible_sample(self, z: Tensor, generator: torch.Generator, name: str) -> Tensor:
        if self.out is None or not self.bernoulli_visible:
            return self.rbm.visible.sample(z, generator)
        return self._bernoulli(z, None, generator, name)

    def _bernoulli(self, z: Tensor | None, p: Tensor | None, generator: torch.Generator, name: str) -> Tensor:
        """BernoulliUnits.sample in buffers: the same float32 uniforms (``uniform_`` is what
        ``torch.rand`` calls), and 1 where u < p. There it is ceil(p - u) (and abs for ceil's -0):
        for p in [0, 1] and u in [0, 1) the difference of two floats is positive exactly when p > u,
        so ``p > u`` written as a float is the same number, in one operation instead of three (a
        NaN probability, possible only once the parameters are NaN, gives 0 here, NaN there)."""
        out = self.out
        if p is None:
            p = torch.sigmoid(z, out=out(name + "_mean", z.shape, z.dtype))
        u = out(name, p.shape, self.sample_dtype).uniform_(generator=generator)
        return torch.gt(p, u, out=u)


class ContrastiveDivergence(nn.Module):
    """The CD-k (or PCD-k) objective of an RBM: ``loss = objective(v_data)``, then ``backward``.

    The forward pass runs the Gibbs chain without autograd, from the data (CD) or from the
    persistent chains (PCD), and returns :func:`free_energy_difference` of the chain's two ends.
    Everything it changes is changed in place on the device: the persistent chains, the running
    hidden activity of the sparsity penalty, and (with ``track_steps``) the running sums of the
    surrogate and the reconstruction error that :meth:`read_monitors` averages. A step therefore
    never waits for the device, has the same
    memory addresses every time (so it can be captured in a CUDA graph, :mod:`dbn.graphs`), and
    can be wrapped in ``DistributedDataParallel``, whose all-reduce then averages the CD gradient.

    :meth:`set_gradients` is the step without autograd and without allocation (see the module
    docstring); :meth:`epoch_monitors` computes ``cd_loss`` and ``batch_recon_mse`` once, on given
    rows, for runs that do not track them at every step (:meth:`dbn.rbm.RBM.fit`).

    Parameters
    ----------
    rbm : EnergyModel
        The model; its parameters are this module's parameters.
    k : int
        Gibbs steps per update.
    generator : torch.Generator
        Source of every random number drawn by the chain.
    chains : Tensor, optional
        Persistent chains (PCD); ``None`` for CD. Kept as a plain attribute, not a buffer: chains
        are per process and must not be broadcast or saved with the model.
    sample_visible : bool
        In CD, sample the final visible state instead of using its probabilities.
    sparsity_target, sparsity_cost : float, optional
        Target hidden activity :math:`p` and penalty weight :math:`\\lambda` (Hinton 2010, sec. 11).
    precision : str
        ``"bfloat16"`` runs the chain and the gradient's products under :func:`torch.autocast`
        (:mod:`dbn.precision`).
    track_steps : bool
        Add every step's surrogate value and reconstruction error to the running sums read by
        :meth:`read_monitors` (``forward`` always returns the value; :meth:`set_gradients`
        computes it only for this).
    sampler : NegativeSampler, optional
        With ``chains``, moves them instead of the plain PCD-k chain and sees every step's final
        gradient (:class:`dbn.samplers.FastWeights`, :class:`dbn.samplers.ParallelTempering`).
    centering : Centering, optional
        Replaces every step's gradient by the centered one (:class:`dbn.samplers.Centering`),
        after moving its offsets with the step's means. The surrogate's value is unchanged.
    """

    def __init__(
        self,
        rbm: EnergyModel,
        *,
        k: int,
        generator: torch.Generator,
        chains: Tensor | None = None,
        sample_visible: bool = False,
        sparsity_target: float | None = None,
        sparsity_cost: float = 0.0,
        precision: str = "float32",
        track_steps: bool = True,
        sampler: NegativeSampler | None = None,
        centering: Centering | None = None,
    ) -> None:
        super().__init__()
        if sampler is not None and chains is None:
            raise ValueError("a sampler moves persistent chains: pass chains as well")
        self.rbm = rbm
        self.sampler, self.centering = sampler, centering
        self.gradient_hook = None if sampler is None and centering is None else self._finish_gradients
        self.k = k
        self.generator = generator
        self.chains = chains
        self.sample_visible = sample_visible
        self.precision = precision
        self.track_steps = track_steps
        device, dtype = rbm.weight.device, rbm.weight.dtype
        self.sparsity = None
        if sparsity_target is not None and sparsity_cost > 0:
            self.sparsity = (sparsity_target, sparsity_cost)
            self.running_activity = torch.full((rbm.n_hidden,), sparsity_target, device=device, dtype=dtype)
        # running sums of cd_loss and batch_recon_mse, and the number of batches
        self.totals = torch.zeros(3, device=device, dtype=torch.float64)
        self.workspace = Workspace(device)
        self.layers = _Layers(rbm, self.workspace, precision)
        self.scales: dict[tuple[int, int], tuple[Tensor, Tensor]] = {}

    def _chain(self, v_data: Tensor, layers: _Layers, generator: torch.Generator,
               chains: Tensor | None) -> tuple[Tensor, ...]:
        """The Gibbs chain: ``x_data, p_data, v_model, x_model, p_model`` (no autograd)."""
        x_data = layers.hidden_input(v_data, "x_data")
        p_data = layers.hidden_mean(x_data, "p_data")
        if self.sampler is not None:
            v_model = self.sampler.sample(chains, generator, self.k)
            x_model = layers.hidden_input(v_model, "x_model")
            return x_data, p_data, v_model, x_model, layers.hidden_mean(x_model, "p_model")
        if chains is None:
            h = layers.hidden_sample(x_data, generator, "h", mean=p_data)
        else:
            h = layers.hidden_sample(layers.hidden_input(chains, "x_chains"), generator, "h")
        k = self.k
        for step in range(k):
            z = layers.visible_input(h, "z")
            if step == k - 1 and chains is None and not self.sample_visible:
                v_model = layers.visible_mean(z, "v_mean")
            else:
                v_model = layers.visible_sample(z, generator, "v_sample")
            x_model = layers.hidden_input(v_model, "x_model")
            if step < k - 1:
                h = layers.hidden_sample(x_model, generator, "h")
        p_model = layers.hidden_mean(x_model, "p_model")
        return x_data, p_data, v_model, x_model, p_model

    def _offset(self, p_data: Tensor | None) -> Tensor | None:
        """The sparsity penalty's offset; with ``p_data``, after updating the running activity."""
        if self.sparsity is None:
            return None
        target, cost = self.sparsity
        if p_data is not None:
            self.running_activity.mul_(0.9).add_(p_data.mean(0), alpha=0.1)
        # d/dx of the cross-entropy between target and running activity is (q - p)
        return cost * (self.running_activity - target)

    def forward(self, v_data: Tensor) -> Tensor:
        """The surrogate loss of one step on the (standardised) batch ``v_data``."""
        with autocast(self.precision, v_data.device):
            with torch.no_grad():
                x_data, p_data, v_model, x_model, p_model = self._chain(
                    v_data, _Layers(self.rbm, None, self.precision), self.generator, self.chains
                )
                offset = self._offset(p_data)
                if self.centering is not None:
                    self.centering.update(v_data, p_data, v_model, p_model)
            loss = free_energy_difference(self.rbm, v_data, x_data, p_data, v_model, x_model, p_model, offset,
                                          self.gradient_hook)
        with torch.no_grad():
            if self.chains is not None:
                self.chains.copy_(v_model)
            if self.track_steps:
                self._add_to_totals(loss.detach(), v_data, v_model)
        return loss

    def set_gradients(self, v_data: Tensor) -> None:
        """One step's CD gradient on the (standardised) batch ``v_data``, written into the ``.grad``
        of the weights and biases (replacing what was there), without autograd.

        The same chain and gradient as :meth:`forward` followed by ``backward`` (bit for bit), with
        every intermediate in the buffers of :attr:`workspace`, and the ``.grad`` tensors kept from
        one call to the next: with Bernoulli units in float32 a step allocates nothing after the
        first of its batch shape (other unit types allocate in their own methods, bfloat16 in the
        float32 sums of its bias gradients). The persistent chains and the running activity
        change as in :meth:`forward`; the surrogate's value is computed only with ``track_steps``.
        """
        if torch.is_grad_enabled():  # (a caller that runs many steps disables it once, around them)
            with torch.no_grad():
                return self.set_gradients(v_data)
        chains = self.chains
        n_data, n_model = v_data.shape[0], v_data.shape[0] if chains is None else chains.shape[0]
        layers = self.layers.begin((n_data, n_model))
        x_data, p_data, v_model, x_model, p_model = self._chain(v_data, layers, self.generator, chains)
        offset = self._offset(p_data)
        if self.centering is not None:
            self.centering.update(v_data, p_data, v_model, p_model)
        if offset is not None:
            kind = torch.promote_types(p_data.dtype, offset.dtype)
            p_data = torch.sub(p_data, offset, out=layers.out("p_offset", p_data.shape, kind))
        scales = self.scales.get((n_model, n_data))
        if scales is None:  # 1/m and 1/n as backward computes them from a unit gradient
            one = torch.ones((), dtype=layers.dtype, device=v_data.device)
            scales = self.scales[n_model, n_data] = (one / n_model, one / n_data)
        gradients = layers.gradients
        cd_gradients(v_data, p_data, v_model, p_model, scales, layers.dtype, layers.compute, out=layers.out,
                     grads=gradients)
        if self.gradient_hook is not None:
            self.gradient_hook(gradients)
        for parameter, gradient in zip(layers.parameters, gradients, strict=True):
            if parameter.grad is not gradient:
                parameter.grad = gradient
        if chains is not None:
            chains.copy_(v_model)
        if self.track_steps:
            loss = surrogate_value(layers.rbm, v_data, x_data, v_model, x_model, offset, self.precision)
            self._add_to_totals(loss, v_data, v_model)

    def _finish_gradients(self, gradients: Gradients) -> None:
        """The gradient hook: the centered gradient (in place), then the sampler sees it."""
        if self.centering is not None:
            self.centering.transform_(gradients)
        if self.sampler is not None:
            self.sampler.observe(gradients)

    def _add_to_totals(self, loss: Tensor, v_data: Tensor, v_model: Tensor) -> None:
        if self.chains is None:
            error = (v_data - v_model).square().mean(dtype=torch.float64)
        else:
            error = torch.zeros((), device=v_data.device, dtype=torch.float64)
        self.totals.add_(torch.stack([loss.double(), error, torch.ones_like(error)]))

    def read_monitors(self) -> dict[str, float | None]:
        """Means of ``cd_loss`` and ``batch_recon_mse`` since the last call (one device sync)."""
        loss, error, batches = self.totals.tolist()
        self.totals.zero_()
        if batches == 0:
            return {"cd_loss": None, "batch_recon_mse": None}
        loss, error = loss / batches, error / batches
        return {"cd_loss": loss, "batch_recon_mse": None if self.chains is not None else error}

    @torch.no_grad()
    def epoch_monitors(self, v_rows: Tensor, generator: torch.Generator) -> dict[str, float | None]:
        """``cd_loss`` and ``batch_recon_mse`` of the current model on the (standardised) rows ``v_rows``.

        CD: the surrogate and the reconstruction error of one CD-k chain started at ``v_rows``,
        whose random numbers come from ``generator`` (not the training generator, whose sequence
        this leaves alone). PCD: the surrogate between ``v_rows`` and the persistent chains as they
        are (no random numbers); ``batch_recon_mse`` is None. Computed in the parameters' dtype,
        the running activity of the sparsity penalty read, not updated.
        """
        rbm = self.rbm
        if self.chains is None:
            x_data, _, v_model, x_model, _ = self._chain(v_rows, _Layers(rbm, None, "float32"), generator, None)
            error = float((v_rows - v_model).square().mean(dtype=torch.float64))
        else:
            x_data, v_model, error = rbm.hidden_input(v_rows), self.chains, None
            x_model = rbm.hidden_input(v_model)
        loss = surrogate_value(rbm, v_rows, x_data, v_model, x_model, self._offset(None))
        return {"cd_loss": float(loss), "batch_recon_mse": error}
