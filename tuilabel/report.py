"""`tuilabel report`: the workspace's work as pictures.

Learning curves of the workspace's own sessions (test accuracy against labels and against time, per
mode, from each mode's saved state), the class balance of the labels, the confusion matrix of the
current model on the test set, labels by source over time, and annotator agreement. In the terminal
as plotext plots; as a PNG (matplotlib) or a self-contained HTML page with the same figures.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .agreement import agreement
from .curves import StoppingSignal, stopping_signal
from .errors import TuilabelError
from .sessions import registry
from .workspace import Workspace


def curve_modes() -> list[str]:
    """The modes whose saved state keeps a learning curve."""
    return [m.name for m in registry.MODES if m.built and m.curve]


def confusion_models() -> list[tuple[str, str]]:
    """(model file, title) of each CNN classifier whose confusion matrix `report` can draw, in order."""
    return [(model.name, model.confusion) for m in registry.MODES for model in m.models if model.confusion]


@dataclass
class Report:
    workspace: str
    class_names: list[str]
    curves: dict[str, list[tuple[int, float, float | None]]] = field(default_factory=dict)  # labels, s, acc
    balance: dict[str, list[int]] = field(default_factory=dict)  # source -> count per class
    confusion: np.ndarray | None = None  # (true, predicted) counts on the test set
    confusion_model: str = ""
    timeline: dict[str, list[float]] = field(default_factory=dict)  # source -> event times, minutes
    agreement: list[tuple[str, str, int, float | None]] = field(default_factory=list)
    signals: dict[str, StoppingSignal] = field(default_factory=dict)
    estimates: dict[str, str] = field(default_factory=dict)  # mode -> "test", "cv" or "none": what its accuracy is

    @property
    def accuracy_name(self) -> str:
        """What the curves' accuracy is: on the test set, cross-validated on the labels (no test
        set), or either (modes differ)."""
        kinds = {e for e in self.estimates.values() if e != "none"}
        if kinds == {"cv"}:
            return "cv accuracy (on your labels)"
        return "test accuracy" if kinds <= {"test"} else "accuracy (test set, or cv without one)"


def gather(ws: Workspace, confusion: bool = True) -> Report:
    names = ws.class_names
    report = Report(str(ws.path), names)
    for mode in curve_modes():
        path = ws.models_dir / f"{mode}-state.json"
        if not path.exists():
            continue
        try:
            points = json.loads(path.read_text()).get("curve", [])
        except (OSError, ValueError) as exc:
            raise TuilabelError(f"cannot read the {mode} mode's saved state ({exc})", path) from None
        # labels the model learnt from (review's points count the labels reviewed: "labelled" says)
        curve = [(int((p.get("extra") or {}).get("labelled", p["labels"])), float(p["seconds"]), p.get("accuracy"))
                 for p in points]
        if curve:
            report.curves[mode] = curve
            default = "test" if ws.test is not None else "cv"  # a point saved without it: the workspace says
            estimate = (points[-1].get("extra") or {}).get("estimate", default)
            report.estimates[mode] = estimate
            signal = stopping_signal([(n, a) for n, _, a in curve], estimate=estimate)
            if signal is not None:
                report.signals[mode] = signal
    counts = ws.store.counts()
    for source in ("human", "propagated", "pseudo"):
        row = [counts.get((source, k), 0) for k in range(len(names))]
        if any(row):
            report.balance[source] = row
    events = list(ws.store.events(samples=False))
    if events:
        start = min(ev.time for ev in events)
        first: set[tuple[str, str | None]] = set()
        for ev in sorted(events, key=lambda e: e.time):
            if (ev.source, ev.item_id) in first and ev.item_id is not None:
                continue  # a label given again (review's keep, a change of mind): not a new label
            first.add((ev.source, ev.item_id))
            report.timeline.setdefault(ev.source, []).append((ev.time - start) / 60.0)
    report.agreement = agreement(ev for ev in events if ev.source == "human")
    test = ws.test
    if confusion and test is not None and test.truth is not None:
        for name, title in confusion_models():
            if ws.has_model(name):
                from .models.cnn import CNNClassifier

                model = ws.load_model(name, CNNClassifier.load)
                predicted = model.predict(test.as_float())
                known = test.truth >= 0
                matrix = np.zeros((len(names), len(names)), np.int64)
                np.add.at(matrix, (test.truth[known], predicted[known]), 1)
                report.confusion, report.confusion_model = matrix, title
                break
    return report


# -- in the terminal ------------------------------------------------------------------------------------


def terminal(report: Report, width: int = 80, height: int = 14, color: bool = False) -> str:
    """The report as text: plotext plots and small tables, ``width`` columns wide (colours only
    when asked: a pipe, a file and NO_COLOR get plain characters)."""
    import plotext as plt

    parts = [f"tuilabel report: {report.workspace}"]

    def plot(build: Any) -> None:
        plt.clear_figure()
        plt.plotsize(width, height)
        plt.theme("pro" if color else "clear")
        build()
        text = plt.build()
        parts.append(text if color else plt.uncolorize(text))

    if report.curves:
        def by_labels() -> None:
            for mode, curve in report.curves.items():
                pts = [(n, 100 * a) for n, _, a in curve if a is not None]
                if pts:
                    plt.plot([p[0] for p in pts], [p[1] for p in pts], label=mode, marker="hd")
            plt.title(f"{report.accuracy_name} (%) by labels spent")
            plt.xlabel("labels (review: items reviewed)")

        def by_time() -> None:
            for mode, curve in report.curves.items():
                pts = [(s / 60, 100 * a) for _, s, a in curve if a is not None]
                if pts:
                    plt.plot([p[0] for p in pts], [p[1] for p in pts], label=mode, marker="hd")
            plt.title(f"{report.accuracy_name} (%) by minutes in the session")

        plot(by_labels)
        plot(by_time)
        for mode, signal in report.signals.items():
            parts.append(f"when to stop ({mode}): {signal.text()} (at {signal.labels} labels)")
    else:
        parts.append(f"no learning curve yet: a model's update in {' or '.join(curve_modes())} makes one")
    if report.balance:
        def balance() -> None:
            names = [n[:8] for n in report.class_names]
            if len(report.balance) == 1:
                source, row = next(iter(report.balance.items()))
                plt.bar(names, row, label=source)
            else:
                plt.multiple_bar(names, list(report.balance.values()), labels=list(report.balance))
            plt.title("labels per class, by source")

        plot(balance)
    if report.timeline:
        def timeline() -> None:
            for source, times in report.timeline.items():
                t = np.sort(times)
                plt.plot(t.tolist(), np.arange(1, len(t) + 1).tolist(), label=source, marker="hd")
            plt.title("labels by source over time (cumulative)")
            plt.xlabel("minutes since the first label")

        plot(timeline)
    if report.confusion is not None:
        parts.append(confusion_text(report.confusion, report.class_names, report.confusion_model))
    if report.agreement:
        parts.append("annotator agreement (Cohen's kappa, items both gave a class):")
        for a, b, n, kappa in report.agreement:
            parts.append(f"  {a} / {b}: {n} items, kappa {'-' if kappa is None else f'{kappa:.3f}'}")
    return "\n".join(parts)


def confusion_text(matrix: np.ndarray, names: list[str], model: str) -> str:
    short = [n[:5] for n in names]
    width = max(5, len(str(int(matrix.max()))) + 1)
    total = matrix.sum()
    accuracy = np.trace(matrix) / total if total else 0.0
    lines = [f"confusion of the {model} on the test set (rows: true, columns: predicted; accuracy {accuracy:.1%}):",
             " " * 7 + "".join(f"{s:>{width}}" for s in short)]
    for k, row in enumerate(matrix):
        lines.append(f"{short[k]:>6} " + "".join(f"{v:>{width}}" if v else f"{'.':>{width}}" for v in row))
    off = matrix - np.diag(np.diag(matrix))
    if off.any():
        worst = np.dstack(np.unravel_index(np.argsort(-off, axis=None)[:3], off.shape))[0]
        pairs = ", ".join(f"{names[t]}→{names[p]} {off[t, p]}" for t, p in worst if off[t, p])
        lines.append(f"most confused: {pairs}")
    return "\n".join(lines)


# -- as a picture -------------------------------------------------------------------------------------------


def figure(report: Report) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as mpl

    fig, axes = mpl.subplots(2, 3, figsize=(16, 9.5))
    fig.suptitle(f"tuilabel report: {report.workspace}")
    ax = axes[0, 0]
    for mode, curve in report.curves.items():
        pts = [(n, 100 * a) for n, _, a in curve if a is not None]
        if pts:
            ax.plot(*zip(*pts), marker="o", label=mode)
    ax.set(title=f"{report.accuracy_name} by labels spent", xlabel="labels (review: items reviewed)", ylabel="%")
    ax = axes[0, 1]
    for mode, curve in report.curves.items():
        minutes = [(s / 60, 100 * a) for _, s, a in curve if a is not None]
        if minutes:
            ax.plot(*zip(*minutes), marker="o", label=mode)
    ax.set(title=f"{report.accuracy_name} by time in the session", xlabel="minutes", ylabel="%")
    for ax in axes[0, :2]:
        if report.curves:
            ax.legend()
        else:
            ax.text(0.5, 0.5, "no learning curve yet", ha="center", transform=ax.transAxes)
    ax = axes[0, 2]
    k = np.arange(len(report.class_names))
    bottom = np.zeros(len(k))
    for source, row in report.balance.items():
        ax.bar(k, row, bottom=bottom, label=source)
        bottom += np.array(row)
    ax.set_xticks(k, [n[:8] for n in report.class_names], rotation=45 if len(k) > 10 else 0)
    ax.set(title="labels per class, by source")
    if report.balance:
        ax.legend()
    ax = axes[1, 0]
    if report.confusion is not None:
        ax.imshow(report.confusion, cmap="Blues")
        for (t, p), v in np.ndenumerate(report.confusion):
            if v:
                light = v > report.confusion.max() / 2
                ax.text(p, t, str(v), ha="center", va="center", fontsize=7, color="white" if light else "black")
        ax.set_xticks(k, [n[:6] for n in report.class_names])
        ax.set_yticks(k, [n[:6] for n in report.class_names])
        ax.set(title=f"confusion on the test set ({report.confusion_model})", xlabel="predicted", ylabel="true")
    else:
        ax.text(0.5, 0.5, "no model or no test set", ha="center", transform=ax.transAxes)
        ax.set_title("confusion on the test set")
    ax = axes[1, 1]
    for source, times in report.timeline.items():
        t = np.sort(times)
        ax.step(t, np.arange(1, len(t) + 1), where="post", label=source)
    ax.set(title="labels by source over time", xlabel="minutes since the first label", ylabel="labels")
    if report.timeline:
        ax.legend()
    ax = axes[1, 2]
    ax.axis("off")
    lines = ["when to stop:"] + [f"  {m}: {s.text()}" for m, s in report.signals.items()] or ["  -"]
    lines += ["", "annotator agreement (Cohen's kappa):"]
    lines += [f"  {a} / {b}: {n} items, {'-' if kv is None else f'{kv:.3f}'}" for a, b, n, kv in report.agreement] \
        or ["  one annotator"]
    ax.text(0, 1, "\n".join(lines), va="top", family="monospace", fontsize=9)
    fig.tight_layout()
    return fig


def check_out(out: Path) -> None:
    """The report's file must be a .png or .html (checked before any work)."""
    if out.suffix.lower() not in (".png", ".html", ".htm"):
        raise TuilabelError("the report is written as .png or .html", out)


def write(report: Report, out: Path) -> None:
    """A PNG, or an HTML page with the PNG inside (by the file's suffix)."""
    check_out(out)
    suffix = out.suffix.lower()
    fig = figure(report)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".png":
        out.write_bytes(buffer.getvalue())
        return
    text = terminal(report, width=110).replace("&", "&amp;").replace("<", "&lt;")
    png = base64.b64encode(buffer.getvalue()).decode()
    out.write_text(f"""<!doctype html><meta charset="utf-8"><title>tuilabel report</title>
<h1>tuilabel report</h1><p>{report.workspace}</p>
<img alt="learning curves, class balance, confusion, labels over time" src="data:image/png;base64,{png}">
<pre>{text}</pre>
""")
