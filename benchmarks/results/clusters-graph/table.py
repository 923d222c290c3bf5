"""The README's table for this folder: the clusters mode now (the feature probe trained on the
pool's neighbour graph, probe_graph) against random order with the same final model
(bench_clusters.py trains that probe, or the CNN recipe, on the random labels at each point), and
both before the change (../clusters-cover: the probe on a person's labels alone, the same seeds).
Writes graph.png beside it (with matplotlib): median test accuracy by label count, now, random
order now, and before. Usage: python table.py"""
import importlib.util
from pathlib import Path

here = Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("cover_table", here.parent / "clusters-cover" / "table.py")
assert spec is not None and spec.loader is not None
cover_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cover_table)  # the same table as ../clusters-cover's, with random order before too
cover_table.report(here, here.parent / "clusters-cover", "graph.png", random_before=True)
