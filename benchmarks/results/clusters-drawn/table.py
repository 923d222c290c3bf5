"""The README's table for this folder: the clusters mode as tried at commit f05a742 and reverted (in
the encoder's space the first epoch showed the random order's images, first_shown=auto; a grey
pool's space trial took them in turn; where the graph-trained probe answered, later epochs followed
that order without covering) against random order with the same final model, and both in
../clusters-graph (the default, kept; the same seeds). Writes drawn.png beside it (with
matplotlib). Usage: python table.py"""
import importlib.util
from pathlib import Path

here = Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("cover_table", here.parent / "clusters-cover" / "table.py")
assert spec is not None and spec.loader is not None
cover_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cover_table)  # the same table as ../clusters-cover's, with random order before too
cover_table.report(here, here.parent / "clusters-graph", "drawn.png", random_before=True)
