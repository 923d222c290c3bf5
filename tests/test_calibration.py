"""Temperature scaling of the confidence shown (tuilabel.calibration), and batch showing it only once
the labels have measured it."""

from __future__ import annotations

import numpy as np
import pytest

from tuilabel.calibration import MIN_CHECKS, fit_temperature, scaled


def _overconfident(n: int, right: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Guesses that say 99% and are right ``right`` of the time, over 4 classes."""
    rng = np.random.default_rng(seed)
    guess = rng.integers(0, 4, n)
    probs = np.full((n, 4), 0.01 / 3)
    probs[np.arange(n), guess] = 0.99
    truth = np.where(rng.random(n) < right, guess, (guess + rng.integers(1, 4, n)) % 4)
    return probs, truth


def test_an_overconfident_model_is_softened_to_how_often_it_is_right():
    probs, truth = _overconfident(400, right=0.6)
    t = fit_temperature(probs, truth)
    assert t is not None and t > 1
    shown = scaled(probs, t).max(axis=1)
    assert shown.mean() == pytest.approx(0.6, abs=0.08)  # what such a guess is worth
    assert (scaled(probs, t).argmax(axis=1) == probs.argmax(axis=1)).all()  # the guess itself stays


def test_a_model_that_is_right_when_sure_stays_sure_and_few_checks_say_nothing():
    probs, truth = _overconfident(400, right=1.0)
    t = fit_temperature(probs, truth)
    assert t is not None and t <= 1 and scaled(probs, t).max(axis=1).min() >= 0.99
    assert fit_temperature(probs[: MIN_CHECKS - 1], truth[: MIN_CHECKS - 1]) is None


def test_batch_hides_the_percentage_until_labels_check_it(sample_workspace):
    from tuilabel.sessions import Action, SimClock
    from tuilabel.sessions.batch import BatchSession, BatchSettings

    from .conftest import BATCH_TINY

    session = BatchSession(sample_workspace, clock=SimClock(), settings=BatchSettings(**{**BATCH_TINY, "start": 10}),
                           page_size=5)
    truth = session.pool.truth

    def label_until(n: int) -> None:
        while session.classified < n:
            session.handle(Action("label", int(truth[session.page[session.focus].index])))
            session.update_if_due()

    label_until(10)  # the first model: guesses, but nothing has checked them yet
    assert any(item.guess is not None for item in session.page)
    assert all(item.confidence is None for item in session.page) and session.temperature is None
    label_until(10 + MIN_CHECKS + 5)  # every label since was a check of a guess made before it
    assert len(session.checks) >= MIN_CHECKS and session.temperature is not None
    assert all(item.confidence is not None for item in session.page if item.guess is not None)
    rounds = session.round
    label_until(session.next_round_at)  # the next round saves the calibration with its state
    assert session.round > rounds
    session.close()
    again = BatchSession(sample_workspace, clock=SimClock(), settings=BatchSettings(**{**BATCH_TINY, "start": 10}),
                         page_size=5)
    assert again.temperature is not None  # a reopened session shows percentages before its own checks
