"""The unit costs behind the simulated clock (`tuilabel.sessions.base.ComputeCosts`), measured.

`tuilabel simulate` charges an update's compute to the simulated clock from a model of the compute
(so that a command and seed give the same curve on any machine). This script measures the units on
the machine it runs on, median of 3 repeats, and prints them beside the constants in the code, with
their ratio: run it on the reference machine to recalibrate, or elsewhere to see how far it is from
the reference. The CNN's units come from real batch rounds on the sample (160 labels, the rest of the
pool scored under 10 views), timed inside the round as the batch mode runs it.

    python benchmarks/bench_compute.py [--out benchmarks/out/compute.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from tuilabel.cluster import kmeans
from tuilabel.models.cnn import CNNClassifier
from tuilabel.models.graph import NeighbourGraph
from tuilabel.models.vae import VAEClassifier
from tuilabel.sessions.base import COSTS
from tuilabel.sessions.batch import BatchSession, BatchSettings
from tuilabel.sessions.clusters import decode_image
from tuilabel.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent


def median_seconds(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "compute.json"))
    args = parser.parse_args()
    with np.load(ROOT / "sample_data" / "mnist-pool.npz") as d:
        images, labels = d["images"], d["labels"]
    x = images.astype(np.float32)[:, None] / 255.0
    y = labels.astype(np.int64)
    measured: dict[str, float] = {}

    # the CNN units as the batch mode spends them: real rounds (160 labels, 3,840 images x 10 views)
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.init(Path(tmp) / "ws", ROOT / "sample_data" / "mnist-pool.npz",
                            test=ROOT / "sample_data" / "mnist-test.npz")
        store = ws.store
        s = store.start_session("browse")
        for i in range(160):
            store.add(s, ws.pool.ids[i], int(ws.pool.truth[i]))
        train, score = [], []
        for _ in range(3):
            session = BatchSession(ws, BatchSettings(arch="small"), save_models=False)
            job = session.snapshot()
            result = session.train(job)
            train.append(result.seconds_train / result.images_trained)
            score.append(result.seconds_score / result.views_scored)
        ws.close()
    measured["cnn_image_epoch"] = statistics.median(train)
    measured["cnn_view"] = statistics.median(score)
    cnn = CNNClassifier(arch="small", epochs=1, patience=0, seed=0).fit(x[:640], y[:640], 10)

    seconds = median_seconds(lambda: cnn.predict_proba(x[:2000]))
    measured["evaluation_item"] = seconds / 2000

    vae = VAEClassifier(seed=0).build(x.shape[1:], 10)
    samples = 12000
    seconds = median_seconds(lambda: vae.fit_epoch(x, samples=samples))
    measured["vae_sample"] = seconds / samples

    def cluster() -> None:
        z = vae.encode(x)
        km = kmeans(z, 32, seed=0)
        decode_image(vae, km.centres, images.shape[1:])

    measured["cluster_item"] = median_seconds(cluster) / len(x)

    features = np.random.default_rng(0).normal(size=(8000, 128)).astype(np.float32)  # the encoder's width
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    seconds = median_seconds(lambda: NeighbourGraph(features))
    measured["graph_pair"] = seconds / len(features) ** 2

    # the backbone: EfficientNet-Lite0 at 224 pixels; the batch head on 1,280 features (250 labels,
    # then the probabilities and ranking of a 4,000-image pool, as a refit in the batch mode runs it)
    from tuilabel.models import backbones
    from tuilabel.models.head import EmbeddingHead

    net = backbones.load(backbones.DEFAULT, "cpu")
    photos = np.random.default_rng(0).integers(0, 255, (64, 224, 224, 3), dtype=np.uint8)
    measured["embed_image"] = median_seconds(lambda: net.encode(photos, 224)) / len(photos)  # type: ignore[attr-defined]
    feats = np.random.default_rng(0).normal(size=(4000, 1280)).astype(np.float32)
    feats[:, :10] += 3 * np.eye(10, dtype=np.float32)[y[:4000]]
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.init(Path(tmp) / "ws", ROOT / "sample_data" / "mnist-pool.npz")
        store = ws.store
        s = store.start_session("browse")
        for i in range(250):
            store.add(s, ws.pool.ids[i], int(ws.pool.truth[i]))
        session = BatchSession(ws, BatchSettings(), save_models=False, features=feats[: len(ws.pool)])
        job = session.refresh_snapshot()
        measured["head_fit"] = median_seconds(lambda: EmbeddingHead().fit(feats[job.idx], job.y, 10))
        whole = median_seconds(lambda: session.train(job))
        measured["head_item"] = max(whole - measured["head_fit"], 0.0) / len(job.candidates)
        ws.close()

    reference = asdict(COSTS)
    rows = {k: {"measured": v, "model": reference[k], "ratio": v / reference[k]} for k, v in measured.items()}
    print(f"{'unit':<18} {'measured s':>12} {'model s':>12} {'measured/model':>15}")
    for k, r in rows.items():
        print(f"{k:<18} {r['measured']:>12.3g} {r['model']:>12.3g} {r['ratio']:>15.2f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"threads": torch.get_num_threads(), "units": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
