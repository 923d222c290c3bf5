#!/bin/bash
# The 60,000-photograph runs of this folder: WS made by
#   python scripts/make_datasets.py D --which photos --pool 60000 --test 10000
#   tuilabel init WS --data D/photos-pool.npz --test D/photos-test.npz
# then, from the project root: bash benchmarks/results/clusters-averaged/run60.sh WS OUT
WS=$1; OUT=$2; mkdir -p "$OUT"
export OMP_NUM_THREADS=1
for s in 0 1 2; do
tuilabel simulate "$WS" --mode clusters --labels 80 --seed $s --out "$OUT/clusters-photos60k-tuilabel-$s.json"
python - "$WS" "$OUT" $s <<'PY'
import json, sys
from pathlib import Path
sys.path.insert(0, "benchmarks")
from bench_clusters import random_baseline
from tuilabel.workspace import Workspace
ws, out, seed = Workspace(Path(sys.argv[1])), Path(sys.argv[2]), int(sys.argv[3])
curve = json.loads((out / f"clusters-photos60k-tuilabel-{seed}.json").read_text())["curve"]
(out / f"clusters-photos60k-random-{seed}.json").write_text(json.dumps(random_baseline(ws, curve, seed)))
PY
done
