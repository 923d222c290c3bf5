"""The random-order baseline's figures for the same images in two benchmark runs that differ only
in the CNN's image passes and augmentation (both copied from the clusters run of the same seed):
how far one fit moves with nothing but those. Reads the two first-epoch experiments' folders.

Usage: python same_images_other_passes.py
"""
import json
import statistics
from pathlib import Path

here = Path(__file__).resolve().parent.parent
a_dir, b_dir = here / "clusters-first-epoch-confidence", here / "clusters-first-epoch-checks"
diffs = []
for name in ["clusters-photos-random-0", "clusters-photos-random-1", "clusters-photos-random-2",
             "clusters-photos60k-random-0"]:
    a = json.loads((a_dir / f"{name}.json").read_text())
    b = json.loads((b_dir / f"{name}.json").read_text())
    for p, q in zip(a, b):
        if p["accuracy"] is None:
            continue
        d = 100 * (p["accuracy"] - q["accuracy"])
        diffs.append(d)
        print(f"{name} {p['labels']:3d} labels: {100 * p['accuracy']:.1f} ({p['passes']} passes, {p['augment']}) "
              f"against {100 * q['accuracy']:.1f} ({q['passes']}, {q['augment']})")
print(f"{len(diffs)} pairs: mean |difference| {statistics.mean(abs(d) for d in diffs):.1f} points, "
      f"largest {max(abs(d) for d in diffs):.1f}")
