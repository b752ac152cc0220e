"""The supervised layer of a deep belief network: fine-tuning the unrolled stack, and its predictions.

:class:`FineTuning` is the half of :class:`dbn.stack.DeepBeliefNet` that learns from targets. It
unrolls the pretrained stack (:mod:`dbn.unroll`) into the network a task needs, trains it with the
supervised loop of :mod:`dbn.training`, and keeps it as ``mlp_``:

``"classify"``
    :func:`~dbn.unroll.unrolled_mlp` with one output per class, cross-entropy loss; labels of any
    discrete type (encoded by :func:`dbn.targets.encode_labels`), ``classes_`` in sorted order.
``"regress"``
    the same with ``k`` linear outputs, mean squared error.
``"autoencode"``
    :func:`~dbn.unroll.unrolled_autoencoder`, trained on the cross-entropy of the reconstruction
    summed over the features for Bernoulli data (as Hinton & Salakhutdinov 2006), else on the
    squared error summed over the features.

The data can be in memory or streamed from a ``DataLoader`` (:mod:`dbn.streams`): ``(x, y)``
batches for ``"classify"`` and ``"regress"``, ``x`` (or ``(x, _)``) batches for ``"autoencode"``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from dbn.config import TrainConfig, resolve_config, restore_config
from dbn.distributed import broadcast_seed, setup
from dbn.loop import Callback
from dbn.resume import check_writable, pack_state, unpack_state
from dbn.streams import TrainingBatches, is_stream, without_split
from dbn.targets import encode_labels, encode_with_classes, regression_targets
from dbn.training import train_network
from dbn.unroll import unrolled_autoencoder, unrolled_mlp
from dbn.validation import check_positive, check_seed, resolve_device

__all__ = ["FINETUNE_DEFAULTS", "TASKS", "FineTuning", "numpy_like"]

TASKS = ("classify", "regress", "autoencode")
#: fine-tuning's defaults: :class:`~dbn.config.TrainConfig` with a fifth of the rows held out for
#: early stopping, and the learning rate chosen on them by a short search (``lr="auto"``). A tenth
#: is too few rows on small data to choose the rate and the epoch reliably: on six 70/30 splits of
#: digits, ``DeepBeliefNet([64, 100, 100])``'s mean hold-out accuracy was 0.969 (lowest 0.956) with
#: a tenth and 0.973 (lowest 0.969) with a fifth (``tests/test_defaults.py``).
FINETUNE_DEFAULTS = TrainConfig(validation_fraction=0.2, lr="auto")
#: rows per chunk of the inference passes
CHUNK = 4096
#: the attributes a fine-tuning sets
FINETUNED = ("mlp_", "task_", "finetune_config_", "finetune_history_", "finetune_state_", "target_ndim_", "classes_")
#: the keys under which a checkpoint stores the tensors of an interrupted fine-tuning's training state
FINETUNE_STATE_PREFIX = "finetune_state."


def numpy_like(result: Tensor, like: Any) -> Tensor | np.ndarray:
    """``result`` as a NumPy array unless ``like`` is a tensor."""
    return result if isinstance(like, Tensor) else result.cpu().numpy()


class FineTuning:
    """Fine-tuning and prediction, mixed into :class:`dbn.stack.DeepBeliefNet` (see the module docstring).

    The host provides ``rbms``, ``device``, ``check_input``, ``check_pretrained`` and ``transform``.
    """

    rbms: nn.ModuleList

    def finetune(self, X: Tensor | np.ndarray | Iterable[Any], y: Tensor | np.ndarray | None = None, *,
                 task: str = "classify", config: TrainConfig | None = None, X_val: Tensor | np.ndarray | None = None,
                 y_val: Tensor | np.ndarray | None = None, device: torch.device | str | None = None,
                 seed: int | None = None, progress: bool = True, callbacks: Sequence[Callback] | None = None,
                 checkpoint: str | Path | None = None, checkpoint_every: int = 1, resume: bool = True,
                 **overrides: Any) -> Any:
        """Unroll the pretrained stack and train it by backpropagation; keep it as ``mlp_``.

        Parameters
        ----------
        X : array, tensor or iterable of batches, shape (n_samples, layers[0])
            Inputs (in [0, 1] for Bernoulli visible units). An array or tensor is held on
            ``device``. A ``torch.utils.data.DataLoader`` (or any re-iterable of batches; a
            one-shot iterator is refused) streams, one batch at a time, never held whole: its
            batches are ``(x, y)`` pairs for ``"classify"`` and ``"regress"``, ``x`` or ``(x, _)``
            for ``"autoencode"``. Each epoch reads it once in its own order (shuffling and batch
            size are the loader's) and checks every batch as in-memory data is checked. For
            ``"classify"`` one pass more, before training, reads the labels to find the classes
            (it loads every batch once, keeping only the distinct labels); for ``"regress"`` the
            first batch is read once for the number of outputs.
        y : array or tensor, optional
            Class labels (``"classify"``), targets of shape (n_samples,) or (n_samples, k)
            (``"regress"``), or None (``"autoencode"``: the target is ``X``; and for a stream,
            whose batches carry the targets).
        task : {"classify", "regress", "autoencode"}
            What to fine-tune for (see :mod:`dbn.supervised`).
        config : TrainConfig, optional
            The training options; default :data:`FINETUNE_DEFAULTS`: SGD with momentum 0.9, up to
            50 epochs, 20 % of ``X`` held out for early stopping with patience 10, and the
            learning rate chosen from 1, 0.3 and 0.1 by a search of 3 epochs per rate on that
            validation split (``lr="auto"``, 9 epochs of cost; the chosen rate is then
            ``finetune_config_.lr``). Pass ``lr=`` for a fixed rate.
        **overrides
            Any field of :class:`~dbn.config.TrainConfig`, overriding ``config``.
        X_val, y_val : array or tensor, optional
            Validation data for early stopping (instead of the held-out fraction); the best
            epoch's weights are kept. In memory, also when ``X`` is a stream: a stream's rows
            are not split, so the configuration's ``validation_fraction`` is then set to 0
            (a non-zero one given as a keyword raises) and early stopping needs ``X_val, y_val``.
        device : str or torch.device, optional
            Where to train; default where the network is.
        seed : int, optional
            Seeds the output layer's initial weights, the split and the minibatch order (a
            stream's order is its loader's).
        progress : bool
            Show a progress bar.
        callbacks : sequence of callables
            ``callback(model, record)`` after each epoch; True stops training.
        checkpoint : str or Path, optional
            Save the whole network with the fine-tuning's training state every
            ``checkpoint_every`` epochs (and at the end), so that an interrupted run continues
            with ``DeepBeliefNet.load(checkpoint).finetune(X, y)`` (bit-identically on the CPU).
            A stream resumes too (epochs, optimiser and early-stopping state), but in the
            loader's order and without checking that the data is the same: exact resumption
            needs in-memory data.
        checkpoint_every : int
            Epochs between checkpoints.
        resume : bool
            Continue an interrupted fine-tuning of this network (loaded from its checkpoint)
            instead of starting anew; its task, configuration and seed are used, and the other
            arguments but the data, ``progress``, ``callbacks`` and ``device`` are ignored.

        Returns
        -------
        DeepBeliefNet
            ``self``, with ``mlp_``, ``task_``, ``finetune_history_``, ``finetune_config_`` (and
            ``classes_``).
        """
        state = getattr(self, "finetune_state_", None) if resume else None
        if state is not None:
            task, config, seed = self.task_, self.finetune_config_, state["seed"]
            checkpoint = state["path"] if checkpoint is None else checkpoint
            checkpoint_every = state["every"]
        seed = check_seed(seed)
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        if state is None:
            config = resolve_config(config, FINETUNE_DEFAULTS, overrides)
        self.check_pretrained("finetune")
        writer = None if checkpoint is None else self._finetune_writer(check_writable(checkpoint), checkpoint_every)
        device = setup(resolve_device(device, self.device))
        self.to(device)
        streaming = is_stream(X)
        if streaming:  # the rows of a stream are not split
            X, config = self._stream_for(task, X, y, device), without_split(config, overrides if state is None else {})
        else:
            X = self.check_input(X, "X")
        X_val = None if X_val is None else self.check_input(X_val, "X_val", clip=True)
        seed = broadcast_seed(seed, device)
        generator = torch.Generator(device=device).manual_seed(seed)
        network_for = self._streamed_network_for if streaming else self._network_for
        model, loss, y, y_val, classes = network_for(task, X, y, X_val, y_val, generator)
        if state is not None:
            model = self.mlp_.to(device)  # the parameters of the interrupted run
        previous = {name: getattr(self, name) for name in FINETUNED if hasattr(self, name)}
        self.mlp_, self.task_, self.finetune_config_ = model, task, config
        self.target_ndim_ = 1 if task != "regress" else (X.target_ndim if streaming else y.ndim)
        if classes is not None:
            self.classes_ = classes
        try:
            history = train_network(model, X, y, config=config, loss=loss, X_val=X_val, y_val=y_val, device=device,
                                    seed=seed, progress=progress, description=f"fine-tune ({task})",
                                    callbacks=callbacks or (), checkpoint=writer, checkpoint_every=checkpoint_every,
                                    resume_from=state)
        except BaseException:
            self._restore_attributes(previous)  # a failed fine-tuning leaves the earlier one in place
            raise
        self.finetune_history_, self.finetune_state_ = history, None
        if config.searched_rates() is not None and history:
            self.finetune_config_ = config.replace(lr=history[-1]["lr"])  # the rate the search chose
        if writer is not None:
            self.save(writer.path)
        return self

    def _restore_attributes(self, previous: dict[str, Any]) -> None:
        for name in FINETUNED:
            if name in previous:
                setattr(self, name, previous[name])
            elif hasattr(self, name):
                delattr(self, name)

    def _finetune_writer(self, path: Path, every: int) -> Callable[[dict], None]:
        """``writer(state)``: save the network with the fine-tuning's training state (``writer.path``)."""
        check_positive(every, "checkpoint_every", integer=True)

        def write(state: dict) -> None:
            self.finetune_state_ = {**state, "path": str(path), "every": every}
            self.finetune_history_ = state["history"]
            self.save(path)

        write.path = path  # type: ignore[attr-defined]
        return write

    def _stream_for(self, task: str, X: Any, y: Any, device: torch.device) -> TrainingBatches:
        """The batches of the stream ``X`` for ``task``, checked as this network's training data."""
        if y is not None:
            raise ValueError(
                f"y must be None when X is a stream of batches ({type(X).__name__}): the batches carry the "
                "targets, as (x, y) pairs"
            )
        rbm = self.rbms[0]
        stream = TrainingBatches(X, inputs_as_targets=task == "autoencode", n_features=rbm.n_visible,
                                 unit_interval=rbm.visible.unit_interval)
        stream.bind(device=device, dtype=rbm.weight.dtype, classify=task == "classify")
        return stream

    def _streamed_network_for(
        self, task: str, X: TrainingBatches, y: None, X_val: Tensor | None, y_val: Any, generator: torch.Generator
    ) -> tuple[nn.Sequential, str, None, Any, np.ndarray | None]:
        """The unrolled network, loss and checked validation targets of ``task`` for the stream ``X``."""
        if task == "autoencode":
            if y_val is not None:
                raise ValueError("y and y_val must be None for task='autoencode': the target is X")
            loss = "binary_cross_entropy" if self.rbms[0].visible.unit_interval else "squared_error"
            return unrolled_autoencoder(self.rbms), loss, None, X_val, None
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val must be given together")
        n_val = None if X_val is None else X_val.shape[0]
        if task == "classify":
            classes = X.scan_classes()
            if y_val is not None:
                y_val = encode_with_classes(y_val, n_val, classes, "y_val", known="the labels of the training batches")
            return unrolled_mlp(self.rbms, len(classes), generator=generator), "cross_entropy", None, y_val, classes
        n_outputs = X.first_batch()[1].shape[1]  # targets of shape (rows, k), also when the loader's are (rows,)
        y_val = None if y_val is None else regression_targets(y_val, n_val, "y_val")
        return unrolled_mlp(self.rbms, n_outputs, generator=generator), "mse", None, y_val, None

    def _network_for(
        self, task: str, X: Tensor, y: Any, X_val: Tensor | None, y_val: Any, generator: torch.Generator
    ) -> tuple[nn.Sequential, str, Any, Any, np.ndarray | None]:
        """The unrolled network, loss and checked targets of ``task``."""
        n_val = None if X_val is None else X_val.shape[0]
        if task != "autoencode" and y is None:
            raise ValueError(f"y is required for task={task!r}")
        if task == "autoencode":
            if y is not None or y_val is not None:
                raise ValueError("y and y_val must be None for task='autoencode': the target is X")
            loss = "binary_cross_entropy" if self.rbms[0].visible.unit_interval else "squared_error"
            return unrolled_autoencoder(self.rbms), loss, X, X_val, None
        if task == "classify":
            classes, y, y_val = encode_labels(y, X.shape[0], y_val, n_val)
            model, loss = unrolled_mlp(self.rbms, len(classes), generator=generator), "cross_entropy"
        else:
            y = regression_targets(y, X.shape[0], "y")
            y_val = None if y_val is None else regression_targets(y_val, n_val, "y_val")
            model, loss, classes = (
                unrolled_mlp(self.rbms, 1 if y.ndim == 1 else y.shape[1], generator=generator),
                "mse",
                None,
            )
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val must be given together")
        return model, loss, y, y_val, classes

    # ------------------------------------------------------------------ predictions

    def check_finetuned(self, action: str, *tasks: str) -> None:
        """Raise unless :meth:`finetune` has run (for one of ``tasks``, if given)."""
        if not hasattr(self, "mlp_"):
            raise RuntimeError(f"{action} needs a fine-tuned DeepBeliefNet: call finetune(X, y) first")
        if tasks and self.task_ not in tasks:
            raise RuntimeError(f"{action} is not defined for a network fine-tuned with task={self.task_!r}")

    @torch.no_grad()
    def _forward(self, X: Any) -> Tensor:
        V = self.check_input(X, "X", clip=True)
        self.mlp_.eval()
        return torch.cat([self.mlp_(chunk) for chunk in V.split(CHUNK)])

    def predict_proba(self, X: Tensor | np.ndarray) -> Tensor | np.ndarray:
        """Class probabilities (softmax of the logits), columns in the order of ``classes_``."""
        self.check_finetuned("predict_proba", "classify")
        return numpy_like(torch.softmax(self._forward(X), dim=1), X)

    def predict(self, X: Tensor | np.ndarray) -> Tensor | np.ndarray:
        """Class labels (a NumPy array of ``classes_`` values), regression outputs, or reconstructions."""
        self.check_finetuned("predict")
        if self.task_ == "classify":
            return self.classes_[self._forward(X).argmax(1).cpu().numpy()]
        if self.task_ == "autoencode":
            return self.reconstruct(X)
        output = self._forward(X)
        return numpy_like(output.squeeze(1) if self.target_ndim_ == 1 else output, X)

    def score(self, X: Tensor | np.ndarray, y: Tensor | np.ndarray | None = None) -> float:
        """Accuracy (``"classify"``), :math:`R^2` (``"regress"``) or, for ``"autoencode"``, minus
        the squared reconstruction error summed over the features and averaged over the rows
        (greater is better in every case, as scikit-learn's scorers)."""
        self.check_finetuned("score")
        if self.task_ == "autoencode":
            V = self.check_input(X, "X", clip=True)
            return -float((self.reconstruct(V) - V).square().sum(1).mean())
        truth = y.cpu().numpy() if isinstance(y, Tensor) else np.asarray(y)
        predicted = self.predict(X)
        predicted = predicted.cpu().numpy() if isinstance(predicted, Tensor) else predicted
        from sklearn.metrics import accuracy_score, r2_score  # imported where used, as in dbn.validation

        return float(accuracy_score(truth, predicted) if self.task_ == "classify" else r2_score(truth, predicted))

    @torch.no_grad()
    def reconstruct(self, X: Tensor | np.ndarray) -> Tensor | np.ndarray:
        """Reconstruct ``X``: through the fine-tuned autoencoder when there is one, else by the
        mean-field pass up the stack and back down (each RBM's :meth:`RBM.visible_probs`)."""
        if getattr(self, "task_", None) == "autoencode":
            output = self._forward(X)
            return numpy_like(torch.sigmoid(output) if self.rbms[0].visible.unit_interval else output, X)
        self.check_pretrained("reconstruct")
        H = self.transform(self.check_input(X, "X", clip=True))
        for rbm in reversed(self.rbms):
            H = torch.cat([rbm.visible_probs(chunk) for chunk in H.split(CHUNK)])
        return numpy_like(H, X)

    # ------------------------------------------------------------------ persistence

    def finetuned_state(self) -> tuple[dict | None, dict[str, Tensor]]:
        """What a checkpoint needs to rebuild ``mlp_`` (None before fine-tuning), and the tensors of
        an interrupted fine-tuning's training state (to be saved beside the state dict)."""
        if not hasattr(self, "mlp_"):
            return None, {}
        config = getattr(self, "finetune_config_", None)
        training_state, tensors = pack_state(getattr(self, "finetune_state_", None), FINETUNE_STATE_PREFIX)
        return {
            "training_state": training_state,
            "task": self.task_,
            "classes": None if self.task_ != "classify" else self.classes_.tolist(),
            "n_outputs": None if self.task_ == "autoencode" else self.mlp_[-1].out_features,
            "target_ndim": self.target_ndim_,
            "history": getattr(self, "finetune_history_", []),
            "config": None if config is None else config.to_dict(),
        }, tensors

    def restore_finetuned(self, state: dict, state_dict: dict[str, Tensor]) -> None:
        """Rebuild ``mlp_`` (untrained: load the state dict next) from :meth:`finetuned_state`'s output;
        the training state's tensors are taken out of ``state_dict``."""
        self.finetune_state_ = unpack_state(state.get("training_state"), state_dict, FINETUNE_STATE_PREFIX)
        self.task_ = state["task"]
        self.target_ndim_ = state["target_ndim"]
        self.finetune_history_ = list(state["history"])
        if state.get("config") is not None:
            self.finetune_config_ = restore_config(TrainConfig, state["config"])
        self.mlp_ = (
            unrolled_autoencoder(self.rbms)
            if self.task_ == "autoencode"
            else unrolled_mlp(self.rbms, state["n_outputs"])
        )
        if state["classes"] is not None:
            self.classes_ = np.asarray(state["classes"])
