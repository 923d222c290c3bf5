"""The README's table for this folder: the clusters mode with the spread labels' share of the CNN's
training draws held to their measured weight S (spread_share=-1), against random order with the same
CNN recipe (the random runs of ../clusters-prior-checks, copied here: the same seeds, images and
training passes within 2%), and the runs before it (spread_share=1, no limit: ../clusters-prior-checks).
Usage: python table.py"""
import json
import statistics
from pathlib import Path

here = Path(__file__).resolve().parent
before = here.parent / "clusters-prior-checks"


def curve(path: Path) -> list[float]:
    data = json.loads(path.read_text())
    return [100 * p["accuracy"] for p in (data["curve"] if isinstance(data, dict) else data)]


def row(name: str, values: list[list[float]]) -> None:
    print(f"  {name:<14}", " | ".join(f"{statistics.median(r[i] for r in values):.1f}" for i in range(5)))


def paired(name: str, runs: list[list[float]], rand: list[list[float]]) -> None:
    print(f"  {name:<14}", " | ".join(f"{statistics.mean(c[i] - r[i] for c, r in zip(runs, rand)):+.1f}; "
                                      f"{sum(c[i] < r[i] for c, r in zip(runs, rand))}" for i in range(5)))


for stem in ["clusters", "clusters-photos", "clusters-shapes"]:
    seeds = [s for s in range(10) if (here / f"{stem}-tuilabel-{s}.json").exists()]
    if not seeds:
        continue
    runs = [json.loads((here / f"{stem}-tuilabel-{s}.json").read_text())["curve"] for s in seeds]
    new = [curve(here / f"{stem}-tuilabel-{s}.json") for s in seeds]
    rand = [curve(here / f"{stem}-random-{s}.json") for s in seeds]
    old = [curve(before / f"{stem}-tuilabel-{s}.json") for s in seeds]
    passes = [abs(p["cnn_images"] / q["passes"] - 1) for r, s in zip(runs, seeds)
              for p, q in zip(r, json.loads((here / f"{stem}-random-{s}.json").read_text()))]
    print(f"{stem} (seeds {seeds}); space kept: {[r[0].get('space') for r in runs]}; "
          f"training passes against random order's within {100 * max(passes):.1f}%")
    print(f"  spread weight S by epoch: {[[p.get('spread_factor') for p in r] for r in runs]}")
    print(f"  spread share of the draws: {[[p.get('spread_draws') for p in r] for r in runs]}")
    row("new", new)
    row("random", rand)
    row("before", old)
    for s, c, o, r in zip(seeds, new, old, rand):
        print(f"  seed {s:<9}", " | ".join(f"{a:.1f}/{b:.1f}/{d:.1f}" for a, b, d in zip(c, o, r)))
    print("  mean paired difference with random order; seeds behind it")
    paired("new", new, rand)
    paired("before", old, rand)
    print("  new against before, mean:", " | ".join(f"{statistics.mean(c[i] - o[i] for c, o in zip(new, old)):+.1f}"
                                                   for i in range(5)))
