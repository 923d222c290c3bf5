"""The README's table for this folder: the clusters mode now (random images that cover the
encoder's clusters, covering_order; the feature probe standardized by the pool's features) against
random order with the same final model (bench_clusters.py trains that probe, or the CNN recipe, on
the random labels at each point), and the runs before both changes (../clusters-probe, the same
seeds where they ran there). Writes cover.png beside it (with matplotlib): median test accuracy by
label count, now, random order now, and before. Usage: python table.py (../clusters-graph/table.py
calls ``report`` for its own folder)."""
import json
import statistics
from pathlib import Path

NAMES = {"clusters": "digits", "clusters-photos": "photos", "clusters-shapes": "shapes",
         "clusters-photos60k": "photos, 60,000"}


def curve(path: Path) -> list[float] | None:
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return [100 * p["accuracy"] for p in (data["curve"] if isinstance(data, dict) else data)]


def medians(values: list) -> list[float]:
    return [statistics.median(r[i] for r in values) for i in range(5)]


def row(name: str, values: list[float]) -> None:
    print(f"  {name:<20}", " | ".join(f"{v:5.1f}" for v in values))


def report(here: Path, before: Path, png: str, random_before: bool = False) -> None:
    """Print the table of the runs in ``here`` against those in ``before`` (and, with
    ``random_before``, random order's there) and draw ``png`` beside them."""
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
        print(f"  what answered by epoch: {[''.join(p.get('classifier', '-')[0] for p in r) for r in runs]}")
        print(f"  labels {' | '.join(str(int(p['labels'])) for p in runs[0])}: median test accuracy (%)")
        row("now", medians(new))
        row("random order, now", medians(rand))
        seeds_before = [s for s, o in zip(seeds, old) if o is not None]
        if seeds_before:
            row(f"before (seeds {seeds_before[0]}-{seeds_before[-1]})", medians([o for o in old if o is not None]))
        if random_before and all(o is not None for o in old_rand):
            row("random order, before", medians(old_rand))
        if len(seeds) > 3:  # the measure: the median of seeds 0-2
            row("now, seeds 0-2", medians(new[:3]))
            row("random, seeds 0-2", medians(rand[:3]))
        first = new[:3], rand[:3]
        print("  seeds 0-2, median now minus median random:", " | ".join(
            f"{a - b:+.1f}" for a, b in zip(medians(first[0]), medians(first[1]))))
        print("  per seed: now/random now/before")
        for s, c, r, o in zip(seeds, new, rand, old):
            print(f"  seed {s:<15}", " | ".join(f"{a:5.1f}/{b:5.1f}/{'-' if o is None else f'{o[i]:.1f}'}"
                                               for i, (a, b) in enumerate(zip(c, r))))
        behind = [sum(c[i] < r[i] - 1 for c, r in zip(new, rand)) for i in range(5)]
        print("  now minus random, mean (seeds more than a point behind):", " | ".join(
            f"{statistics.mean(c[i] - r[i] for c, r in zip(new, rand)):+.1f} ({b})" for i, b in enumerate(behind)))
        pairs = [(c, o) for c, o in zip(new, old) if o is not None]
        if pairs:
            print("  now minus before, mean:", " | ".join(
                f"{statistics.mean(c[i] - o[i] for c, o in pairs):+.1f}" for i in range(5)))
        figure[title] = {"now": medians(new), "random order, same model": medians(rand)}
        if seeds_before:
            figure[title]["before"] = medians([o for o in old if o is not None])

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, axes = plt.subplots(1, len(figure), figsize=(3.2 * len(figure), 3.6), sharey=False, squeeze=False)
    for ax, (title, lines) in zip(axes[0], figure.items()):
        for (name, values), style in zip(lines.items(), ("-o", ":s", "--^")):
            ax.plot([16, 32, 48, 64, 80], values, style, ms=3, label=name)
        ax.set_title(f"clusters on {title}", fontsize=9)
        ax.set_xlabel("human labels")
        ax.set_ylabel("median test accuracy (%)", fontsize=8)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(here / png, dpi=100)
    print(f"wrote {here / png}")


if __name__ == "__main__":
    folder = Path(__file__).resolve().parent
    report(folder, folder.parent / "clusters-probe", "cover.png")
