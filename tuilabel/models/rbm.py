"""A Bernoulli RBM with label units, as in seed 000 (post-labeling of model samples).

The visible-hidden weights ``W`` are learned without labels (CD-k or persistent CD, momentum,
weight decay). Label units (one-hot over the classes) connect to the hidden units through their
own weights ``U`` and biases ``d`` and are learned only from labels: online, one labelled frame at
a time, with the seed's rule ``dU_kj = lr * (a_k - l_k) * h_j`` where ``a`` is the label the user
gave, ``h = p(h | v)`` and ``l = softmax(U h + d)`` is the label the model reconstructs from
``h``; or offline with CD-1 passes over every stored frame, ``W`` fixed. The same ``l`` is the
classifier: ``predict_proba(v) = softmax(U p(h | v) + d)``.

Optional fast weights (Tieleman and Hinton, 2009) are used while sampling: they learn the negative
statistics of the states just visited and decay quickly, raising the energy where the chain has
been and so pushing it out of the minimum it sits in.

Saved as a plain ``.npz`` of arrays plus a JSON header: loading never unpickles objects.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import TuilabelError
from ._io import load_bundle, save_bundle


def pick_device(device: str | None = None) -> torch.device:
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class RBMConfig:
    n_hidden: int = 500
    cd_k: int = 10
    persistent: bool = False
    learning_rate: float = 0.05
    momentum: float = 0.5
    final_momentum: float = 0.9
    weight_decay: float = 2e-4
    batch_size: int = 32
    epochs: int = 0  # 0: decided by the pool's size (`epochs_for`)
    seed: int = 0
    label_learning_rate: float = 0.05
    fast_learning_rate: float = 0.05
    fast_decay: float = 0.95
    extra: dict = field(default_factory=dict)


IMAGE_PASSES = 160_000  # what an RBM trains on by default: 40 epochs of a 4,000-image pool of 28x28 ...
REFERENCE_VISIBLE = 784  # ... and larger images fewer, for the same compute
MAX_EPOCHS = 2000


def epochs_for(n_images: int, epochs: int = 0, n_visible: int = REFERENCE_VISIBLE) -> int:
    """Epochs of unsupervised training: ``epochs``, or, when 0, as many as cost what 40 epochs of
    4,000 28x28 images cost (`IMAGE_PASSES` passes of `REFERENCE_VISIBLE` units), so that a pool of
    170 images gets as many updates as one of 4,000 (at a fixed 40 epochs it got 24 times fewer: the
    stream showed near-uniform frames) and neither a pool of 60,000 nor 40x48 colour images take
    longer; at least one epoch, at most `MAX_EPOCHS`."""
    if epochs:
        return epochs
    passes = IMAGE_PASSES * REFERENCE_VISIBLE / max(n_visible, 1)
    return int(min(MAX_EPOCHS, max(1, round(passes / max(n_images, 1)))))


class RBM:
    """Bernoulli-Bernoulli RBM over flattened images in [0, 1], with label units."""

    def __init__(self, config: RBMConfig | None = None, device: str | None = None, **overrides) -> None:
        self.config = config or RBMConfig()
        for key, value in overrides.items():
            if not hasattr(self.config, key):
                raise TypeError(f"RBM has no setting {key!r}")
            setattr(self.config, key, value)
        self.device = pick_device(device)

    # -- set-up ---------------------------------------------------------------------------------

    def _init(self, n_visible: int, n_classes: int, data_mean: torch.Tensor | None = None) -> None:
        cfg = self.config
        g = torch.Generator().manual_seed(cfg.seed)
        self.W_ = (torch.randn(n_visible, cfg.n_hidden, generator=g) * 0.01).to(self.device)
        if data_mean is not None:  # Hinton's guide: visible biases at log(p / (1 - p))
            p = data_mean.clamp(1e-3, 1 - 1e-3)
            self.b_ = torch.log(p / (1 - p)).to(self.device)
        else:
            self.b_ = torch.zeros(n_visible, device=self.device)
        self.c_ = torch.zeros(cfg.n_hidden, device=self.device)
        self.U_ = torch.zeros(n_classes, cfg.n_hidden, device=self.device)
        self.d_ = torch.zeros(n_classes, device=self.device)
        self.fast_W_ = torch.zeros_like(self.W_)
        self.n_classes_ = n_classes
        self.generator_ = torch.Generator(device=self.device).manual_seed(cfg.seed + 1)

    def _tensor(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(x, dtype=torch.float32, device=self.device)
        return t.reshape(len(t), -1) if t.dim() > 1 else t.reshape(1, -1)

    # -- conditionals ---------------------------------------------------------------------------

    def hidden_probs(self, v: torch.Tensor, fast: bool = False) -> torch.Tensor:
        W = self.W_ + self.fast_W_ if fast else self.W_
        return torch.sigmoid(v @ W + self.c_)

    def visible_probs(self, h: torch.Tensor, fast: bool = False) -> torch.Tensor:
        W = self.W_ + self.fast_W_ if fast else self.W_
        return torch.sigmoid(h @ W.T + self.b_)

    def _sample(self, p: torch.Tensor) -> torch.Tensor:
        return (torch.rand(p.shape, generator=self.generator_, device=p.device) < p).float()

    def label_probs_from_hidden(self, h: torch.Tensor) -> torch.Tensor:
        return torch.softmax(h @ self.U_.T + self.d_, dim=-1)

    # -- unsupervised training ------------------------------------------------------------------

    def fit(
        self,
        x: np.ndarray,
        n_classes: int,
        progress: Callable[[int, float], None] | None = None,
    ) -> RBM:
        """Learn ``W``, ``b``, ``c`` from unlabelled images (``N x ...`` floats in [0, 1])."""
        cfg = self.config
        data = self._tensor(x)
        if len(data) == 0:
            raise TuilabelError("cannot train an RBM on an empty pool")
        self._init(data.shape[1], n_classes, data.mean(0))
        vel_W = torch.zeros_like(self.W_)
        vel_b = torch.zeros_like(self.b_)
        vel_c = torch.zeros_like(self.c_)
        g = torch.Generator().manual_seed(cfg.seed + 2)
        chains = None
        self.history_: list[float] = []
        self.epochs_ = epochs = epochs_for(len(data), cfg.epochs, data.shape[1])  # progress reads it
        for epoch in range(epochs):  # momentum rises after an eighth of the training (5 of 40 epochs)
            momentum = cfg.momentum if epoch < max(1, epochs // 8) else cfg.final_momentum
            order = torch.randperm(len(data), generator=g).to(self.device)
            err = 0.0
            for start in range(0, len(data), cfg.batch_size):
                v0 = data[order[start : start + cfg.batch_size]]
                h0 = self.hidden_probs(v0)
                if cfg.persistent:
                    if chains is None or len(chains) != len(v0):
                        chains = self._sample(h0)
                    hk = chains
                else:
                    hk = self._sample(h0)
                for _ in range(cfg.cd_k):
                    vk = self.visible_probs(hk)
                    hk_p = self.hidden_probs(vk)
                    hk = self._sample(hk_p)
                if cfg.persistent:
                    chains = hk
                n = len(v0)
                grad_W = (v0.T @ h0 - vk.T @ hk_p) / n - cfg.weight_decay * self.W_
                vel_W = momentum * vel_W + cfg.learning_rate * grad_W
                vel_b = momentum * vel_b + cfg.learning_rate * (v0 - vk).mean(0)
                vel_c = momentum * vel_c + cfg.learning_rate * (h0 - hk_p).mean(0)
                self.W_ += vel_W
                self.b_ += vel_b
                self.c_ += vel_c
                recon = self.visible_probs(self._sample(h0))
                err += float(((v0 - recon) ** 2).sum())
            self.history_.append(err / len(data))
            if progress is not None:
                progress(epoch + 1, self.history_[-1])
        return self

    def reconstruction_error(self, x: np.ndarray) -> float:
        """Mean over images of the summed squared one-step reconstruction error (the seed's measure)."""
        v = self._tensor(x)
        return float(((v - self.visible_probs(self.hidden_probs(v))) ** 2).sum(1).mean())

    # -- features and classification ------------------------------------------------------------

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Hidden probabilities: the RBM's features of each image."""
        return self.hidden_probs(self._tensor(x)).cpu().numpy()

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        h = self.hidden_probs(self._tensor(x))
        return self.label_probs_from_hidden(h).cpu().numpy()

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_proba(x).argmax(1)

    def score(self, x: np.ndarray, y: np.ndarray) -> float:
        return float((self.predict(x) == np.asarray(y)).mean())

    # -- sampling (the stream) ------------------------------------------------------------------

    def gibbs_step(self, v: torch.Tensor, fast: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """One step v -> h -> v. Returns (visible probabilities, hidden probabilities of the new v).

        With ``fast`` the fast weights take part and learn from the state just visited.
        """
        h = self._sample(self.hidden_probs(v, fast))
        v_next = self.visible_probs(h, fast)
        h_next = self.hidden_probs(v_next, fast)
        if fast:
            # Negative statistics only: lower the weights' support for where the chain is now.
            self.fast_W_ *= self.config.fast_decay
            self.fast_W_ -= self.config.fast_learning_rate * (v_next.T @ h_next) / len(v_next)
        return v_next, self.hidden_probs(v_next)

    def reset_fast_weights(self) -> None:
        self.fast_W_.zero_()

    # -- label weights ----------------------------------------------------------------------------

    def online_update(self, h: torch.Tensor, label: int, lr: float | None = None) -> tuple:
        """The seed's online rule for one labelled frame; returns what `undo_update` needs."""
        lr = self.config.label_learning_rate if lr is None else lr
        h = h.reshape(-1)
        a = torch.zeros(self.n_classes_, device=self.device)
        a[label] = 1.0
        reconstructed = self.label_probs_from_hidden(h)
        self.U_ += lr * torch.outer(a - reconstructed, h)
        self.d_ += lr * (a - reconstructed)
        return (h, a - reconstructed, lr)

    def undo_update(self, record: tuple) -> None:
        self._add_update(record, -1.0)

    def redo_update(self, record: tuple) -> None:
        """Add an online update again (onto label weights retrained without it)."""
        self._add_update(record, 1.0)

    def _add_update(self, record: tuple, sign: float) -> None:
        h, diff, lr = record
        self.U_ += sign * lr * torch.outer(diff, h)
        self.d_ += sign * lr * diff

    def label_copy(self, seed: int = 0) -> RBM:
        """A copy sharing ``W`` but with its own label weights and random generator, so label
        weights can be trained on another thread while this one keeps sampling."""
        other = copy.copy(self)
        other.U_, other.d_ = self.U_.clone(), self.d_.clone()
        other.generator_ = torch.Generator(device=self.device).manual_seed(seed)
        return other

    def grow_classes(self, n_classes: int) -> None:
        """Label units for classes added since it was trained: zero weights (no opinion yet); what
        it learned of the others stays."""
        self.U_, self.d_ = grown_labels(self.U_, self.d_, n_classes)
        self.n_classes_ = max(self.n_classes_, n_classes)

    def reset_labels(self) -> None:
        self.U_.zero_()
        self.d_.zero_()

    def fit_labels(
        self,
        x: np.ndarray,
        y: np.ndarray,
        epochs: int = 10,
        lr: float = 0.05,
        batch_size: int = 32,
        weight_decay: float = 1e-4,
        seed: int = 0,
        reset: bool = True,
    ) -> RBM:
        """Offline: CD-1 on the label weights from labelled images (or frames), ``W`` fixed.

        Positive phase ``<a_k, h_j>`` with ``h = p(h | v)``; negative phase ``<l_k, h_j>`` with the
        label reconstructed from a sample of ``h``.
        """
        if reset:
            self.reset_labels()
        v = self._tensor(x)
        if len(v) == 0:
            return self
        h_all = self.hidden_probs(v)
        a_all = torch.nn.functional.one_hot(torch.as_tensor(y, dtype=torch.long), self.n_classes_).float()
        a_all = a_all.to(self.device)
        g = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            order = torch.randperm(len(v), generator=g).to(self.device)
            for start in range(0, len(v), batch_size):
                idx = order[start : start + batch_size]
                h, a = h_all[idx], a_all[idx]
                reconstructed = self.label_probs_from_hidden(self._sample(h))
                n = len(idx)
                self.U_ += lr * ((a - reconstructed).T @ h / n - weight_decay * self.U_)
                self.d_ += lr * (a - reconstructed).mean(0)
        return self

    # -- persistence ----------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        arrays = {name: getattr(self, name).cpu().numpy() for name in ("W_", "b_", "c_", "U_", "d_")}
        header = {"kind": "rbm", "config": asdict(self.config), "n_classes": self.n_classes_,
                  "history": getattr(self, "history_", [])}
        save_bundle(path, header, arrays)

    @classmethod
    def load(cls, path: Path, device: str | None = None) -> RBM:
        header, stored = load_bundle(path, "rbm")
        model = cls(RBMConfig(**header["config"]), device=device)
        try:
            arrays = {k: torch.as_tensor(stored[k], device=model.device) for k in ("W_", "b_", "c_", "U_", "d_")}
        except KeyError as exc:
            raise TuilabelError(f"cannot read the rbm model (missing {exc})", path) from None
        n_visible = arrays["W_"].shape[0]
        model._init(n_visible, header["n_classes"])
        for name, value in arrays.items():
            setattr(model, name, value)
        model.history_ = header.get("history", [])
        return model


def grown_labels(U: torch.Tensor, d: torch.Tensor, n_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Label weights ``U`` (classes x hidden) and biases ``d`` with zero rows up to ``n_classes``."""
    extra = n_classes - len(d)
    if extra <= 0:
        return U, d
    return (torch.cat([U, U.new_zeros(extra, U.shape[1])]), torch.cat([d, d.new_zeros(extra)]))
