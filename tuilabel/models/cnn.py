"""Convolutional classifiers: seed 001's MNIST and CIFAR networks, and a small fast one.

`CNNClassifier` is scikit-learn shaped: the constructor stores settings, `fit` learns (Adam, Glorot
initialisation, optional class weights and early stopping on a validation split of the labelled
data only), `predict_proba` returns ``(n, classes)``. Any image size and channel count works.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from ..errors import TuilabelError
from ._io import load_bundle, save_bundle
from .rbm import pick_device

ARCHITECTURES = ("seed-mnist", "seed-cifar", "small")
LOSSES = ("ce", "soft", "hard")  # cross-entropy; Reed et al.'s soft and hard bootstrapping (seed 004)
BOOTSTRAP_BETA = {"soft": 0.95, "hard": 0.8}  # the betas Reed et al. used on MNIST


def bootstrap_loss(logits: torch.Tensor, y: torch.Tensor, kind: str = "ce", beta: float | None = None) -> torch.Tensor:
    """Per-example loss: cross-entropy, or Reed et al.'s bootstrapping against noisy labels.

    soft: ``-sum_k [beta t_k + (1 - beta) q_k] log q_k`` (the target leans towards the model's own
    prediction ``q``, which also acts as an entropy penalty); hard: ``-sum_k [beta t_k + (1 - beta)
    z_k] log q_k`` with ``z`` the one-hot of the model's top class.
    """
    log_q = torch.log_softmax(logits, 1)
    t = nn.functional.one_hot(y, logits.shape[1]).to(log_q.dtype)
    if kind == "ce":
        return -(t * log_q).sum(1)
    b = BOOTSTRAP_BETA[kind] if beta is None else beta
    if kind == "soft":
        own = log_q.exp()
    elif kind == "hard":
        own = nn.functional.one_hot(log_q.argmax(1), logits.shape[1]).to(log_q.dtype)
    else:
        raise TuilabelError(f"unknown loss {kind!r}; expected one of {', '.join(LOSSES)}")
    return -((b * t + (1 - b) * own) * log_q).sum(1)


def corrected_loss(logits: torch.Tensor, y: torch.Tensor, trust: torch.Tensor) -> torch.Tensor:
    """Per-example loss of a label right with probability ``trust`` and otherwise any of the other
    classes alike (Patrini et al.'s forward correction for symmetric noise): ``-log(t p_y + (1 - t)
    / (C - 1) (1 - p_y))``. At trust 1 it is the cross-entropy; below it the loss is bounded, and
    its pull on the logits fades where the model is sure of another class, so that a label often
    wrong trains the model towards the classes it names without overruling what the rest taught it."""
    log_p = torch.log_softmax(logits, 1)
    log_py = log_p.gather(1, y[:, None])[:, 0]
    other = (1 - trust) / max(1, logits.shape[1] - 1)
    log_rest = torch.log((-torch.expm1(log_py)).clamp_min(1e-12)) + torch.log(other.clamp_min(1e-12))
    mixed = torch.logaddexp(torch.log(trust.clamp_min(1e-12)) + log_py, log_rest)
    return -torch.where(trust >= 1, log_py, mixed)


def build_network(arch: str, channels: int, height: int, width: int, n_classes: int) -> nn.Module:
    if arch == "seed-mnist":  # seed 001: conv64, conv128, pool, dropout .25, dense 128, dropout .5
        body = nn.Sequential(
            nn.Conv2d(channels, 64, 3), nn.ReLU(), nn.Conv2d(64, 128, 3), nn.ReLU(),
            nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(),
        )
        head = [nn.LazyLinear(128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, n_classes)]
    elif arch == "seed-cifar":  # seed 001's colour network
        body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3), nn.ReLU(),
            nn.MaxPool2d(2), nn.Dropout(0.25),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3), nn.ReLU(),
            nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(),
        )
        head = [nn.LazyLinear(512), nn.ReLU(), nn.Dropout(0.5), nn.Linear(512, n_classes)]
    elif arch == "small":  # same-padded and pooled twice: about 9x cheaper on a CPU; any image size
        body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True), nn.Dropout(0.25),
            nn.Flatten(),
        )
        head = [nn.LazyLinear(128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, n_classes)]
    else:
        raise TuilabelError(f"unknown architecture {arch!r}; expected one of {', '.join(ARCHITECTURES)}")
    net = nn.Sequential(*body, *head)
    try:
        with torch.no_grad():
            net(torch.zeros(1, channels, height, width))  # materialise the lazy layer for this size
    except RuntimeError:
        raise TuilabelError(f"images of {height}x{width} are too small for the {arch} network; "
                            "the small one takes any size (--set arch=small)") from None
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)  # Glorot's normalised initialisation
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return net


def class_weights(counts: np.ndarray, mu: float = 0.3) -> np.ndarray:
    """Seed 001's weights against imbalance: ``max(log(mu * t / c), 1)``."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    with np.errstate(divide="ignore"):
        w = np.log(mu * total / np.maximum(counts, 1))
    return np.maximum(w, 1.0).astype(np.float32)


MIN_BATCHES_PER_EPOCH = 10  # tiny label sets still get real training: an epoch is at least this many batches


class CNNClassifier:
    def __init__(
        self,
        arch: str = "small",
        epochs: int = 30,
        batch_size: int = 64,
        learning_rate: float = 1e-3,
        patience: int = 8,
        validation_fraction: float = 0.15,
        use_class_weights: bool = True,
        augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
        min_batches_per_epoch: int | None = None,  # None: MIN_BATCHES_PER_EPOCH
        min_validation: int = 1000,
        min_epochs: int = 20,
        seed: int = 0,
        device: str | None = None,
        loss: str = "ce",
        beta: float | None = None,
        average_from: float | None = None,
    ) -> None:
        if loss not in LOSSES:
            raise TuilabelError(f"unknown loss {loss!r}; expected one of {', '.join(LOSSES)}")
        self.loss = loss
        self.beta = beta  # None: Reed et al.'s beta for the loss
        self.arch = arch
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.use_class_weights = use_class_weights
        self.augment = augment
        self.min_batches_per_epoch = MIN_BATCHES_PER_EPOCH if min_batches_per_epoch is None else min_batches_per_epoch
        self.min_validation = min_validation  # below this many labels, no split: too noisy to stop on
        self.min_epochs = min_epochs  # never stop before this: small validation sets are noisy early
        self.seed = seed
        self.device = pick_device(device)
        # None or 1: the last step's weights; f in [0, 1): the mean of the weights after every optimiser
        # step past the first f of the training (Polyak's averaging; without a validation split only)
        self.average_from = 1.0 if average_from is None else average_from

    def images_per_epoch(self, n: int) -> int:
        """Image passes of one epoch over ``n`` training images: a set smaller than
        ``min_batches_per_epoch`` batches is repeated whole until it fills them."""
        n = max(n, 1)
        return n * max(1, -(-self.min_batches_per_epoch * self.batch_size // n))

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        n_classes: int,
        sample_weight: np.ndarray | None = None,
        extra_x: np.ndarray | None = None,
        extra_y: np.ndarray | None = None,
        extra_weight: float | np.ndarray = 1.0,
        progress: Callable[[int, float], None] | None = None,
        weights_as: str = "loss",
        trust: np.ndarray | None = None,
    ) -> CNNClassifier:
        """Train on ``x`` (``N x C x H x W`` floats in [0, 1]) and labels ``y``.

        ``extra_x``/``extra_y`` (pseudo-labels) join training with weight ``extra_weight`` (one for
        all, or one each) but never the validation split, which comes from the labelled data only.
        ``weights_as``: ``"loss"``, a batch's loss is its weighted mean (the weights say how its items
        count against each other, whatever the batch); ``"rate"``, an epoch draws its items with
        probability in proportion to their weights (with replacement) and each counts the same, so
        that a few heavy labels among many light ones keep their say in every batch.
        ``trust``: per label, the probability that it is right (1: the cross-entropy); below 1 the
        loss is ``corrected_loss`` (with ``loss="ce"`` only; pseudo-labels count as trusted).
        """
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        g = torch.Generator(device="cpu").manual_seed(self.seed)
        self.n_classes_ = n_classes
        c, h, w = (int(d) for d in x.shape[1:])
        self.input_shape_ = (c, h, w)
        self.net_ = build_network(self.arch, c, h, w, n_classes).to(self.device)
        y = np.asarray(y, dtype=np.int64)
        weights = np.ones(len(y), np.float32) if sample_weight is None else np.asarray(sample_weight, np.float32)
        if trust is not None and self.loss != "ce":
            raise TuilabelError(f"a label's trust needs the cross-entropy loss, not {self.loss!r}")
        trusts = np.ones(len(y), np.float32) if trust is None else np.asarray(trust, np.float32)
        n_val = int(len(y) * self.validation_fraction) if len(y) >= self.min_validation and self.patience else 0
        order = rng.permutation(len(y))
        val_idx, train_idx = order[:n_val], order[n_val:]
        tx, ty, tw, tt = x[train_idx], y[train_idx], weights[train_idx], trusts[train_idx]
        if extra_x is not None and len(extra_x):
            tt = np.concatenate([tt, np.ones(len(extra_x), np.float32)])
            tx = np.concatenate([tx, extra_x])
            ty = np.concatenate([ty, np.asarray(extra_y, np.int64)])
            tw = np.concatenate([tw, np.broadcast_to(np.asarray(extra_weight, np.float32), len(extra_x))])
        cw = class_weights(np.bincount(y, minlength=n_classes)) if self.use_class_weights else np.ones(n_classes)
        cw_t = torch.as_tensor(cw, dtype=torch.float32, device=self.device)
        if weights_as not in ("loss", "rate"):
            raise ValueError(f"weights_as is 'loss' or 'rate', not {weights_as!r}")
        rates = torch.as_tensor(tw, dtype=torch.float64) if weights_as == "rate" else None
        if rates is not None and not float(rates.sum()) > 0:
            raise ValueError("weights_as='rate' needs a positive weight")
        X = torch.as_tensor(tx, dtype=torch.float32)
        Y = torch.as_tensor(ty)
        T = torch.as_tensor(tt) if trust is not None else None
        Wt = torch.as_tensor(tw) if rates is None else torch.ones(len(tw))  # rates: the weights are the draw
        opt = torch.optim.Adam(self.net_.parameters(), lr=self.learning_rate)
        best, best_state, since = -1.0, None, 0
        averaged = None
        steps_per_epoch = -(-self.images_per_epoch(len(X)) // self.batch_size)
        averages = self.average_from < 1 and not n_val
        first_averaged = int(self.epochs * steps_per_epoch * self.average_from) if averages else None
        step = 0
        self.history_: list[dict] = []
        self.images_seen_ = 0  # image passes in training: what a model of the compute counts
        for epoch in range(self.epochs):
            self.net_.train()
            if rates is not None:
                perm = torch.multinomial(rates, self.images_per_epoch(len(X)), replacement=True, generator=g)
            else:
                repeats = self.images_per_epoch(len(X)) // len(X)
                perm = torch.cat([torch.randperm(len(X), generator=g) for _ in range(repeats)])
            total = 0.0
            for start in range(0, len(perm), self.batch_size):
                idx = perm[start : start + self.batch_size]
                xb = X[idx]
                if self.augment is not None:
                    xb = self.augment(xb, g)
                xb, yb, wb = xb.to(self.device), Y[idx].to(self.device), Wt[idx].to(self.device)
                logits = self.net_(xb)
                if T is None:
                    loss = bootstrap_loss(logits, yb, self.loss, self.beta) * cw_t[yb]
                else:
                    loss = corrected_loss(logits, yb, T[idx].to(self.device)) * cw_t[yb]
                loss = (loss * wb).sum() / (cw_t[yb] * wb).sum().clamp_min(1e-8)
                opt.zero_grad()
                loss.backward()
                opt.step()
                step += 1
                if first_averaged is not None and step > first_averaged:
                    if averaged is None:
                        averaged = AveragedModel(self.net_)
                    averaged.update_parameters(self.net_)
                total += float(loss.detach()) * len(idx)
            self.images_seen_ += len(perm)
            record = {"epoch": epoch + 1, "loss": total / max(len(perm), 1)}
            if n_val:
                acc = float((self.predict(x[val_idx]) == y[val_idx]).mean())
                record["val_accuracy"] = acc
                if acc > best:
                    best, best_state, since = acc, copy.deepcopy(self.net_.state_dict()), 0
                else:
                    since += 1
            self.history_.append(record)
            if progress is not None:
                progress(epoch + 1, record["loss"])
            if n_val and since >= self.patience and epoch + 1 >= self.min_epochs:
                break
        if best_state is not None:
            self.net_.load_state_dict(best_state)  # early stopping keeps the best epoch's weights
        elif averaged is not None:
            self.net_ = averaged.module  # no batch norm in these networks: nothing to recompute
        return self

    @torch.no_grad()
    def predict_proba(self, x: np.ndarray | torch.Tensor, batch_size: int = 512) -> np.ndarray:
        self.net_.eval()
        X = torch.as_tensor(x, dtype=torch.float32)
        out = [torch.softmax(self.net_(X[i : i + batch_size].to(self.device)), 1).cpu()
               for i in range(0, len(X), batch_size)]
        return torch.cat(out).numpy() if out else np.zeros((0, self.n_classes_), np.float32)

    @torch.no_grad()
    def embed(self, x: np.ndarray | torch.Tensor, batch_size: int = 512) -> np.ndarray:
        """What the network makes of each image before its last layer: a learned representation."""
        self.net_.eval()
        assert isinstance(self.net_, nn.Sequential)
        body = self.net_[:-1]
        X = torch.as_tensor(x, dtype=torch.float32)
        out = [body(X[i : i + batch_size].to(self.device)).cpu() for i in range(0, len(X), batch_size)]
        return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_proba(x).argmax(1)

    def score(self, x: np.ndarray, y: np.ndarray) -> float:
        return float((self.predict(x) == np.asarray(y)).mean())

    def save(self, path: Path) -> None:
        state = {k: v.cpu().numpy() for k, v in self.net_.state_dict().items()}
        header = {"kind": "cnn", "arch": self.arch, "n_classes": self.n_classes_, "input_shape": self.input_shape_}
        save_bundle(path, header, {f"p:{k}": v for k, v in state.items()})

    @classmethod
    def load(cls, path: Path, device: str | None = None) -> CNNClassifier:
        header, arrays = load_bundle(path, "cnn")
        state = {k[2:]: torch.as_tensor(v) for k, v in arrays.items() if k.startswith("p:")}
        model = cls(arch=header["arch"], device=device)
        model.n_classes_ = header["n_classes"]
        c, h, w = (int(d) for d in header["input_shape"])
        model.input_shape_ = (c, h, w)
        model.net_ = build_network(model.arch, c, h, w, model.n_classes_).to(model.device)
        model.net_.load_state_dict(state)
        return model
