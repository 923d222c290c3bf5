"""The README's table for this folder: the clusters mode as tried at commit f05a742 and reverted (in
the encoder's space the first epoch showed the random order's images, first_shown=auto; a grey
pool's space trial took them in turn; where the graph-trained probe answered, later epochs followed
that order without covering) against random order with the same final model, and both in
../clusters-graph (the default, kept; the same seeds). Writes drawn.png beside it (with
matplotlib). Usage: python table.py"""
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here.parent / "clusters-cover"))  # ahead of this folder, whose script is table.py too
from table import report  # noqa: E402  (../clusters-cover's table, with random order before too)

report(here, here.parent / "clusters-graph", "drawn.png", random_before=True)
