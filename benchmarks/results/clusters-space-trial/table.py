"""The README's table for this folder: the clusters mode with space=auto measuring the space in its
first epoch (space_trial=4 clusters of each, the VAE's latent and the contrastive encoder's
features), against random order with the same CNN recipe (paired: the session's own random order,
recomputed for each run here), and the runs before the trial (grey pools always in the VAE's latent:
../clusters-averaged). Usage: python table.py [FOLDER, e.g. retract-only]"""
import json
import statistics
import sys
from pathlib import Path

here = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else Path(__file__).resolve().parent
before = Path(__file__).resolve().parent.parent / "clusters-averaged"


def curve(path: Path) -> list[float]:
    data = json.loads(path.read_text())
    return [100 * p["accuracy"] for p in (data["curve"] if isinstance(data, dict) else data)]


for stem in ["clusters", "clusters-photos", "clusters-photos60k"]:
    seeds = [s for s in range(10) if (here / f"{stem}-tuilabel-{s}.json").exists()
             and (here / f"{stem}-random-{s}.json").exists()]
    if not seeds:
        continue
    runs = [json.loads((here / f"{stem}-tuilabel-{s}.json").read_text())["curve"] for s in seeds]
    new = [curve(here / f"{stem}-tuilabel-{s}.json") for s in seeds]
    rand = [curve(here / f"{stem}-random-{s}.json") for s in seeds]
    old = [curve(before / f"{stem}-tuilabel-{s}.json") for s in seeds
           if (before / f"{stem}-tuilabel-{s}.json").exists()]
    print(f"{stem} (seeds {seeds}); space kept: {[r[0].get('space') for r in runs]}; "
          f"trial scores: {[r[0].get('space_trial') for r in runs]}")
    rows = [("trial", new), ("random", rand)] + ([("before", old)] if len(old) == len(seeds) else [])
    for name, values in rows:
        print(f"  {name:<12}", " | ".join(f"{statistics.median(r[i] for r in values):.1f}" for i in range(5)))
    for s, c, r in zip(seeds, new, rand):
        print(f"  seed {s:<7}", " | ".join(f"{a:.1f}/{b:.1f}" for a, b in zip(c, r)))
    print(f"  {'paired':<12}", " | ".join(f"{statistics.mean(c[i] - r[i] for c, r in zip(new, rand)):+.1f}"
                                        for i in range(5)))
    print(f"  {'seeds behind':<12}", " | ".join(str(sum(c[i] < r[i] for c, r in zip(new, rand))) for i in range(5)))
