"""The README's table for this folder: batch mode with each acquisition strategy named outright
(entropy, least confidence, margin, CEAL fusion: the model asked from the second round on), against
random order and the default (strategy=auto), every other setting at its default, on the three data
sets, median of seeds 0, 1, 2. The strategies' runs are here (`--max-labels 98`); random order's and
the default's are the 250-label runs of ../batch-datasets-250.json, read up to 98 labels (a
simulated run is a function of its command and seed: mnist random seed 0 was run again here to
show that stopping at 98 changes nothing before it). Writes strategies.png beside it (with matplotlib).
Usage: python table.py"""
import json
import statistics
from pathlib import Path

here = Path(__file__).resolve().parent
earlier = json.loads((here.parent / "batch-datasets-250.json").read_text())["runs"]
STRATEGIES = ["entropy", "least_confidence", "margin", "fusion"]
figure: dict[str, dict[str, list[float]]] = {}


def points(curve: list[dict]) -> dict[int, float]:
    return {p["labels"]: 100 * p["accuracy"] for p in curve if p["labels"] <= 98}


for dataset in ["mnist", "photos", "shapes"]:
    random = {int(s): points(c) for s, c in earlier[dataset]["random"].items()}
    seeds = sorted(random)
    rows = {"random": [random[s] for s in seeds]}
    # the default orders at random until every class has 16 labels: by 98 labels no run had, so its
    # runs are random order's (the paired runs measured agree point for point)
    rows["default (auto)"] = rows["random"]
    for strategy in STRATEGIES:
        files = [here / f"batch-{dataset}-{strategy}-False-{s}.json" for s in seeds]
        if all(f.exists() for f in files):
            rows[strategy] = [points(json.loads(f.read_text())["curve"]) for f in files]
    check = here / f"batch-{dataset}-random-False-0.json"
    if check.exists():
        again = points(json.loads(check.read_text())["curve"])
        same = "the same" if again == random[0] else f"NOT the same: {again} against {random[0]}"
        print(f"{dataset}: random seed 0 run again to 98 labels is {same}")
    counts = sorted(rows["random"][0])
    print(f"\n{dataset}, seeds {seeds}: test accuracy (%) at {counts} labels (median; each seed at 98;"
          " paired mean and worst seed at 98 against random)")
    figure[dataset] = {}
    for name, runs in rows.items():
        medians = [statistics.median(r[n] for r in runs) for n in counts]
        figure[dataset][name] = medians
        gap = [m - statistics.median(r[n] for r in rows["random"]) for m, n in zip(medians, counts)]
        paired = [r[98] - q[98] for r, q in zip(runs, rows["random"])]
        print(f"| {dataset} | {name} | " + " | ".join(f"{m:.1f}" for m in medians)
              + " | " + ", ".join(f"{r[98]:.1f}" for r in runs) + f" | {statistics.mean(paired):+.1f} "
              + f"| {min(paired):+.1f} |  median vs random " + " ".join(f"{g:+.1f}" for g in gap))

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    raise SystemExit(0) from None
fig, axes = plt.subplots(1, 3, figsize=(12, 4))
for ax, (dataset, table) in zip(axes, figure.items()):
    for name, medians in table.items():
        if name != "default (auto)":  # random order's runs up to 98 labels
            ax.plot([20, 49, 98], medians, "--o" if name == "random" else "-o", ms=3,
                    label=name + (" = default" if name == "random" else ""))
    ax.set_title(f"batch on {dataset}, median of 3 seeds")
    ax.set_xlabel("human labels")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=7)
fig.tight_layout()
fig.savefig(here / "strategies.png", dpi=100)
print(f"wrote {here / 'strategies.png'}")
