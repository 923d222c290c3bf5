"""The README's table for this folder: the clusters mode with classifier=auto (softmax regression on
the contrastive encoder's features of a person's labels where it cross-validates better than the
CNN on them), against random order with the same final model (bench_clusters.py trains the probe
on the random labels wherever the run's epoch answered with it), and the runs before it with the CNN
alone (../clusters-spread-share, the same seeds). Writes probe.png beside it (with matplotlib): median
test accuracy by label count, now, before and random order now. Usage: python table.py"""
import json
import statistics
from pathlib import Path

here = Path(__file__).resolve().parent
before = here.parent / "clusters-spread-share"
NAMES = {"clusters": "digits", "clusters-photos": "photos", "clusters-shapes": "shapes",
         "clusters-photos60k": "photos, 60,000"}


def curve(path: Path) -> list[float]:
    data = json.loads(path.read_text())
    return [100 * p["accuracy"] for p in (data["curve"] if isinstance(data, dict) else data)]


def medians(values: list[list[float]]) -> list[float]:
    return [statistics.median(r[i] for r in values) for i in range(5)]


def row(name: str, values: list[float]) -> None:
    print(f"  {name:<16}", " | ".join(f"{v:.1f}" for v in values))


figure = {}
for stem, title in NAMES.items():
    seeds = [s for s in range(10) if (here / f"{stem}-tuilabel-{s}.json").exists()
             and (here / f"{stem}-random-{s}.json").exists()]
    if not seeds:
        continue
    runs = [json.loads((here / f"{stem}-tuilabel-{s}.json").read_text())["curve"] for s in seeds]
    new = [curve(here / f"{stem}-tuilabel-{s}.json") for s in seeds]
    rand = [curve(here / f"{stem}-random-{s}.json") for s in seeds]
    old = [curve(before / f"{stem}-tuilabel-{s}.json") for s in seeds]
    old_rand = [curve(before / f"{stem}-random-{s}.json") for s in seeds]
    print(f"{title} (seeds {seeds}); space kept: {[r[0].get('space') for r in runs]}")
    print(f"  what answered by epoch: {[[p.get('classifier', '-')[0] for p in r] for r in runs]}")
    cv = [[(p["classifier_cv"]["features"], p["classifier_cv"]["cnn"]) for p in r if "classifier_cv" in p]
          for r in runs]
    print(f"  cross-validated (features, cnn) when measured: {cv}")
    print(f"  labels {' | '.join(str(int(p['labels'])) for p in runs[0])}: median accuracy (%)")
    row("now", medians(new))
    row("random, now", medians(rand))
    row("before (CNN)", medians(old))
    row("random, before", medians(old_rand))
    if len(seeds) > 3:  # the measure: the median of seeds 0-2
        row("now 0-2", medians(new[:3]))
        row("random now 0-2", medians(rand[:3]))
    print("  per seed: now/random now/before")
    for s, c, r, o in zip(seeds, new, rand, old):
        print(f"  seed {s:<11}", " | ".join(f"{a:.1f}/{b:.1f}/{d:.1f}" for a, b, d in zip(c, r, o)))
    behind = [sum(c[i] < r[i] for c, r in zip(new, rand)) for i in range(5)]
    print("  now minus random now, mean (seeds behind):", " | ".join(
        f"{statistics.mean(c[i] - r[i] for c, r in zip(new, rand)):+.1f} ({b})" for i, b in enumerate(behind)))
    print("  now minus before, mean:", " | ".join(
        f"{statistics.mean(c[i] - o[i] for c, o in zip(new, old)):+.1f}" for i in range(5)))
    figure[title] = {"classifier=auto (now)": medians(new), "random order, same model (now)": medians(rand),
                     "CNN (before)": medians(old)}

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    raise SystemExit(0) from None
fig, axes = plt.subplots(1, len(figure), figsize=(3.2 * len(figure), 3.6), sharey=False, squeeze=False)
for ax, (title, lines) in zip(axes[0], figure.items()):
    for (name, values), style in zip(lines.items(), ("-o", ":s", "--^")):
        ax.plot([16, 32, 48, 64, 80], values, style, ms=3, label=name)
    ax.set_title(f"clusters on {title}", fontsize=9)
    ax.set_xlabel("human labels")
    ax.set_ylabel("median test accuracy (%)", fontsize=8)
    ax.legend(fontsize=6)
fig.tight_layout()
fig.savefig(here / "probe.png", dpi=100)
print(f"wrote {here / 'probe.png'}")
