"""The README's table for this folder: the clusters mode with the spread labels' share of the CNN's
training draws held to their measured weight S (spread_share=-1, the default), against random order
with the same CNN recipe (the random runs of ../clusters-prior-checks, copied here: the same seeds and
images, training passes within the percentage printed), and the runs before it (spread_share=1, no
limit: ../clusters-prior-checks). Writes spread-share.png beside it (with matplotlib): the mean paired
difference with random order at each label count, before and now. Usage: python table.py"""
import json
import statistics
from pathlib import Path

here = Path(__file__).resolve().parent
before = here.parent / "clusters-prior-checks"
NAMES = {"clusters": "digits", "clusters-photos": "photos", "clusters-shapes": "shapes",
         "clusters-photos60k": "photos, 60,000"}


def curve(path: Path) -> list[float]:
    data = json.loads(path.read_text())
    return [100 * p["accuracy"] for p in (data["curve"] if isinstance(data, dict) else data)]


def row(name: str, values: list[list[float]]) -> None:
    print(f"  {name:<14}", " | ".join(f"{statistics.median(r[i] for r in values):.1f}" for i in range(5)))


def paired(runs: list[list[float]], rand: list[list[float]]) -> list[float]:
    return [statistics.mean(c[i] - r[i] for c, r in zip(runs, rand)) for i in range(5)]


figure = {}
for stem, title in NAMES.items():
    seeds = [s for s in range(10) if (here / f"{stem}-tuilabel-{s}.json").exists()]
    if not seeds:
        continue
    runs = [json.loads((here / f"{stem}-tuilabel-{s}.json").read_text())["curve"] for s in seeds]
    new = [curve(here / f"{stem}-tuilabel-{s}.json") for s in seeds]
    rand = [curve(here / f"{stem}-random-{s}.json") for s in seeds]
    both = [s for s in seeds if (before / f"{stem}-tuilabel-{s}.json").exists()]  # seeds run before too
    old = [curve(before / f"{stem}-tuilabel-{s}.json") for s in both]
    new_both = [c for s, c in zip(seeds, new) if s in both]
    rand_both = [r for s, r in zip(seeds, rand) if s in both]
    passes = [abs(p["cnn_images"] / q["passes"] - 1) for r, s in zip(runs, seeds)
              for p, q in zip(r, json.loads((here / f"{stem}-random-{s}.json").read_text()))]
    print(f"{title} (seeds {seeds}); space kept: {[r[0].get('space') for r in runs]}; "
          f"training passes against random order's within {100 * max(passes):.1f}%")
    print(f"  spread weight S by epoch: {[[p.get('spread_factor') for p in r] for r in runs]}")
    print(f"  spread share of the draws: {[[p.get('spread_draws') for p in r] for r in runs]}")
    print(f"  labels {' | '.join(str(int(p['labels'])) for p in runs[0])}: median accuracy (%)")
    row("new", new)
    row("random", rand)
    if both != seeds:
        row(f"new {both[0]}-{both[-1]}", new_both)
        row(f"random {both[0]}-{both[-1]}", rand_both)
    row(f"before {both[0]}-{both[-1]}", old)
    if len(seeds) > 3:  # the measure: the median of seeds 0-2
        row("new 0-2", new[:3])
        row("random 0-2", rand[:3])
    print("  per seed: new/before/random")
    for s, c, r in zip(seeds, new, rand):
        o = old[both.index(s)] if s in both else [float("nan")] * 5
        print(f"  seed {s:<9}", " | ".join(f"{a:.1f}/{b:.1f}/{d:.1f}" for a, b, d in zip(c, o, r)))
    print("  mean paired difference with random order; seeds behind it")
    figure[title] = {"now": paired(new, rand), "before": paired(old, rand_both)}
    for name, runs_, rand_ in (("new", new, rand), (f"new {both[0]}-{both[-1]}", new_both, rand_both),
                               (f"before {both[0]}-{both[-1]}", old, rand_both)):
        if name.startswith("new ") and both == seeds:
            continue
        behind = [sum(c[i] < r[i] for c, r in zip(runs_, rand_)) for i in range(5)]
        print(f"  {name:<14}", " | ".join(f"{d:+.1f}; {b}" for d, b in zip(paired(runs_, rand_), behind)))
    print("  new against before, mean:", " | ".join(
        f"{statistics.mean(c[i] - o[i] for c, o in zip(new_both, old)):+.1f}" for i in range(5)))

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    raise SystemExit(0) from None
fig, axes = plt.subplots(1, len(figure), figsize=(3.2 * len(figure), 3.6), sharey=False)
for ax, (title, lines) in zip(axes, figure.items()):
    for name, values in lines.items():
        ax.plot([16, 32, 48, 64, 80], values, "-o" if name == "now" else "--s", ms=3,
                label="spread_share=-1 (now)" if name == "now" else "no limit (before; its seeds)")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_title(f"clusters on {title}", fontsize=9)
    ax.set_xlabel("human labels")
    ax.set_ylabel("mean paired difference with random (points)", fontsize=8)
    ax.legend(fontsize=7)
fig.tight_layout()
fig.savefig(here / "spread-share.png", dpi=100)
print(f"wrote {here / 'spread-share.png'}")
