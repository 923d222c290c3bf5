"""The README's table for this folder: the clusters mode now (in the encoder's space the first
epoch shows the random order's images, first_shown=auto; where the graph-trained probe answers,
later epochs' random images follow that order without covering) against random order with the same
final model, and both before the change (../clusters-graph, the same seeds). Writes drawn.png
beside it (with matplotlib). Usage: python table.py"""
import importlib.util
from pathlib import Path

here = Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("cover_table", here.parent / "clusters-cover" / "table.py")
assert spec is not None and spec.loader is not None
cover_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cover_table)  # the same table as ../clusters-cover's, with random order before too
cover_table.report(here, here.parent / "clusters-graph", "drawn.png", random_before=True)
