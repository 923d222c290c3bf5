"""The README's table for this folder: the clusters mode now (trial_images=random: the space
trial shows the random order's images with their clusters' cores; after_trial=auto: once the trial
keeps the encoder's space the epoch goes on down the random order; where the graph-trained probe
answers, later epochs follow that order, uncovered and with no medoids) against random order with
the same final model, and both in ../clusters-graph (the default before; the same seeds). Then the
intermediate version in medoid-trial/ (commit ef53e53: the trial still showed the biggest clusters'
medoids) against the same. Writes after-trial.png and medoid-trial/medoid-trial.png (with
matplotlib). Usage: python table.py"""
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here.parent / "clusters-cover"))  # ahead of this folder, whose script is table.py too
from table import report  # noqa: E402  (../clusters-cover's table, with random order before too)

report(here, here.parent / "clusters-graph", "after-trial.png", random_before=True)
print("\nmedoid-trial/: the trial's medoids, then the random order")
report(here / "medoid-trial", here.parent / "clusters-graph", "medoid-trial.png", random_before=True)
