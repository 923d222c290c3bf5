"""Mean paired difference from random order per kind, in picks.py's printed lines. Usage: python summ.py LOG..."""

import collections
import re
import sys
from pathlib import Path

import numpy as np

rows = collections.defaultdict(dict)
for f in sys.argv[1:]:
    for line in Path(f).read_text().splitlines():
        m = re.match(r"(\d+) (\d+) (\S+) \[(.*)\]", line)
        if m:
            rows[m[3]][(m[1], m[2])] = np.array([float(v) for v in m[4].split(",")])
base = rows["random"]
print("kind            n  mean diff vs random at 16..80 | runs >1 behind | mean acc")
for k, r in rows.items():
    keys = [key for key in r if key in base]
    d = np.array([r[key] - base[key] for key in keys])
    acc = np.array([r[key] for key in keys])
    print(
        f"{k:14s} {len(keys):2d}",
        " ".join(f"{v:+5.1f}" for v in d.mean(0)),
        "|",
        " ".join(f"{v:2d}" for v in (d < -1).sum(0)),
        "|",
        " ".join(f"{v:5.1f}" for v in acc.mean(0)),
    )
