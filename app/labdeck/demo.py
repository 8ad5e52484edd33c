"""The demo workspace: real small trainings, logged through the SDK.

A two-layer network learns the two-moons problem with plain numpy gradient descent, in a
small sweep of learning rates and hidden sizes. Every number in the demo comes from that
training; nothing is invented. It takes a couple of seconds.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from labdeck.paths import demo_dir
from labdeck.sdk import start_run

SWEEP = [(0.05, 8), (0.2, 8), (0.2, 32), (0.8, 32), (1.5, 64), (12.0, 64)]
EPOCHS = 300


def two_moons(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    half = n // 2
    t = rng.uniform(0, np.pi, size=n)
    upper = np.c_[np.cos(t[:half]), np.sin(t[:half])]
    lower = np.c_[1 - np.cos(t[half:]), 0.5 - np.sin(t[half:])]
    x = np.vstack([upper, lower]) + rng.normal(scale=noise, size=(n, 2))
    y = np.r_[np.zeros(half), np.ones(n - half)]
    return x, y


def _forward(params, x):
    w1, b1, w2, b2 = params
    h = np.tanh(x @ w1 + b1)
    logits = (h @ w2 + b2).ravel()
    return h, logits


def _loss_acc(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    with np.errstate(over="ignore", invalid="ignore"):
        loss = float(np.mean(np.logaddexp(0, logits) - y * logits))
    acc = float(np.mean((logits > 0) == (y > 0.5)))
    return loss, acc


def train(run, lr: float, hidden: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x, y = two_moons(600, 0.2, rng)
    xv, yv = two_moons(300, 0.2, rng)
    params = [rng.normal(scale=1.0, size=(2, hidden)), np.zeros(hidden), rng.normal(scale=1.0, size=(hidden, 1)), np.zeros(1)]
    for epoch in range(EPOCHS):
        h, logits = _forward(params, x)
        with np.errstate(over="ignore", invalid="ignore"):
            grad_logits = (1 / (1 + np.exp(-logits)) - y)[:, None] / len(y)
            w1, b1, w2, b2 = params
            grad_w2 = h.T @ grad_logits
            grad_h = grad_logits @ w2.T * (1 - h**2)
            grads = [x.T @ grad_h, grad_h.sum(0), grad_w2, grad_logits.sum(0)]
            params = [p - lr * g for p, g in zip(params, grads)]
        train_loss, train_acc = _loss_acc(logits, y)
        _, val_logits = _forward(params, xv)
        val_loss, val_acc = _loss_acc(val_logits, yv)
        run.log(
            {"train/loss": train_loss, "train/accuracy": train_acc, "val/loss": val_loss, "val/accuracy": val_acc,
             "grad_norm": float(np.sqrt(sum(float(np.sum(g * g)) for g in grads)))},
            step=epoch,
        )
        if not np.isfinite(train_loss):
            raise FloatingPointError(f"training diverged at epoch {epoch} (lr={lr})")


def make_demo(folder: str | Path | None = None, *, force: bool = False) -> Path:
    """Create (once) the demo project and return its folder."""
    root = Path(folder) if folder else demo_dir()
    project = root / "two-moons"
    if project.exists() and not force:
        return project
    if project.exists():
        shutil.rmtree(project)
    project.mkdir(parents=True)
    for i, (lr, hidden) in enumerate(SWEEP):
        params = {"lr": lr, "hidden": hidden, "epochs": EPOCHS, "seed": i, "optimizer": "sgd"}
        try:
            with start_run(project, name=f"mlp-h{hidden}-lr{lr}", experiment="two-moons sweep", params=params,
                           tags={"model": "mlp", "dataset": "two-moons"}) as run:
                train(run, lr, hidden, seed=i)
        except FloatingPointError:
            pass  # a diverging learning rate is part of the demo: its run shows as failed
    return project
