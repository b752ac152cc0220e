r"""The deep belief net of Hinton, Osindero & Teh (2006) and its up-down fine-tuning.

The model ("A fast learning algorithm for deep belief nets", Neural Computation 18, 2006) is a
directed sigmoid belief net whose top two layers form an undirected associative memory that
models the penultimate layer jointly with a one-of-K label: for the MNIST net of their Figure 1,
``image (784) -> 500 -> 500 <-> 2000 <-> 10 labels``. Here the associative memory is a
:class:`~dbn.classrbm.ClassRBM` (features: the penultimate layer; hidden: the top layer), and each
lower layer :math:`l` has untied weights: recognition weights :math:`R_l` and biases :math:`r_l`
(up, :math:`q(s_{l+1} = 1 \mid s_l) = \sigma(R_l s_l + r_l)`) and generative weights :math:`G_l`
and biases :math:`g_l` (down, :math:`p(s_l = 1 \mid s_{l+1}) = \sigma(G_l s_{l+1} + g_l)`).

**Greedy pretraining** (their sec. 4 and 6.1) trains an RBM per lower layer on the activation
probabilities of the layer below, then the top RBM on the penultimate layer's probabilities with
the labels as a softmax group; the recognition weights start as the RBMs' weights and hidden
biases, the generative weights as their transposes and visible biases.

**The up-down algorithm** (their sec. 5 and Appendix B, "a contrastive version of the wake-sleep
algorithm"): for a minibatch of data :math:`s_0` and labels :math:`y`, with every state a binary
sample of its probabilities unless said otherwise,

1. *up (wake) pass*: :math:`s_{l+1} \sim \sigma(R_l s_l + r_l)` for each lower layer, then the top
   :math:`t \sim \sigma(W_{top}\, [s_L, e_y] + c_{top})`;
2. *CD in the associative memory*: from :math:`t^- = t`, ``k`` steps of alternating Gibbs sampling,
   :math:`s_L^- \sim \sigma(W_{pen}^\top t^- + b_{pen})`, label probabilities
   :math:`y^- = \mathrm{softmax}(U^\top t^- + d)` (not sampled),
   :math:`t^- \sim \sigma(W_{pen} s_L^- + U y^- + c_{top})`, where :math:`W_{top} = [W_{pen}, U]`;
3. *down (sleep) pass* from the end of the chain: :math:`\hat s_L = s_L^-`, :math:`\hat s_l \sim
   \sigma(G_l \hat s_{l+1} + g_l)`, the data layer :math:`\hat s_0` as its probabilities;
4. *updates*, all from the states above, with one learning rate :math:`\varepsilon` (the mean over
   the minibatch of Appendix B's per-case rule):

   - generative (wake): :math:`\Delta G_l = \varepsilon\, (s_l - \sigma(G_l s_{l+1} + g_l))\, s_{l+1}^\top`,
     :math:`\Delta g_l = \varepsilon\, (s_l - \sigma(G_l s_{l+1} + g_l))`;
   - associative memory (CD): :math:`\Delta W_{top} = \varepsilon\, (t\, [s_L, e_y]^\top - t^- [s_L^-, y^-]^\top)`,
     :math:`\Delta b = \varepsilon\, ([s_L, e_y] - [s_L^-, y^-])`, :math:`\Delta c_{top} = \varepsilon\, (t - t^-)`;
   - recognition (sleep):
     :math:`\Delta R_l = \varepsilon\, (\hat s_{l+1} - \sigma(R_l \hat s_l + r_l))\, \hat s_l^\top`,
     :math:`\Delta r_l = \varepsilon\, (\hat s_{l+1} - \sigma(R_l \hat s_l + r_l))`.

(The appendix's line for ``hidvis`` multiplies by ``poshidstates``, a name it never defines: it is
``wakehidstates``, the wake pass's states, as in the line for ``penhid``.) Classification (their
sec. 6) is the deterministic up pass (probabilities) followed by the exact free energy of each
label in the top RBM; generation clamps a label, runs alternating Gibbs sampling in the top RBM
and passes down the generative weights. On MNIST they report 2.49 % test error after greedy
pretraining, 1.39 % after 300 epochs of up-down on 44,000 images (CD-3, then CD-6, then CD-10, 100
epochs each: :func:`paper_gibbs_schedule`), and 1.25 % after 59 more epochs on all 60,000.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dbn.cd_trainer import exploding_update
from dbn.classrbm import ClassRBM, LabelPredictions, class_index_tensor
from dbn.config import hinton_momentum
from dbn.loop import Callback, check_callbacks, run_epochs
from dbn.serialization import Checkpointed, dtype_to_json
from dbn.stack import DeepBeliefNet, propagate_up
from dbn.supervised import numpy_like
from dbn.validation import as_float_tensor, check_dtype, check_positive, check_seed, resolve_device

__all__ = ["UpDownDBN", "UpDownTraining", "paper_gibbs_schedule", "sample_bernoulli", "sleep_pass", "top_gibbs",
           "updown_step", "updown_updates", "wake_pass"]

#: rows per chunk of the inference passes
CHUNK = 1024


def paper_gibbs_schedule(epoch: int) -> int:
    """Gibbs steps of the up-down algorithm in their MNIST run: 3 for the first 100 epochs, 6 for the
    next 100, then 10 (``epoch`` counts from 0)."""
    return 3 if epoch < 100 else 6 if epoch < 200 else 10


def sample_bernoulli(p: Tensor, generator: torch.Generator | None) -> Tensor:
    """Binary states, 1 where a uniform number drawn from ``generator`` is below ``p`` (Appendix B's
    ``probs > rand(...)``), in ``p``'s dtype."""
    u = torch.rand(p.shape, generator=generator, device=p.device, dtype=torch.promote_types(p.dtype, torch.float32))
    return (u < p).to(p.dtype)


def wake_pass(net: UpDownDBN, data: Tensor, labels: Tensor,
              generator: torch.Generator | None) -> tuple[list[Tensor], Tensor]:
    """The up pass: the states of every layer (``[data, s_1, ..., s_L]``, sampled) and the top layer's
    sampled states given the penultimate states and the one-hot ``labels``."""
    states = [data]
    for weight, bias in zip(net.rec_weight, net.rec_bias, strict=True):
        states.append(sample_bernoulli(torch.sigmoid(F.linear(states[-1], weight, bias)), generator))
    top = net.top.rbm
    top_states = sample_bernoulli(torch.sigmoid(top.hidden_input(torch.cat([states[-1], labels], 1))), generator)
    return states, top_states


def top_gibbs(net: UpDownDBN, top_states: Tensor, k: int,
              generator: torch.Generator | None) -> tuple[Tensor, Tensor, Tensor]:
    """``k`` steps of alternating Gibbs sampling in the associative memory from the top states: the
    penultimate states, label probabilities and top states at the end (Appendix B's ``negpenstates``,
    ``neglabprobs``, ``negtopstates``)."""
    top, n_pen = net.top, net.top.n_features
    for _ in range(k):
        z = top.rbm.visible_input(top_states)
        pen = sample_bernoulli(torch.sigmoid(z[:, :n_pen]), generator)
        labels = torch.softmax(z[:, n_pen:], -1)
        top_states = sample_bernoulli(torch.sigmoid(top.rbm.hidden_input(torch.cat([pen, labels], 1))), generator)
    return pen, labels, top_states


def sleep_pass(net: UpDownDBN, pen: Tensor, generator: torch.Generator | None) -> list[Tensor]:
    """The down pass from the penultimate states ``pen``: ``[p(data), s_1, ..., s_L = pen]``, each hidden
    layer sampled from the generative weights, the data layer as its probabilities."""
    states = [pen]
    for index in reversed(range(len(net.gen_weight))):
        p = torch.sigmoid(F.linear(states[0], net.gen_weight[index], net.gen_bias[index]))
        states.insert(0, p if index == 0 else sample_bernoulli(p, generator))
    return states


@torch.no_grad()
def updown_updates(net: UpDownDBN, data: Tensor, targets: Tensor, k: int,
                   generator: torch.Generator | None) -> dict[str, Tensor]:
    """The up-down updates of one minibatch (Appendix B, averaged over its rows), before the learning
    rate: a dict from the name of every parameter of ``net`` (``net.named_parameters()``) to the change
    that increases its objective.

    Parameters
    ----------
    net : UpDownDBN
    data : Tensor, shape (n, layers[0])
        Data-layer states (probabilities in [0, 1]).
    targets : Tensor of int64, shape (n,)
        Class indices.
    k : int
        Gibbs steps in the associative memory.
    generator : torch.Generator or None
        Every random number, drawn in the order: up pass (bottom to top), each Gibbs step
        (penultimate, then top), down pass (top to bottom).
    """
    return _updates_and_error(net, data, targets, k, generator)[0]


def _updates_and_error(net: UpDownDBN, data: Tensor, targets: Tensor, k: int,
                       generator: torch.Generator | None) -> tuple[dict[str, Tensor], Tensor]:
    """:func:`updown_updates`, and the mean squared error of the wake pass's reconstruction of the data."""
    n, n_layers = data.shape[0], len(net.rec_weight)
    labels = F.one_hot(targets, net.n_classes).to(data.dtype)
    wake, wake_top = wake_pass(net, data, labels, generator)
    neg_pen, neg_labels, neg_top = top_gibbs(net, wake_top, k, generator)
    sleep = sleep_pass(net, neg_pen, generator)
    updates: dict[str, Tensor] = {}
    for index in range(n_layers):
        # wake: the generative weights learn to reconstruct each layer from the one above
        error = wake[index] - torch.sigmoid(F.linear(wake[index + 1], net.gen_weight[index], net.gen_bias[index]))
        updates[f"gen_weight.{index}"] = error.t() @ wake[index + 1] / n
        updates[f"gen_bias.{index}"] = error.mean(0)
        if index == 0:
            wake_error = error.square().mean()
        # sleep: the recognition weights learn to recover the states that generated each layer
        error = sleep[index + 1] - torch.sigmoid(F.linear(sleep[index], net.rec_weight[index], net.rec_bias[index]))
        updates[f"rec_weight.{index}"] = error.t() @ sleep[index] / n
        updates[f"rec_bias.{index}"] = error.mean(0)
    positive, negative = torch.cat([wake[-1], labels], 1), torch.cat([neg_pen, neg_labels], 1)
    updates["top.rbm.weight"] = (wake_top.t() @ positive - neg_top.t() @ negative) / n
    updates["top.rbm.visible_bias"] = (positive - negative).mean(0)
    updates["top.rbm.hidden_bias"] = (wake_top - neg_top).mean(0)
    return updates, wake_error


@torch.no_grad()
def updown_step(net: UpDownDBN, data: Tensor, targets: Tensor, *, lr: float, k: int,
                generator: torch.Generator | None) -> None:
    """One up-down step with plain gradient ascent, Appendix B's rule: every parameter moves by ``lr``
    times its :func:`updown_updates` (no momentum, no weight decay)."""
    updates = updown_updates(net, data, targets, k, generator)
    for name, parameter in net.named_parameters():
        parameter.add_(updates[name], alpha=lr)


class UpDownDBN(LabelPredictions, Checkpointed, nn.Module):
    """The DBN of Hinton, Osindero & Teh (2006): directed lower layers with untied recognition and
    generative weights under a top RBM of the penultimate layer and the label (see the module docstring).

    Parameters
    ----------
    layers : sequence of int
        The data size, each hidden size, then the top size, e.g. ``[784, 500, 500, 2000]``: at least
        three sizes (one directed layer and the associative memory).
    n_classes : int
        Number of label units (one softmax group), >= 2.
    dtype : torch.dtype
        Parameter dtype.

    Attributes
    ----------
    rec_weight, rec_bias : nn.ParameterList
        Recognition weights :math:`R_l` (``(layers[l + 1], layers[l])``) and biases, bottom first.
    gen_weight, gen_bias : nn.ParameterList
        Generative weights :math:`G_l` (``(layers[l], layers[l + 1])``) and biases, bottom first.
    top : ClassRBM
        The associative memory: ``layers[-2]`` features, ``n_classes`` labels, ``layers[-1]`` hidden units.
    pretrain_history_ : list of list of dict
        The greedy training records of each RBM, bottom first (the top one last).
    finetune_history_ : list of dict
        One record per up-down epoch: ``epoch``, ``lr``, ``k``, ``seconds``, ``wake_recon_mse`` (the
        mean squared error of the generative reconstruction of the data in the wake pass) and
        ``top_update_ratio`` (:math:`\\|\\Delta W_{top}\\| / \\|W_{top}\\|` of the epoch's first update).
    """

    checkpoint_kind = "UpDownDBN"

    def __init__(self, layers: Sequence[int], n_classes: int, *, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        if isinstance(layers, (str, bytes)) or not hasattr(layers, "__len__") or len(layers) < 3:
            raise ValueError(f"layers must list at least 3 sizes (data, hidden..., top), got {layers!r}")
        for index, size in enumerate(layers):
            check_positive(size, f"layers[{index}]", integer=True)
        self.layers, self.n_classes, self.dtype = [int(size) for size in layers], int(n_classes), check_dtype(dtype)
        pairs = list(zip(self.layers[:-2], self.layers[1:-1], strict=True))
        self.rec_weight = nn.ParameterList([nn.Parameter(torch.zeros(up, down, dtype=dtype)) for down, up in pairs])
        self.rec_bias = nn.ParameterList([nn.Parameter(torch.zeros(up, dtype=dtype)) for _, up in pairs])
        self.gen_weight = nn.ParameterList([nn.Parameter(torch.zeros(down, up, dtype=dtype)) for down, up in pairs])
        self.gen_bias = nn.ParameterList([nn.Parameter(torch.zeros(down, dtype=dtype)) for down, _ in pairs])
        self.top = ClassRBM(self.layers[-2], self.n_classes, self.layers[-1], dtype=dtype)
        self.pretrain_history_: list[list[dict]] = []
        self.finetune_history_: list[dict] = []

    def extra_repr(self) -> str:
        return f"layers={self.layers}, n_classes={self.n_classes}"

    @property
    def device(self) -> torch.device:
        return self.top.device

    def check_input(self, X: Any, name: str = "X", *, clip: bool = True) -> Tensor:
        """``X`` as a checked tensor of data-layer states in [0, 1] (clipped to it with ``clip``)."""
        return as_float_tensor(X, name, dtype=self.dtype, device=self.device, n_features=self.layers[0],
                               unit_interval=True, clip=clip)

    # ------------------------------------------------------------------ persistence

    def config(self) -> dict:
        """The constructor arguments, as JSON values."""
        return {"layers": list(self.layers), "n_classes": self.n_classes, "dtype": dtype_to_json(self.dtype)}

    def checkpoint_extra(self) -> dict:
        """What :meth:`save` keeps beside the parameters (recognition, generative, associative
        memory) and the configuration: the histories of the three training stages."""
        return {"pretrain_history": self.pretrain_history_, "finetune_history": self.finetune_history_,
                "top_history": self.top.history_}

    def restore_extra(self, extra: dict) -> None:
        """Set what :meth:`checkpoint_extra` kept."""
        self.pretrain_history_ = [list(history) for history in extra.get("pretrain_history", [])]
        self.finetune_history_ = list(extra.get("finetune_history", []))
        self.top.history_ = list(extra.get("top_history", []))

    # ------------------------------------------------------------------ training

    def pretrain(self, X: Tensor | np.ndarray, y: Any, *, epochs: int | Sequence[int] = 30, lr: float = 0.1,
                 batch_size: int = 100, momentum: float | Callable[[int], float] = hinton_momentum,
                 weight_decay: float = 2e-4, seed: int | None = None, progress: bool = True,
                 device: torch.device | str | None = None) -> UpDownDBN:
        """Greedy layer-wise training (their sec. 6.1), then untie the weights.

        Each lower RBM trains by CD-1 on the activation probabilities of the layer below
        (:meth:`dbn.stack.DeepBeliefNet.pretrain`), the top one by CD-1 on the penultimate
        probabilities joined with the labels (:meth:`ClassRBM.fit`, ``objective="generative"``).

        Parameters
        ----------
        X : array or tensor, shape (n_samples, layers[0])
            Data in [0, 1].
        y : array-like of int
            Class indices in ``[0, n_classes)``.
        epochs : int or sequence of int
            Epochs per RBM (one value, or one per RBM bottom first); they used 30.
        lr, batch_size, momentum, weight_decay
            CD-1 options of every RBM (momentum: a constant or a function of the epoch).
        seed : int, optional
            Seeds every generator.
        progress, device
            A progress bar per RBM; where to train.

        Returns
        -------
        UpDownDBN
            ``self``; ``pretrain_history_`` holds each RBM's epochs.
        """
        seed = check_seed(seed)
        seed = int(torch.randint(2**62, (1,)).item()) if seed is None else seed
        device = resolve_device(device, self.device)
        self.to(device)
        data = self.check_input(X, clip=False)
        labels = class_index_tensor(y, data.shape[0], self.n_classes, device)
        n_rbms = len(self.layers) - 1
        epochs = [epochs] * n_rbms if isinstance(epochs, int) else list(epochs)
        if len(epochs) != n_rbms:
            raise ValueError(f"epochs lists {len(epochs)} values but there are {n_rbms} RBMs")
        lower = DeepBeliefNet(self.layers[:-1], dtype=self.dtype, epochs=epochs[:-1], lr=lr, batch_size=batch_size,
                              momentum=momentum, weight_decay=weight_decay)
        lower.pretrain(data, progress=progress, device=device, seed=seed)
        penultimate = data
        for rbm in lower.rbms:
            penultimate = propagate_up(rbm, penultimate)
        self.top.fit(penultimate, labels, objective="generative", epochs=epochs[-1], lr=lr, batch_size=batch_size,
                     k=1, momentum=momentum, weight_decay=weight_decay, seed=seed + 1, progress=progress,
                     device=device, description=f"top RBM {self.layers[-2]}+{self.n_classes}-{self.layers[-1]}")
        with torch.no_grad():
            for index, rbm in enumerate(lower.rbms):
                self.rec_weight[index].copy_(rbm.weight)
                self.rec_bias[index].copy_(rbm.hidden_bias)
                self.gen_weight[index].copy_(rbm.weight.t())
                self.gen_bias[index].copy_(rbm.visible_bias)
        self.pretrain_history_ = [*lower.pretrain_history_, list(self.top.history_)]
        self.finetune_history_ = []
        return self

    def finetune(self, X: Tensor | np.ndarray, y: Any, *, epochs: int = 10, lr: float = 0.01,
                 batch_size: int = 100, k: int | Callable[[int], int] = 3, momentum: float = 0.0,
                 weight_decay: float = 0.0, seed: int | None = None, progress: bool = True,
                 callbacks: Sequence[Callback] | None = None,
                 device: torch.device | str | None = None) -> UpDownDBN:
        """Fine-tune by the up-down algorithm (their Appendix B), one step per minibatch.

        Parameters
        ----------
        X, y
            Data in [0, 1] and class indices, as for :meth:`pretrain`.
        epochs : int
            Passes over the data (they ran 300, then 59 more on the full training set).
        lr : float
            Learning rate of every parameter.
        batch_size : int
            Rows per step (their minibatches held 100 images).
        k : int or callable
            Gibbs steps in the associative memory, or a function of the 0-based epoch, such as
            :func:`paper_gibbs_schedule`.
        momentum, weight_decay : float
            SGD momentum, and an L2 penalty on the weights; 0 for Appendix B's plain rule.
        seed, progress, callbacks, device
            The generator's seed, the progress bar, ``callback(net, record)`` after each epoch, and
            where to train.

        Raises
        ------
        dbn.loop.DivergenceError
            When an epoch diverges (a non-finite value, or a first update of the top weights over
            ``MAX_UPDATE_RATIO`` times their norm); the parameters of the last good epoch are restored.
        """
        for name, value in (("epochs", epochs), ("batch_size", batch_size)):
            check_positive(value, name, integer=True)
        check_positive(lr, "lr")
        seed, callbacks = check_seed(seed), check_callbacks(callbacks)
        seed = int(torch.randint(2**62, (1,)).item()) if seed is None else seed
        device = resolve_device(device, self.device)
        self.to(device)
        data = self.check_input(X, clip=False)
        labels = class_index_tensor(y, data.shape[0], self.n_classes, device)
        generator = torch.Generator(device=device).manual_seed(seed)
        training = UpDownTraining(self, data, labels, lr=lr, batch_size=batch_size, k=k, momentum=momentum,
                                  weight_decay=weight_decay, generator=generator)
        run_epochs(training, epochs, model=self, history=self.finetune_history_, device=device,
                   description=f"up-down {'-'.join(map(str, self.layers))}", progress=progress, callbacks=callbacks)
        return self

    # ------------------------------------------------------------------ inference and generation

    @torch.no_grad()
    def up_pass(self, X: Tensor | np.ndarray) -> Tensor | np.ndarray:
        """The deterministic up pass: penultimate-layer probabilities by the recognition weights."""
        h = self.check_input(X)
        for weight, bias in zip(self.rec_weight, self.rec_bias, strict=True):
            h = torch.sigmoid(F.linear(h, weight, bias))
        return numpy_like(h, X)

    def predict_log_proba(self, X: Tensor | np.ndarray) -> Tensor | np.ndarray:
        """:math:`\\log p(y \\mid x)`: the deterministic up pass, then the exact free energy of each label
        in the top RBM (their reported testing method); NumPy in, NumPy out."""
        return self.top.predict_log_proba(self.up_pass(X))

    @torch.no_grad()
    def sample(self, labels: Any, gibbs_steps: int = 1000, *, seed: int | None = None) -> Tensor:
        """Generate one data vector per entry of ``labels`` (class indices): alternating Gibbs sampling
        in the top RBM with the label clamped, for ``gibbs_steps`` steps from penultimate states drawn
        with the training data's mean, then one pass down the generative weights (hidden layers
        sampled, the data layer as its probabilities, in [0, 1]).

        Row ``i`` is the first image of chain ``i`` of :meth:`sample_sequence` with
        ``steps_between=gibbs_steps`` and the same ``seed``: the two methods run the same chains.

        Returns
        -------
        Tensor, shape (len(labels), layers[0])
            On the network's device.
        """
        check_positive(gibbs_steps, "gibbs_steps", integer=True)
        return self.sample_sequence(np.asarray(labels).reshape(-1), 1, gibbs_steps, seed=seed)[:, 0]

    @torch.no_grad()
    def sample_sequence(self, labels: Any, n_images: int = 10, steps_between: int = 1000, *,
                        seed: int | None = None) -> Tensor:
        """What the network has in mind: the images of a Gibbs chain in the associative memory with a
        label clamped, shown every ``steps_between`` steps.

        Each chain starts from penultimate states drawn with the training data's mean and runs
        alternating Gibbs sampling in the top RBM with its label clamped (:meth:`ClassRBM.sample_features`);
        after every ``steps_between`` steps its penultimate states are passed down the generative
        weights (:func:`sleep_pass`: hidden layers sampled, the data layer as its probabilities) and
        the chain continues from where it was. Hinton, Osindero & Teh (2006) show such sequences,
        one row per clamped label; the movies on Hinton's page of the paper's digits show a frame
        every 3 of 300 iterations. One generator, seeded by ``seed``, draws every random number in the
        order: start, Gibbs steps, down pass, Gibbs steps, down pass, ...

        Parameters
        ----------
        labels : int or array-like of int
            The clamped class index of one chain, or one per chain (the chains run side by side).
        n_images : int
            Images per chain, >= 1.
        steps_between : int
            Gibbs steps before the first image and between successive images, >= 1.
        seed : int, optional
            Seeds the generator.

        Returns
        -------
        Tensor
            Shape ``(n_images, layers[0])`` for one label given as an int, ``(len(labels), n_images,
            layers[0])`` for a sequence of labels; values in [0, 1], on the network's device.
        """
        check_positive(n_images, "n_images", integer=True)
        check_positive(steps_between, "steps_between", integer=True)
        seed = check_seed(seed)
        seed = int(torch.randint(2**62, (1,)).item()) if seed is None else seed
        generator = torch.Generator(device=self.device).manual_seed(seed)
        one_chain = np.ndim(labels) == 0
        targets = torch.as_tensor(np.asarray(labels).reshape(-1))
        targets = class_index_tensor(targets, len(targets), self.n_classes, self.device)
        pen, images = None, []
        for _ in range(n_images):
            pen = self.top.sample_features(targets, steps_between, generator, start=pen)
            images.append(sleep_pass(self, pen, generator)[0])
        sequences = torch.stack(images, 1)
        return sequences[0] if one_chain else sequences


class UpDownTraining:
    """One up-down run of :meth:`UpDownDBN.finetune`, an :class:`~dbn.loop.EpochTask`: each epoch
    reshuffles the rows and takes one step per minibatch, the updates of :func:`updown_updates` given to
    SGD as (negated) gradients."""

    shown = ("wake_recon_mse",)

    def __init__(self, net: UpDownDBN, data: Tensor, labels: Tensor, *, lr: float, batch_size: int,
                 k: int | Callable[[int], int], momentum: float, weight_decay: float,
                 generator: torch.Generator) -> None:
        self.net, self.data, self.labels = net, data, labels
        self.lr, self.batch_size, self.generator = lr, batch_size, generator
        self.k = k if callable(k) else (lambda epoch: k)
        weights = [*net.rec_weight, *net.gen_weight, net.top.rbm.weight]
        biases = [*net.rec_bias, *net.gen_bias, net.top.rbm.visible_bias, net.top.rbm.hidden_bias]
        self.optimizer = torch.optim.SGD([{"params": weights, "weight_decay": weight_decay},
                                          {"params": biases, "weight_decay": 0.0}], lr=lr, momentum=momentum)
        self.first_epoch = len(net.finetune_history_)
        self.steps_k, self.error, self.ratio = 0, math.nan, 0.0

    def train_epoch(self, epoch: int) -> None:
        net, n = self.net, self.data.shape[0]
        k = self.steps_k = int(self.k(self.first_epoch + epoch))
        check_positive(k, "k", integer=True)
        parameters = dict(net.named_parameters())
        order = torch.randperm(n, generator=self.generator, device=self.data.device)
        total = torch.zeros((), dtype=torch.float64, device=self.data.device)
        for index, start in enumerate(range(0, n, self.batch_size)):
            rows = order[start : start + self.batch_size]
            with torch.no_grad():
                updates, error = _updates_and_error(net, self.data[rows], self.labels[rows], k, self.generator)
            for name, parameter in parameters.items():
                parameter.grad = updates[name].neg_()
            before = net.top.rbm.weight.detach().clone() if index == 0 else None
            self.optimizer.step()
            if before is not None:
                change = (net.top.rbm.weight.detach() - before).norm()
                self.ratio = float(change / before.norm().clamp(min=1e-12))
            total += error.double() * len(rows)
        self.error = float(total) / n

    def measure(self, epoch: int, seconds: float) -> dict:
        return {"epoch": self.first_epoch + epoch + 1, "lr": self.lr, "k": self.steps_k, "seconds": seconds,
                "wake_recon_mse": self.error, "top_update_ratio": self.ratio}

    def divergence(self, record: dict) -> str | None:
        return exploding_update(record["top_update_ratio"], "the top weights")

    def finish(self, history: list[dict]) -> None:
        return None
