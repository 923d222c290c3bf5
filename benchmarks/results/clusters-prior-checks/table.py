"""The README's table for this folder: the clusters mode with the spread's weight estimated from the
checks and the person's confidence together (spread_prior_checks=8, the default), against random
order with the same CNN recipe (paired: recomputed for each run here), and the runs before it
(spread_prior_checks=0, the checks alone: ../clusters-space-trial). Usage: python table.py"""
import json
import statistics
from pathlib import Path

here = Path(__file__).resolve().parent
before = here.parent / "clusters-space-trial"
shapes_before = here.parent / "clusters-contrastive"


def curve(path: Path) -> list[float]:
    data = json.loads(path.read_text())
    return [100 * p["accuracy"] for p in (data["curve"] if isinstance(data, dict) else data)]


def row(name: str, values: list[list[float]]) -> None:
    print(f"  {name:<12}", " | ".join(f"{statistics.median(r[i] for r in values):.1f}" for i in range(5)))


for stem in ["clusters", "clusters-photos", "clusters-shapes", "clusters-photos60k"]:
    seeds = [s for s in range(10) if (here / f"{stem}-tuilabel-{s}.json").exists()
             and (here / f"{stem}-random-{s}.json").exists()]
    if not seeds:
        continue
    runs = [json.loads((here / f"{stem}-tuilabel-{s}.json").read_text())["curve"] for s in seeds]
    new = [curve(here / f"{stem}-tuilabel-{s}.json") for s in seeds]
    rand = [curve(here / f"{stem}-random-{s}.json") for s in seeds]
    old_dir = shapes_before if stem == "clusters-shapes" else before
    old = [curve(old_dir / f"{stem}-tuilabel-{s}.json") for s in seeds
           if (old_dir / f"{stem}-tuilabel-{s}.json").exists()]
    print(f"{stem} (seeds {seeds}); space kept: {[r[0].get('space') for r in runs]}")
    print(f"  spread weight by epoch: {[[p.get('spread_factor') for p in r] for r in runs]}")
    row("new", new)
    row("random", rand)
    if len(old) == len(seeds):
        row("before", old)
    if len(seeds) > 3:  # the measure: the median of seeds 0-2
        row("new 0-2", new[:3])
        row("random 0-2", rand[:3])
    for s, c, r in zip(seeds, new, rand):
        print(f"  seed {s:<7}", " | ".join(f"{a:.1f}/{b:.1f}" for a, b in zip(c, r)))
    print(f"  {'paired':<12}", " | ".join(f"{statistics.mean(c[i] - r[i] for c, r in zip(new, rand)):+.1f}"
                                        for i in range(5)))
    print(f"  {'seeds behind':<12}", " | ".join(str(sum(c[i] < r[i] for c, r in zip(new, rand))) for i in range(5)))
