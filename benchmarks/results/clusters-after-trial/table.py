"""The README's table for this folder: the clusters mode with after_trial=auto (once the first
epoch's trial of the two spaces keeps the encoder's, the epoch goes on down the session's random
order; where the graph-trained probe answers, later epochs follow that order, uncovered and with no
medoids) against random order with the same final model, and both in ../clusters-graph (the
default before: the encoder's medoids, covering; the same seeds). Writes after-trial.png beside it
(with matplotlib). Usage: python table.py"""
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here.parent / "clusters-cover"))  # ahead of this folder, whose script is table.py too
from table import report  # noqa: E402  (../clusters-cover's table, with random order before too)

report(here, here.parent / "clusters-graph", "after-trial.png", random_before=True)
