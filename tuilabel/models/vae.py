"""A variational autoencoder with a softmax head on its latent code (seed 003).

Encoder and decoder are four dense layers each (the third has 32 units, as in the seed); the decoder
ends in a sigmoid and is trained with binary cross-entropy, the KL term is weighted by ``beta``
(seed default 5) and the latent has ``z_dim`` dimensions (seed default 10). A K-way softmax layer
reads the latent code. Training minimises equation (3) of the seed,

    L = L_VAE + gamma * sum_n w_n * CE(y_n, y_hat_n),

where only the items with a (propagated) label carry a class term; ``gamma = 0`` or no labels is
the plain VAE of equation (1). Any image size and channel count works: images are flattened.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ._io import load_bundle, save_bundle
from .rbm import pick_device

Progress = Callable[[int, int, dict], None]  # (step, total steps, running losses)


class _Net(nn.Module):
    def __init__(self, n_in: int, z_dim: int, hidden: tuple[int, ...], n_classes: int) -> None:
        super().__init__()
        enc: list[nn.Module] = []
        width = n_in
        for h in hidden:
            enc += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.encoder = nn.Sequential(*enc, nn.Linear(width, 2 * z_dim))  # linear output: mean, log-variance
        dec: list[nn.Module] = []
        width = z_dim
        for h in reversed(hidden):
            dec += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.decoder = nn.Sequential(*dec, nn.Linear(width, n_in))  # logits; sigmoid applied outside
        self.head = nn.Linear(z_dim, n_classes)
        self.z_dim = z_dim

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(-12, 8)


class VAEClassifier:
    """``fit_epoch`` trains one epoch (unsupervised, or with weighted labels); ``encode``,
    ``decode``, ``predict_proba`` and ``reconstruction`` read the model."""

    def __init__(
        self,
        z_dim: int = 10,
        beta: float = 5.0,
        gamma: float = 150.0,
        hidden: tuple[int, ...] = (512, 128, 32),
        batch_size: int = 100,
        learning_rate: float = 1e-3,
        seed: int = 0,
        device: str | None = None,
    ) -> None:
        self.z_dim = z_dim
        self.beta = beta
        self.gamma = gamma
        self.hidden = tuple(hidden)
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.seed = seed
        self.device = pick_device(device)
        self.epochs_ = 0
        self.labelled_epochs_ = 0  # epochs trained with the class term
        self.history_: list[dict] = []

    # -- set-up ---------------------------------------------------------------------------------

    def build(self, input_shape: tuple[int, ...], n_classes: int) -> VAEClassifier:
        torch.manual_seed(self.seed)
        self.input_shape_ = tuple(int(s) for s in input_shape)
        self.n_classes_ = int(n_classes)
        self.net_ = _Net(int(np.prod(self.input_shape_)), self.z_dim, self.hidden, self.n_classes_).to(self.device)
        self.opt_ = torch.optim.Adam(self.net_.parameters(), lr=self.learning_rate)
        self.gen_ = torch.Generator().manual_seed(self.seed)
        return self

    def _flat(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(x, dtype=torch.float32).reshape(len(x), -1)

    # -- training -------------------------------------------------------------------------------

    def fit_epoch(
        self,
        x: np.ndarray,
        labels: np.ndarray | None = None,
        weights: np.ndarray | None = None,
        samples: int | None = None,
        progress: Progress | None = None,
    ) -> dict:
        """One epoch over ``x`` (``N x C x H x W`` in [0, 1]); ``labels`` (-1 = none) and ``weights``
        (w_n of equation 2) add the class term. ``samples`` stretches a small pool's epoch to that
        many images seen (whole passes in a fresh order each), so an epoch means a comparable amount
        of learning on 4,000 images as on the seed's 60,000. Returns the epoch's mean losses."""
        if not hasattr(self, "net_"):
            raise RuntimeError("call build() first")
        X = self._flat(x)
        n = len(X)
        Y = torch.full((n,), -1, dtype=torch.int64) if labels is None else torch.as_tensor(labels, dtype=torch.int64)
        W = torch.zeros(n) if weights is None else torch.as_tensor(weights, dtype=torch.float32)
        W = torch.where(Y >= 0, W, torch.zeros_like(W))
        passes = max(1, -(-int(samples or n) // n))
        order = torch.cat([torch.randperm(n, generator=self.gen_) for _ in range(passes)])
        total_steps = -(-len(order) // self.batch_size)
        sums = {"reconstruction": 0.0, "kl": 0.0, "classification": 0.0}
        self.net_.train()
        for step, start in enumerate(range(0, len(order), self.batch_size)):
            idx = order[start : start + self.batch_size]
            xb, yb, wb = X[idx].to(self.device), Y[idx].to(self.device), W[idx].to(self.device)
            mu, logvar = self.net_.encode(xb)
            eps = torch.randn(mu.shape, generator=self.gen_).to(self.device)
            z = mu + eps * torch.exp(0.5 * logvar)
            logits = self.net_.decoder(z)
            rec = nn.functional.binary_cross_entropy_with_logits(logits, xb, reduction="none").sum(1)
            kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
            loss = rec + self.beta * kl
            cls = torch.zeros_like(rec)
            if self.gamma and bool((wb > 0).any()):
                cls = nn.functional.cross_entropy(self.net_.head(z), yb.clamp_min(0), reduction="none") * wb
                loss = loss + self.gamma * cls
            loss = loss.mean()
            self.opt_.zero_grad()
            loss.backward()
            self.opt_.step()
            sums["reconstruction"] += float(rec.detach().mean())
            sums["kl"] += float(kl.detach().mean())
            sums["classification"] += float(cls.detach().mean())
            if progress is not None:
                progress(step + 1, total_steps, {k: v / (step + 1) for k, v in sums.items()})
        self.epochs_ += 1
        if self.gamma and bool((W > 0).any()):
            self.labelled_epochs_ += 1
        record = {"epoch": self.epochs_, **{k: v / max(total_steps, 1) for k, v in sums.items()},
                  "labelled": int((W > 0).sum())}
        self.history_.append(record)
        return record

    # -- reading the model ----------------------------------------------------------------------

    @torch.no_grad()
    def _batched(self, fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, size: int = 2048) -> np.ndarray:
        self.net_.eval()
        return torch.cat([fn(x[i : i + size].to(self.device)).cpu() for i in range(0, len(x), size)]).numpy()

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Latent means ``(n, z_dim)``: what the clustering runs on."""
        return self._batched(lambda b: self.net_.encode(b)[0], self._flat(x))

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Images ``(n, *input_shape)`` in [0, 1] for latent codes ``z``."""
        out = self._batched(lambda b: torch.sigmoid(self.net_.decoder(b)), torch.as_tensor(z, dtype=torch.float32))
        return out.reshape(len(z), *self.input_shape_)

    def grow_classes(self, n_classes: int) -> None:
        """Class outputs for classes added since it was built: the old rows kept, the new ones
        starting small (the class term learns them from their first labels)."""
        extra = int(n_classes) - self.n_classes_
        if extra <= 0:
            return
        old = self.net_.head
        head = nn.Linear(old.in_features, int(n_classes)).to(self.device)
        with torch.no_grad():
            head.weight[: old.out_features] = old.weight
            head.bias[: old.out_features] = old.bias
            head.weight[old.out_features:].mul_(0.01)
            head.bias[old.out_features:] = old.bias.min()
        self.net_.head = head
        self.n_classes_ = int(n_classes)
        self.opt_ = torch.optim.Adam(self.net_.parameters(), lr=self.learning_rate)  # the new head's too

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.proba_from_latent(self.encode(x))

    def proba_from_latent(self, z: np.ndarray) -> np.ndarray:
        """The head's class probabilities for latent means already computed with `encode`."""
        return self._batched(lambda b: torch.softmax(self.net_.head(b), 1), torch.as_tensor(z, dtype=torch.float32))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_proba(x).argmax(1)

    def score(self, x: np.ndarray, y: np.ndarray) -> float:
        return float((self.predict(x) == np.asarray(y)).mean())

    def reconstruction(self, x: np.ndarray) -> dict[str, float]:
        """Through the latent means: binary cross-entropy per image (nats, the seed's loss) and the
        share of pixels on the right side of 0.5 ("reconstruction accuracy")."""
        X = self._flat(x)

        def rebuild(b: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.net_.decoder(self.net_.encode(b)[0]))

        r = torch.as_tensor(self._batched(rebuild, X))
        bce = nn.functional.binary_cross_entropy(r.clamp(1e-6, 1 - 1e-6), X, reduction="none").sum(1).mean()
        acc = ((r > 0.5) == (X > 0.5)).float().mean()
        return {"bce": float(bce), "pixel_accuracy": float(acc)}

    # -- files ----------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        state = {k: v.cpu().numpy() for k, v in self.net_.state_dict().items()}
        header = {"kind": "vae", "z_dim": self.z_dim, "beta": self.beta, "gamma": self.gamma,
                  "hidden": list(self.hidden), "input_shape": list(self.input_shape_),
                  "n_classes": self.n_classes_, "epochs": self.epochs_, "seed": self.seed,
                  "labelled_epochs": self.labelled_epochs_}
        save_bundle(path, header, {f"p:{k}": v for k, v in state.items()})

    @classmethod
    def load(cls, path: Path, device: str | None = None) -> VAEClassifier:
        header, arrays = load_bundle(path, "vae")
        model = cls(z_dim=header["z_dim"], beta=header["beta"], gamma=header["gamma"],
                    hidden=tuple(header["hidden"]), seed=header["seed"], device=device)
        model.build(tuple(header["input_shape"]), header["n_classes"])
        model.net_.load_state_dict({k[2:]: torch.as_tensor(v) for k, v in arrays.items() if k.startswith("p:")})
        model.epochs_ = header["epochs"]
        model.labelled_epochs_ = header.get("labelled_epochs", 0)
        return model
