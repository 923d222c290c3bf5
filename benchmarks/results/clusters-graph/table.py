"""The README's table for this folder: the clusters mode now (the feature probe trained on the
pool's neighbour graph, probe_graph) against random order with the same final model
(bench_clusters.py trains that probe, or the CNN recipe, on the random labels at each point), and
both before the change (../clusters-cover: the probe on a person's labels alone, the same seeds).
Writes graph.png beside it (with matplotlib): median test accuracy by label count, now, random
order now, and before. Usage: python table.py"""
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here.parent / "clusters-cover"))  # ahead of this folder, whose script is table.py too
from table import report  # noqa: E402  (../clusters-cover's table, with random order before too)

report(here, here.parent / "clusters-cover", "graph.png", random_before=True)
