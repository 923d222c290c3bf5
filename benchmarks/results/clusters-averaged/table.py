"""The README's tables for this folder: medians of the seeds present (0-2, or 0-5 where seeds 3-5
ran too), clusters against random order, and the mean paired difference. Usage: python table.py"""
import json
import statistics
from pathlib import Path

here = Path(__file__).resolve().parent
for stem in ["clusters", "clusters-photos", "clusters-shapes", "clusters-photos60k"]:
    seeds = [s for s in range(10) if (here / f"{stem}-random-{s}.json").exists()]
    runs = [[100 * p["accuracy"] for p in json.loads((here / f"{stem}-tuilabel-{s}.json").read_text())["curve"]]
            for s in seeds]
    rand = [[100 * p["accuracy"] for p in json.loads((here / f"{stem}-random-{s}.json").read_text())] for s in seeds]
    mc = [statistics.median(r[i] for r in runs) for i in range(5)]
    mr = [statistics.median(r[i] for r in rand) for i in range(5)]
    paired = [statistics.mean(c[i] - r[i] for c, r in zip(runs, rand)) for i in range(5)]
    print(f"{stem} (seeds {seeds})")
    print("  clusters", " | ".join(f"**{a:.1f}**" if a >= b - 1 else f"{a:.1f}" for a, b in zip(mc, mr)))
    print("  random  ", " | ".join(f"{b:.1f}" for b in mr))
    print("  paired  ", " | ".join(f"{d:+.1f}" for d in paired))
    behind = [sum(c[i] < r[i] for c, r in zip(runs, rand)) for i in range(5)]
    print("  seeds behind", " | ".join(str(b) for b in behind))
    for s, c, r in zip(seeds, runs, rand):
        print(f"  seed {s} at 80 labels: {c[-1]:.1f} (random {r[-1]:.1f})")
