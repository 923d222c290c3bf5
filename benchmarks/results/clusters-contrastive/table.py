"""The README's table for this folder: the clusters mode clustering in the contrastive encoder's
features (space=contrastive, 200 batches), against random order with the same CNN recipe (the
paired baselines in ../clusters-averaged, whose VAE runs are the space=vae column), per seed and
as medians. Usage: python table.py"""
import json
import statistics
from pathlib import Path

here = Path(__file__).resolve().parent
before = here.parent / "clusters-averaged"


def curve(path: Path) -> list[float]:
    data = json.loads(path.read_text())
    return [100 * p["accuracy"] for p in (data["curve"] if isinstance(data, dict) else data)]


for stem in ["clusters", "clusters-photos", "clusters-shapes"]:
    seeds = [s for s in range(10) if (here / f"{stem}-tuilabel-{s}.json").exists()]
    new = [curve(here / f"{stem}-tuilabel-{s}.json") for s in seeds]
    vae = [curve(before / f"{stem}-tuilabel-{s}.json") for s in seeds]
    rand = [curve(before / f"{stem}-random-{s}.json") for s in seeds]
    print(f"{stem} (seeds {seeds})")
    for name, runs in (("contrastive", new), ("vae", vae), ("random", rand)):
        print(f"  {name:<12}", " | ".join(f"{statistics.median(r[i] for r in runs):.1f}" for i in range(5)))
    print(f"  {'paired':<12}", " | ".join(f"{statistics.mean(c[i] - r[i] for c, r in zip(new, rand)):+.1f}"
                                        for i in range(5)))
    print(f"  {'seeds behind':<12}", " | ".join(str(sum(c[i] < r[i] for c, r in zip(new, rand))) for i in range(5)))
