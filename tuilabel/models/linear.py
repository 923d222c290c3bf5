"""Multinomial logistic regression on pixels (or any features): the browse baseline's learner."""

from __future__ import annotations

import numpy as np
import torch


class SoftmaxRegression:
    """L2-regularised softmax regression fitted with full-batch L-BFGS."""

    def __init__(self, l2: float = 1e-2, max_iter: int = 100, seed: int = 0, balanced: bool = False) -> None:
        self.l2 = l2
        self.max_iter = max_iter
        self.seed = seed
        self.balanced = balanced  # each class weighs the same in the loss, however many labels it has

    def fit(self, x: np.ndarray, y: np.ndarray, n_classes: int) -> SoftmaxRegression:
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} rows but y has {len(y)}")
        torch.manual_seed(self.seed)
        xt = torch.as_tensor(x.reshape(len(x), -1), dtype=torch.float32)
        yt = torch.as_tensor(y, dtype=torch.long)
        self.mean_ = xt.mean(0) if len(xt) else torch.zeros(xt.shape[1])
        xt = xt - self.mean_
        w = torch.zeros(xt.shape[1], n_classes, requires_grad=True)
        b = torch.zeros(n_classes, requires_grad=True)
        opt = torch.optim.LBFGS([w, b], max_iter=self.max_iter, line_search_fn="strong_wolfe")
        weight = None
        if self.balanced and len(yt):
            counts = torch.bincount(yt, minlength=n_classes).float()
            weight = torch.where(counts > 0, len(yt) / (n_classes * counts.clamp(min=1)), torch.zeros(n_classes))

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(xt @ w + b, yt, weight=weight) + self.l2 * (w * w).sum()
            loss.backward()
            return loss

        if len(xt):
            opt.step(closure)
        self.coef_, self.intercept_ = w.detach(), b.detach()
        self.n_classes_ = n_classes
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        xt = torch.as_tensor(x.reshape(len(x), -1), dtype=torch.float32) - self.mean_
        return torch.softmax(xt @ self.coef_ + self.intercept_, dim=1).numpy()

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_proba(x).argmax(axis=1)

    def score(self, x: np.ndarray, y: np.ndarray) -> float:
        return float((self.predict(x) == y).mean())
