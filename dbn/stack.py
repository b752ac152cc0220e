r"""Deep belief networks: a stack of RBMs trained greedily, then unrolled into feed-forward nets.

Greedy layer-wise pretraining (Hinton, Osindero & Teh 2006) trains RBM 1 on the data
:math:`h_0 = x`, then RBM :math:`l` on the activities of the layer below,

.. math::  h_l = f_l(W_l \tilde h_{l-1} + c_l), \qquad l = 1, \dots, L,

where :math:`f_l` is the conditional mean of the hidden units (the logistic sigmoid for
Bernoulli units) and :math:`\tilde h = (h - m) / s` is the standardisation an RBM with Gaussian
visible units applies to its data (the identity otherwise). An RBM's visible units take the type
its data calls for: Bernoulli above Bernoulli hidden units, Gaussian above ReLU or Gaussian ones.

The stack unrolls into feed-forward networks (:mod:`dbn.unroll`: :meth:`DeepBeliefNet.to_mlp`,
:meth:`DeepBeliefNet.to_autoencoder`), which the supervised layer (:mod:`dbn.supervised`) fine-tunes
by backpropagation. Each RBM's pretraining configuration is a :class:`dbn.config.CDConfig`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from dbn.batches import make_source
from dbn.config import CDConfig, restore_config
from dbn.distributed import broadcast_seed, setup
from dbn.energy import EnergyModel
from dbn.likelihood import dbn_log_likelihood_bound
from dbn.loop import Callback
from dbn.prior import check_upper_start, start_as_prior
from dbn.rbm import RBM, TRAINING_STATE_PREFIX
from dbn.resume import check_writable, pack_state, unpack_state
from dbn.serialization import (
    dtype_from_json,
    dtype_to_json,
    load_checkpoint,
    resolve_map_location,
    save_checkpoint,
)
from dbn.supervised import CHUNK, FineTuning, numpy_like
from dbn.units import Units, units_from_json, units_to_json
from dbn.unroll import unrolled_autoencoder, unrolled_mlp
from dbn.validation import (
    as_float_tensor,
    check_dtype,
    check_flag,
    check_positive,
    check_seed,
    is_array_like,
    resolve_device,
)

__all__ = [
    "PRETRAIN_DEFAULTS",
    "DeepBeliefNet",
    "PropagatedBatches",
    "generate",
    "interrupted",
    "layer_configs",
    "layer_states",
    "pretrain_layer",
    "propagate_up",
    "restore_layer_states",
    "start_as_prior_of_layer_below",
    "structure_from_config",
]

#: the keys of :meth:`DeepBeliefNet.config` that are constructor arguments (the rest configure pretraining)
_STRUCTURE = ("layers", "visible", "hidden", "dtype")
#: pretraining's defaults: :class:`~dbn.config.CDConfig` with 30 epochs per RBM (``RBM.fit`` runs 10): on
#: small data sets the features of the upper layers keep improving well after 10 epochs
PRETRAIN_DEFAULTS = CDConfig(epochs=30)


def layer_configs(
    config: CDConfig | Sequence[CDConfig | None] | None, overrides: Mapping[str, Any], n_rbms: int
) -> list[CDConfig | None]:
    """One :class:`CDConfig` per RBM: ``config`` (one for all, or one per RBM) with ``overrides``,
    each a value for every RBM or a list or tuple of one value per RBM.

    A ``None`` in a per-RBM list stays ``None`` unless an override replaces it (a stored
    configuration whose callable could not be imported; see :meth:`DeepBeliefNet.pretrain`).
    """
    if config is None or isinstance(config, CDConfig):
        configs: list[CDConfig | None] = [config or PRETRAIN_DEFAULTS] * n_rbms
    elif isinstance(config, (str, bytes)) or not isinstance(config, Sequence):
        raise TypeError(f"config must be a CDConfig or a list of {n_rbms} (one per RBM), got {type(config).__name__}")
    else:
        configs = list(config)
        if len(configs) != n_rbms or not all(item is None or isinstance(item, CDConfig) for item in configs):
            raise ValueError(f"config must be a CDConfig or a list of {n_rbms} (one per RBM), got {config!r}")
    for name, value in overrides.items():
        if isinstance(value, (list, tuple)) and len(value) != n_rbms:
            raise ValueError(f"{name} lists {len(value)} values but there are {n_rbms} RBMs")
    result = []
    for index, layer in enumerate(configs):
        layer_overrides = {
            name: value[index] if isinstance(value, (list, tuple)) else value for name, value in overrides.items()
        }
        result.append(
            None if layer is None and not layer_overrides else (layer or PRETRAIN_DEFAULTS).replace(**layer_overrides)
        )
    return result


@torch.no_grad()
def generate(rbms: Sequence[EnergyModel], n: int, gibbs_steps: int, generator: torch.Generator,
             progress: bool = False) -> Tensor:
    """``n`` samples of the directed DBN: Gibbs chains in the top RBM from its base-rate model (a bar
    over the steps with ``progress``), then one pass down, each layer sampled given the one above,
    the data layer as its conditional mean."""
    top = rbms[-1]
    start = top.visible.sample(top.base_rate_bias().expand(n, -1), generator)
    v = top.gibbs_chain(start, gibbs_steps, generator, progress)
    h = top.hidden.sample(top.hidden_input(v), generator)
    for depth, rbm in enumerate(reversed(rbms)):
        z = rbm.visible_input(h)
        h = rbm.unstandardize(rbm.visible.mean(z) if depth == len(rbms) - 1 else rbm.visible.sample(z, generator))
    return h


def layer_states(rbms: Sequence[Any]) -> tuple[list[dict], dict[str, Tensor]]:
    """Each RBM's fit configuration and interrupted training state, as JSON values and tensors to save."""
    layers, tensors = [], {}
    for index, rbm in enumerate(rbms):
        state, layer_tensors = pack_state(
            getattr(rbm, "training_state_", None), f"rbms.{index}.{TRAINING_STATE_PREFIX}"
        )
        fit_config = getattr(rbm, "fit_config_", None)
        layers.append({"fit_config": None if fit_config is None else fit_config.to_dict(), "training_state": state})
        tensors.update(layer_tensors)
    return layers, tensors


def restore_layer_states(rbms: Sequence[Any], layers: list[dict], state_dict: dict[str, Tensor]) -> None:
    """Give each RBM what :func:`layer_states` saved (nothing, for checkpoints older than the
    layer states); the states' tensors are taken out of ``state_dict``."""
    if not layers:
        return
    for index, (rbm, layer) in enumerate(zip(rbms, layers, strict=True)):
        if layer["fit_config"] is not None:
            rbm.fit_config_ = restore_config(CDConfig, layer["fit_config"])
        rbm.training_state_ = unpack_state(layer["training_state"], state_dict, f"rbms.{index}.{TRAINING_STATE_PREFIX}")


class PropagatedBatches:
    """The batches of ``source`` (an iterable of batches, e.g. a ``DataLoader`` or another
    :class:`PropagatedBatches`) passed through ``rbm``, one batch at a time: the input of the next
    RBM when pretraining streams its data. Re-iterable whenever ``source`` is; a ``(data, target)``
    batch contributes its data."""

    def __init__(self, source: Iterable[Any], rbm: EnergyModel, generator: torch.Generator | None = None) -> None:
        self.source, self.rbm, self.generator = source, rbm, generator

    def __iter__(self) -> Iterator[Tensor]:
        weight = self.rbm.weight
        for batch in self.source:
            data = batch[0] if isinstance(batch, (tuple, list)) else batch
            data = torch.as_tensor(data).to(device=weight.device, dtype=weight.dtype)
            yield propagate_up(self.rbm, data, self.generator)


@torch.no_grad()
def propagate_up(rbm: EnergyModel, H: Tensor, generator: torch.Generator | None = None, *,
                 progress: bool = False) -> Tensor:
    """Hidden means (or, with a generator, samples) of ``rbm`` for every row of ``H``, in chunks (a
    bar over them with ``progress``)."""
    out = H.new_empty(H.shape[0], rbm.n_hidden)
    chunks = range(0, H.shape[0], CHUNK)
    for start in tqdm(chunks, disable=not progress or len(chunks) < 2, leave=False, unit="chunk",
                      desc=f"propagating {H.shape[0]} rows up RBM {rbm.n_visible}-{rbm.n_hidden}"):
        x = rbm.hidden_input(rbm.standardize(H[start : start + CHUNK]))
        out[start : start + CHUNK] = rbm.hidden.mean(x) if generator is None else rbm.hidden.sample(x, generator)
    return out


class DeepBeliefNet(FineTuning, nn.Module):
    """A deep belief network: RBMs stacked and pretrained greedily, then fine-tuned unrolled.

    Parameters
    ----------
    layers : sequence of int
        The visible size, then each hidden size, e.g. ``[784, 500, 500, 2000]`` (three RBMs).
    visible : {"bernoulli", "gaussian"} or Units
        Unit type of the data layer: Bernoulli for data in [0, 1], Gaussian for real values
        (standardised by the first RBM), or any :class:`dbn.units.Units` instance, such as
        :class:`~dbn.units.SoftmaxUnits` for categorical data or :class:`~dbn.units.UnitGroups`.
    hidden : str, Units or sequence of them
        Hidden unit type ("bernoulli", "relu", "gaussian" or a ``Units`` instance), for every RBM
        or one per RBM; e.g. ``["bernoulli"] * 3 + ["gaussian"]`` for the linear code layer of a
        deep autoencoder. The visible units of RBM ``l > 1`` are Bernoulli above Bernoulli units,
        else Gaussian. Unit types are saved with the network (:func:`dbn.units.units_to_json`):
        the built-in ones by name or class and arguments, others by import path, so a unit type
        defined outside the package must be importable to be saved.
    dtype : torch.dtype
        Parameter dtype.
    config : CDConfig or sequence of CDConfig, optional
        How each RBM is pretrained (:class:`dbn.config.CDConfig`): one for every RBM, or one per
        RBM; default :data:`PRETRAIN_DEFAULTS` (``CDConfig(epochs=30)``).
    **rbm_options
        Fields of :class:`~dbn.config.CDConfig` overriding ``config`` (``epochs``, ``lr``,
        ``batch_size``, ``k``, ``momentum``, ``weight_decay``, ...). A list or tuple gives one
        value per RBM, e.g. ``lr=[0.1, 0.1, 0.1, 0.001]``.

    Attributes
    ----------
    rbms : nn.ModuleList of RBM
        The layers, bottom first; ``state_dict`` holds all of them.
    layer_configs : list of CDConfig
        The pretraining configuration of each RBM (saved with the network, so that a resumed
        :meth:`pretrain` needs no arguments).
    n_trained : Tensor (buffer)
        Number of RBMs pretrained so far (bottom first); :meth:`pretrain` resumes after them.
    mlp_ : nn.Sequential
        The unrolled network trained by :meth:`finetune` (logits for classification and for
        autoencoders of [0, 1] data).
    task_ : str
        The fine-tuning task.
    classes_ : numpy.ndarray
        Class labels (``task="classify"``).
    finetune_history_ : list of dict
        Per-epoch records of fine-tuning (see :func:`dbn.training.train_network`).
    finetune_config_ : TrainConfig
        The configuration of the last :meth:`finetune`.

    Examples
    --------
    >>> from dbn.datasets import load_digits
    >>> X, y = load_digits()
    >>> net = DeepBeliefNet([64, 128, 128], epochs=10).pretrain(X, progress=False)
    >>> net = net.finetune(X, y, epochs=30, progress=False)
    """

    def __init__(
        self,
        layers: Sequence[int],
        visible: str | Units = "bernoulli",
        hidden: str | Units | Sequence[str | Units] = "bernoulli",
        *,
        dtype: torch.dtype = torch.float32,
        config: CDConfig | Sequence[CDConfig] | None = None,
        **rbm_options: Any,
    ) -> None:
        super().__init__()
        if isinstance(layers, (str, bytes)) or not hasattr(layers, "__len__") or len(layers) < 2:
            raise ValueError(
                f"layers must list at least 2 sizes (the visible size, then each hidden size), got {layers!r}"
            )
        for index, size in enumerate(layers):
            check_positive(size, f"layers[{index}]", integer=True)
        n_rbms = len(layers) - 1
        dtype = check_dtype(dtype)
        hidden_types = [hidden] * n_rbms if isinstance(hidden, (str, Units)) else list(hidden)
        if len(hidden_types) != n_rbms:
            raise ValueError(f"hidden lists {len(hidden_types)} unit types but layers defines {n_rbms} RBMs")
        self.layer_configs = layer_configs(config, rbm_options, n_rbms)
        self.layers = [int(size) for size in layers]  # plain ints, also from a NumPy array
        self.dtype = dtype
        rbms = []
        for index, hidden_type in enumerate(hidden_types):
            below = visible if index == 0 else ("bernoulli" if rbms[-1].hidden.name == "bernoulli" else "gaussian")
            rbms.append(RBM(self.layers[index], self.layers[index + 1], visible=below, hidden=hidden_type, dtype=dtype))
        self.rbms = nn.ModuleList(rbms)
        self.register_buffer("n_trained", torch.zeros((), dtype=torch.int64))
        self.pretrain_seed_: int | None = None
        self.pretrain_checkpoint_: dict | None = None

    def extra_repr(self) -> str:
        return f"layers={self.layers}, n_trained={int(self.n_trained)}"

    @property
    def device(self) -> torch.device:
        return self.rbms[0].weight.device

    @property
    def pretrain_history_(self) -> list[list[dict]]:
        """The pretraining history of each RBM (its ``history_``), bottom first."""
        return [rbm.history_ for rbm in self.rbms]

    # ------------------------------------------------------------------ checks

    def check_input(self, X: Any, name: str = "X", *, clip: bool = False) -> Tensor:
        """``X`` as a checked tensor of the data layer's width, dtype and device. Training data of
        Bernoulli visible units must lie in [0, 1]; with ``clip`` (inference, validation rows) finite
        values outside it are clipped to it."""
        return as_float_tensor(X, name, dtype=self.dtype, device=self.device, n_features=self.layers[0],
                               unit_interval=self.rbms[0].visible.unit_interval, clip=clip)

    def check_pretrained(self, action: str) -> None:
        """Raise unless every RBM has been pretrained."""
        if int(self.n_trained) < len(self.rbms):
            raise RuntimeError(
                f"{action} needs a pretrained DeepBeliefNet ({int(self.n_trained)} "
                f"of {len(self.rbms)} layers trained): call pretrain(X) first"
            )

    # ------------------------------------------------------------------ pretraining

    def pretrain(
        self,
        X: Tensor | np.ndarray,
        *,
        epochs: int | Sequence[int] | None = None,
        config: CDConfig | Sequence[CDConfig] | None = None,
        X_val: Tensor | np.ndarray | None = None,
        propagate: str = "mean",
        upper_start: str = "random",
        resume: bool = True,
        checkpoint: str | Path | None = None,
        checkpoint_every: int | None = None,
        callbacks: Sequence[Callback] | None = None,
        progress: bool = True,
        device: torch.device | str | None = None,
        seed: int | None = None,
        **rbm_options: Any,
    ) -> DeepBeliefNet:
        """Train the RBMs greedily, bottom first, each on the activities of the one below.

        Parameters
        ----------
        X : array, tensor or iterable of batches, shape (n_samples, layers[0])
            Training data (in [0, 1] for Bernoulli visible units). An array is held on ``device``
            and each layer's input is computed once, in chunks, and freed when the next is made.
            An iterable (a ``DataLoader``, whose batches may be ``(data, target)`` pairs) streams:
            each RBM reads its batches passed through the trained layers below, one batch at a
            time, so no layer's input is ever held whole.
        epochs : int or sequence of int, optional
            Epochs per RBM (one value, or one per RBM); default the network's configuration.
        config : CDConfig or sequence of CDConfig, optional
            Replaces the network's configuration for this call (and is stored as the new one).
        X_val : array or tensor, optional
            Validation data, propagated alongside ``X`` for each RBM's monitors.
        propagate : {"mean", "sample"}
            Pass the hidden means upward (default) or a sample from them.
        upper_start : {"random", "prior"}
            Start each RBM above the first from random weights, or as the prior of the one below
            (:func:`dbn.prior.start_as_prior`; best with ``propagate="sample"``); not stored.
        resume : bool
            Keep the RBMs already trained (``n_trained``) and start at the first untrained one;
            ``False`` retrains every RBM.
        checkpoint : str or Path, optional
            Save the whole network there (atomically) after each RBM, so that an interrupted run
            can be resumed with ``DeepBeliefNet.load(checkpoint).pretrain(X)``: the checkpoint
            holds the configurations and the seed. In a distributed run only rank 0 writes it.
        checkpoint_every : int, optional
            Also save it every this many epochs inside each RBM's training, with the training
            state (:mod:`dbn.resume`), so that a run interrupted inside a layer continues there
            exactly (bit-identically on the CPU) instead of retraining the layer.
        callbacks : sequence of callables
            Passed to every :meth:`RBM.fit` (called after each epoch with ``(rbm, record)``).
        progress : bool
            One tqdm bar per RBM.
        device : str or torch.device, optional
            Where to train ("auto": CUDA when available); default where the network is.
        seed : int, optional
            Seeds one generator per RBM, derived from it by layer index, so that a resumed run
            trains the remaining RBMs exactly as an uninterrupted one would. Default: the seed
            of the run being resumed, else one drawn from torch's global generator.
        **rbm_options
            Fields of :class:`~dbn.config.CDConfig` overriding the configuration for this call
            (lists: per RBM); the configurations used are stored in ``layer_configs``. Callables
            (a momentum schedule, an optimiser factory) are saved by import path; one that cannot
            be imported again (a lambda) must be passed again when resuming from a file.

        Returns
        -------
        DeepBeliefNet
            ``self``; each RBM's ``history_`` holds its epochs.

        Notes
        -----
        Under ``torchrun`` each RBM trains data-parallel (see :meth:`RBM.fit`) with rank 0's
        ``seed``; every rank holds ``X`` and propagates all of it to the next layer itself.
        """
        seed = check_seed(seed)
        check_flag(resume, "resume")
        n_rbms = len(self.rbms)
        overrides = {**rbm_options, **({} if epochs is None else {"epochs": epochs})}
        configs = layer_configs(self.layer_configs if config is None else config, overrides, n_rbms)
        if propagate not in ("mean", "sample"):
            raise ValueError(f"propagate must be 'mean' or 'sample', got {propagate!r}")
        check_upper_start(upper_start, list(self.rbms))
        if not resume:
            self.n_trained.zero_()
        first = int(self.n_trained)
        missing = [index for index in range(first, n_rbms) if configs[index] is None]
        if missing:
            raise ValueError(
                f"the stored configuration of RBM(s) {missing} names a "
                "callable that cannot be imported: pass config= again"
            )
        stored = self.pretrain_checkpoint_ if resume and first < n_rbms else None
        if checkpoint is None and stored is not None and (first > 0 or interrupted(self.rbms[first])):
            checkpoint, checkpoint_every = stored["path"], stored["every"]  # go on checkpointing where the run did
        if checkpoint is not None:
            checkpoint = check_writable(checkpoint)
            self.pretrain_checkpoint_ = {"path": str(checkpoint), "every": checkpoint_every}
        if checkpoint_every is not None:
            check_positive(checkpoint_every, "checkpoint_every", integer=True)
        device = setup(resolve_device(device, self.device))
        self.to(device)
        streaming = not is_array_like(X)
        H = X if streaming else self.check_input(X, "X")
        H_val = None if X_val is None else self.check_input(X_val, "X_val", clip=True)
        if seed is None and first > 0:
            seed = self.pretrain_seed_
        seed = broadcast_seed(seed, device)
        self.layer_configs, self.pretrain_seed_ = configs, seed
        seeds = torch.randint(2**62, (2, n_rbms), generator=torch.Generator().manual_seed(seed)).tolist()
        for index, rbm in enumerate(self.rbms):
            if index >= first:
                pretrain_layer(self, index, H, H_val, seed=seeds[0][index], checkpoint=checkpoint,
                               every=checkpoint_every, resume=resume, prior_start=upper_start == "prior" and index > 0,
                               progress=progress, callbacks=callbacks, device=device)
            if index + 1 < n_rbms:
                generator = None if propagate == "mean" else torch.Generator(device=device).manual_seed(seeds[1][index])
                H = PropagatedBatches(H, rbm, generator) if streaming else propagate_up(rbm, H, generator,
                                                                                        progress=progress)
                H_val = None if H_val is None else propagate_up(rbm, H_val, generator)
        return self

    # ------------------------------------------------------------------ inference with the stack

    @torch.no_grad()
    def transform(self, X: Tensor | np.ndarray) -> Tensor | np.ndarray:
        """Top-layer features: the mean-field upward pass :math:`h_L` (NumPy in, NumPy out)."""
        self.check_pretrained("transform")
        H = self.check_input(X, "X", clip=True)
        for rbm in self.rbms:
            H = propagate_up(rbm, H)
        return numpy_like(H, X)

    @torch.no_grad()
    def sample(self, n: int, gibbs_steps: int = 1000, *, seed: int | None = None, progress: bool = False) -> Tensor:
        """Generate ``n`` samples: Gibbs chains in the top RBM, then one pass down the stack.

        The chains start from the top RBM's base-rate model (independent units with its data's
        mean) and run ``gibbs_steps`` alternating steps; the top-level visible sample then
        generates each layer below in turn from :math:`p(h_{l-1} \\mid h_l)` (the directed part
        of the DBN), and the data layer is returned as its conditional mean: probabilities in
        [0, 1] for Bernoulli data, in data units for Gaussian data. ``progress`` shows a bar over
        the Gibbs steps.

        Returns
        -------
        Tensor, shape (n, layers[0])
            On the network's device.
        """
        self.check_pretrained("sample")
        check_positive(n, "n", integer=True)
        check_positive(gibbs_steps, "gibbs_steps", integer=True)
        seed = check_seed(seed)
        if seed is None:
            seed = int(torch.randint(2**62, (1,)).item())
        generator = torch.Generator(device=self.device).manual_seed(seed)
        return generate(self.rbms, n, gibbs_steps, generator, progress)

    def log_likelihood_bound(
        self, X: Tensor | np.ndarray, *, n_samples: int = 10, method: str = "ais", return_error: bool = False,
        **options: Any,
    ) -> float | tuple[float, float]:
        """Variational lower bound on the mean log-likelihood of the rows of ``X`` under the DBN (nats).

        :math:`\\log p(v) \\ge E_q[\\log p^*(h_1) + \\log p(v \\mid h_1)] - \\log Z_{top} + \\mathcal H(q)`,
        :math:`q` the factorial posteriors of the RBMs below the top one (Salakhutdinov & Murray
        2008), from ``n_samples`` samples per row, :math:`\\log Z_{top}` by ``method`` ("ais", with
        the options of :func:`dbn.likelihood.ais` and ``generator``, or "exact"); ``return_error``
        adds its standard error. See :func:`dbn.likelihood.dbn_log_likelihood_bound`.
        """
        self.check_pretrained("log_likelihood_bound")
        return dbn_log_likelihood_bound(self.rbms, self.check_input(X, "X", clip=True), n_samples=n_samples,
                                        method=method, return_error=return_error, **options)

    # ------------------------------------------------------------------ unrolling

    def to_mlp(
        self, n_outputs: int | None = None, activation: str | None = None, *, generator: torch.Generator | None = None
    ) -> nn.Sequential:
        """The upward pass as a flat ``nn.Sequential`` of ``nn.Linear`` and activation modules.

        Parameters
        ----------
        n_outputs : int, optional
            Append a new output ``nn.Linear(layers[-1], n_outputs)`` (Xavier-uniform weights,
            zero biases) producing logits or regression outputs.
        activation : {"sigmoid", "relu", "tanh", "identity"}, optional
            Replace every hidden activation; by default each layer computes its units' mean
            (sigmoid for Bernoulli, ReLU for ReLU, none for Gaussian units), so that the hidden
            part equals :meth:`transform` to rounding error.
        generator : torch.Generator, optional
            For the output layer's initial weights.

        Returns
        -------
        nn.Sequential
            Independent copies of the weights (the RBMs are not changed by training it), on the
            network's device.
        """
        return unrolled_mlp(self.rbms, n_outputs, activation, generator=generator)

    def to_autoencoder(self) -> nn.Sequential:
        """The unrolled deep autoencoder (Hinton & Salakhutdinov 2006): ``encoder`` then ``decoder``
        (:func:`dbn.unroll.unrolled_autoencoder`). Encoder and decoder hold independent copies of
        the weights (untied); for Bernoulli data the decoder outputs logits."""
        return unrolled_autoencoder(self.rbms)

    # ------------------------------------------------------------------ persistence

    def config(self) -> dict:
        """The constructor arguments and each RBM's pretraining configuration, as JSON values."""
        return {
            "layers": list(self.layers),
            "visible": units_to_json(self.rbms[0].visible),
            "hidden": [units_to_json(rbm.hidden) for rbm in self.rbms],
            "dtype": dtype_to_json(self.dtype),
            "pretrain": [None if config is None else config.to_dict() for config in self.layer_configs],
        }

    @classmethod
    def from_config(cls, config: dict) -> DeepBeliefNet:
        """Build an untrained network from :meth:`config`'s output.

        A configuration written before the pretraining options became :class:`CDConfig` objects
        (flat ``RBM.fit`` keywords beside the constructor arguments) is read as overrides.
        """
        structure = structure_from_config(config)
        stored = config.get("pretrain")
        configs = (
            None if stored is None else [None if item is None else restore_config(CDConfig, item) for item in stored]
        )
        flat = {name: value for name, value in config.items() if name not in (*_STRUCTURE, "pretrain")}
        return cls(**structure, config=configs, **flat)

    def save(self, path: str | Path) -> None:
        """Write every RBM, the fine-tuned network if any, the configurations, the seed and the
        histories, atomically. In a distributed run only rank 0 writes."""
        layers, tensors = layer_states(self.rbms)
        finetuned, finetune_tensors = self.finetuned_state()
        tensors.update(finetune_tensors)
        extra = {
            "pretrain_history": self.pretrain_history_,
            "finetune": finetuned,
            "pretrain_seed": self.pretrain_seed_,
            "layers": layers,
            "pretrain_checkpoint": self.pretrain_checkpoint_,
        }
        save_checkpoint(
            path, kind="DeepBeliefNet", config=self.config(), state_dict={**self.state_dict(), **tensors}, extra=extra
        )

    @classmethod
    def load(cls, path: str | Path, *, map_location: torch.device | str = "cpu") -> DeepBeliefNet:
        """Read a network written by :meth:`save` (``torch.load(weights_only=True)`` underneath).

        Raises
        ------
        ValueError
            For a truncated, corrupted (checksum mismatch) or foreign file, a checkpoint of another
            class, or a ``map_location`` this machine does not have.
        """
        device = resolve_map_location(map_location)
        config, state_dict, extra = load_checkpoint(path, kind="DeepBeliefNet")
        net = cls.from_config(config)
        extra = extra or {}
        if extra.get("finetune"):
            net.restore_finetuned(extra["finetune"], state_dict)
        restore_layer_states(net.rbms, extra.get("layers", []), state_dict)
        net.load_state_dict(state_dict)
        net.pretrain_checkpoint_ = extra.get("pretrain_checkpoint")
        net.pretrain_seed_ = extra.get("pretrain_seed")
        for rbm, history in zip(net.rbms, extra.get("pretrain_history", []), strict=False):
            rbm.history_ = list(history)

        return net.to(device)


def structure_from_config(config: dict) -> dict:
    """The constructor arguments ``layers``, ``visible``, ``hidden`` and ``dtype`` of a
    :meth:`DeepBeliefNet.config`, read back from JSON values."""
    structure = {name: config[name] for name in _STRUCTURE if name in config}
    structure["dtype"] = dtype_from_json(structure.get("dtype", "float32"))
    if "visible" in structure:
        structure["visible"] = units_from_json(structure["visible"], argument="visible")
    if "hidden" in structure:
        hidden = structure["hidden"]
        structure["hidden"] = (units_from_json(hidden, argument="hidden") if isinstance(hidden, (str, dict))
                               else [units_from_json(item, argument="hidden") for item in hidden])
    return structure


def interrupted(rbm: Any) -> bool:
    """Whether ``rbm`` holds the training state of an interrupted run (:mod:`dbn.resume`)."""
    return getattr(rbm, "training_state_", None) is not None


def start_as_prior_of_layer_below(net: DeepBeliefNet, index: int, H: Tensor | Iterable[Any], seed: int) -> None:
    """Start RBM ``index`` as the prior of the one below (:func:`dbn.prior.start_as_prior`), with its
    data's mean and, for persistent CD, chains sampled from rows of its data (the statistics pass
    of training, :meth:`dbn.batches.BatchSource.statistics`: in a distributed run the mean of all
    ranks' rows, the chains from each rank's own)."""
    rbm, config = net.rbms[index], net.layer_configs[index]
    generator = torch.Generator(device=rbm.device).manual_seed((seed * 6364136223846793005 + 1) % 2**62)
    source = make_source(H, "H", batch_size=config.batch_size, device=rbm.device, dtype=rbm.weight.dtype,
                         generator=generator, n_features=rbm.n_visible, unit_interval=True)
    stats = source.statistics(n_features=rbm.n_visible, unit_interval=True, sample_size=config.monitor_size)
    chains = None
    if config.persistent:
        picked = torch.randint(stats.sample.shape[0], (config.n_chains or config.batch_size,), generator=generator,
                               device=stats.sample.device)
        chains = torch.bernoulli(stats.sample[picked].clamp(0, 1), generator=generator)
    start_as_prior(rbm, net.rbms[index - 1], data_mean=stats.mean, chains=chains, generator=generator)


def pretrain_layer(
    net: DeepBeliefNet,
    index: int,
    H: Tensor,
    H_val: Tensor | None,
    *,
    seed: int,
    checkpoint: Path | None,
    every: int | None,
    resume: bool,
    prior_start: bool = False,
    **fit_options: Any,
) -> None:
    """Train RBM ``index`` of ``net`` on ``H`` (or continue its interrupted run), then save the network;
    ``prior_start`` starts it as the prior of the RBM below (:func:`dbn.prior.start_as_prior`)."""
    rbm, n_rbms = net.rbms[index], len(net.rbms)
    description = f"layer {index + 1}/{n_rbms}: RBM {rbm.n_visible}-{rbm.n_hidden}"
    inside = None if checkpoint is None or every is None else (lambda _: net.save(checkpoint))
    if resume and interrupted(rbm):
        rbm.resume(H, X_val=H_val, description=description, checkpoint=inside, **fit_options)
    else:
        if prior_start:
            start_as_prior_of_layer_below(net, index, H, seed)
        rbm.fit(
            H,
            config=net.layer_configs[index],
            X_val=H_val,
            seed=seed,
            description=description,
            checkpoint=inside,
            checkpoint_every=every or 1,
            warm_start=prior_start,
            **fit_options,
        )
    net.n_trained.fill_(index + 1)
    if checkpoint is not None:
        net.save(checkpoint)
