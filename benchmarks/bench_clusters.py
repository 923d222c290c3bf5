"""Clusters mode: test accuracy per epoch and human labels spent, against seed 003 and k-means on pixels.

Each run is `tuilabel simulate WS --mode clusters --labels 80` on the sample data: a VAE pretrained
without labels, then epochs of cluster decisions by a simulated person (the image shown large told
by its truth, the confidence from the members shown; seed 003's decoded centre read by a reference
CNN, "no class" below 0.7) and training. Runs, median over seeds:

- tuilabel defaults: the classifier is a CNN trained on the spread labels (weights w_n of equation 2);
  the same runs also give the VAE head's accuracy;
- seed 003's settings: beta 5, one unsupervised epoch, all 16 centres of a fresh k=16 clustering
  every epoch, a = 1, the VAE head as the classifier;
- no class term (gamma = 0), to compare the reconstruction error with and without it (the seed
  reports the term improves it);
- k-means on raw pixels with as many centres as labels, each centre image judged by the same
  simulated person, labels spread to clusters: test items take their nearest centre's label, and a
  CNN trained on the spread labels with the same weights;
- random order with the same final model: after each epoch of a tuilabel run, as many random pool
  images as it had spent labels on, with their true labels, train the same CNN (architecture, seed,
  the augmentation that epoch's CNN trained with) for the same image passes as that epoch's CNN on
  its spread labels. The images are the first of the session's own random order (``random_order``),
  the one later epochs draw their random images from, so that the two runs of a seed share the images
  the mode showed at random (a paired comparison: what differs is what the clusters chose). Where
  that epoch's answer came from softmax regression on the contrastive encoder's features
  (``classifier=features``, or ``auto`` when it chose them), the random labels train that instead,
  on the features of the same encoder (trained again with the run's seed, as the simulation did).

On `--dataset photos|shapes` (made by ``scripts/make_datasets.py``) the seed's and gamma's rows and
the pixel baseline are left out unless asked for with ``--skip ''``.

Usage:
  python benchmarks/bench_clusters.py [--dataset mnist|photos|shapes] [--seeds 0 1 2] [--labels 80]
      [--skip seed,gamma0,pixels,random] [--reuse] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from make_datasets import benchmark_files  # noqa: E402

from tuilabel.cluster import kmeans  # noqa: E402
from tuilabel.models.augment import PRESETS, Augment  # noqa: E402
from tuilabel.models.cnn import CNNClassifier  # noqa: E402
from tuilabel.models.probe import FeatureProbe  # noqa: E402
from tuilabel.sessions.backbone import backbone_space  # noqa: E402
from tuilabel.sessions.clusters import CONFIDENCE, ClustersSettings, load_or_train_encoder, random_order  # noqa: E402
from tuilabel.sessions.settings import parse_option  # noqa: E402
from tuilabel.simulate import CentreJudge, SimSettings, reference_classifier, run_simulation  # noqa: E402
from tuilabel.workspace import Workspace  # noqa: E402

SEED_003 = {"preset": "seed003"}  # beta 5, one epoch without labels, k=16 every epoch, a=1, the VAE's head


def pixel_baseline(ws: Workspace, k: int, seed: int) -> dict:
    """k-means on raw pixels; each centre labelled by the simulated person; labels spread."""
    settings = ClustersSettings()
    x = ws.pool.as_float()
    flat = x.reshape(len(x), -1)
    t0 = time.perf_counter()
    km = kmeans(flat, k, seed=seed)
    judge = CentreJudge(ws, SimSettings(mode="clusters", seed=seed))
    centre_images = np.clip(np.rint(km.centres.reshape(k, *ws.pool.image_shape) * 255), 0, 255).astype(np.uint8)
    decisions = [judge.judge(img) for img in centre_images]
    labels = np.array([-1 if lab is None else lab for lab, _ in decisions])
    conf = np.array([CONFIDENCE[level] for _, level in decisions])
    scale = float(np.median(km.distances))
    y = labels[km.assignment]
    w = (conf[km.assignment] * np.exp(-settings.a * km.distances / scale)).astype(np.float32)
    tx = ws.test.as_float()
    nearest = np.linalg.norm(tx.reshape(len(tx), -1)[:, None] - km.centres[None], axis=2).argmin(1)
    labelled_centres = labels >= 0
    # a test item whose nearest centre shows no class takes the nearest labelled centre's label
    d = np.linalg.norm(tx.reshape(len(tx), -1)[:, None] - km.centres[None][:, labelled_centres], axis=2)
    nearest_labelled = labels[labelled_centres][d.argmin(1)]
    pred = np.where(labels[nearest] >= 0, labels[nearest], nearest_labelled)
    has = y >= 0
    cnn = CNNClassifier(arch="small", epochs=settings.cnn_epochs, patience=0, augment=Augment(), seed=seed)
    cnn.fit(x[has], y[has], ws.pool.n_classes, sample_weight=w[has])
    truth = ws.pool.truth
    return {"k": k, "labels": k, "no_class": int((~labelled_centres).sum()),
            "spread_accuracy": float((y[has] == truth[has]).mean()),
            "nearest_centre_accuracy": float((pred == ws.test.truth).mean()),
            "cnn_accuracy": cnn.score(tx, ws.test.truth), "seconds": time.perf_counter() - t0}


def random_baseline(ws: Workspace, curve: list[dict], seed: int, graphs: bool = True,
                    in_backbone: bool = False) -> list[dict]:
    """At each epoch of a run: its label count of random pool images (true labels), the same CNN
    recipe (augmentation, weight averaging) for the same image passes as that epoch's CNN on its spread
    labels, or where the encoder's features answered, the same probe (trained on the neighbour graph's
    spread labels with ``graphs``, as the run's probe_graph setting says)."""
    settings = ClustersSettings()
    x, truth = ws.pool.as_float(), ws.pool.truth
    tx, ty = ws.test.as_float(), ws.test.truth
    order = random_order(len(x), seed)  # the session's own: where it shows random images, the same ones
    points = []
    encoded: list = []  # the run's contrastive encoder and the pool's features, made when first needed
    for e, point in enumerate(curve):
        n = int(point["labels"])
        if n < 2:
            points.append({"labels": n, "accuracy": None})
            continue
        pick = order[:n]
        if point.get("classifier") == "features":  # the run's answer came from its encoder's features
            if not encoded:  # the simulation trains its own, seeded by the run's seed: the same one again
                if in_backbone:  # or reads the backbone's features, as the run did (space=backbone)
                    encoder, features = backbone_space(ws, x)
                else:
                    encoder = load_or_train_encoder(ws, ClustersSettings(seed=seed), x, save_models=False)
                    features = encoder.encode(x)
                graph = FeatureProbe(encoder, pool=features).pool_graph(features, seed=seed) if graphs else None
                encoded = [encoder, features, graph]
            probe = FeatureProbe(encoded[0], seed=seed + e + 1, pool=encoded[1], graph=encoded[2]).fit_items(
                encoded[1][pick], pick, truth[pick], ws.pool.n_classes)
            points.append({"labels": n, "accuracy": probe.score(tx, ty), "classifier": "features",
                           "probe_rows": probe.trained_on})
            continue
        passes = int(point.get("cnn_images") or settings.cnn_epochs * int(point.get("spread_to") or n))
        augment = PRESETS[point.get("augment", "geometric")]  # what that epoch's CNN trained with
        average = float(point.get("cnn_average", 1.0))  # runs before the setting: the last step's weights
        cnn = CNNClassifier(arch="small", epochs=1, patience=0, augment=augment, seed=seed + e + 1,
                            average_from=average)
        cnn.epochs = epochs = max(1, round(passes / cnn.images_per_epoch(n)))
        cnn.fit(x[pick], truth[pick], ws.pool.n_classes)
        points.append({"labels": n, "accuracy": cnn.score(tx, ty), "epochs": epochs, "passes": cnn.images_seen_,
                       "clusters_passes": passes, "augment": point.get("augment", "geometric"),
                       "average_from": average})
    return points


def med(values: list) -> float:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--labels", type=int, default=80)
    parser.add_argument("--dataset", choices=["mnist", "photos", "shapes", "colour"], default="mnist")
    parser.add_argument("--skip", default=None, help="comma-separated: seed,gamma0,pixels,random")
    parser.add_argument("--reuse", action="store_true", help="read runs whose file the output folder holds")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a clusters setting for the tuilabel runs (e.g. classifier=cnn)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out"))
    parser.add_argument("--backbone", default="none",
                        help="the workspace's pretrained network (e.g. efficientnet-lite0), whose features "
                             "--set space=backbone clusters in")
    args = parser.parse_args()
    if args.skip is None:
        args.skip = "" if args.dataset == "mnist" else "seed,gamma0,pixels"
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    variants = {"tuilabel": dict(parse_option(kv) for kv in args.set)}
    if "seed" not in skip:
        variants["seed 003 settings"] = SEED_003
    if "gamma0" not in skip:
        variants["no class term (gamma 0)"] = {"gamma": "0", "classifier": "vae"}
    runs: dict[str, list[dict]] = {}
    baselines: list[dict] = []
    randoms: list[list[dict]] = []
    stem = ("clusters" if args.dataset == "mnist" else f"clusters-{args.dataset}") + (
        "" if args.backbone == "none" else f"-{args.backbone}")
    with tempfile.TemporaryDirectory() as tmp:
        pool_file, test_file = benchmark_files(args.dataset, Path(tmp))
        ws = Workspace.init(Path(tmp) / "ws", pool_file, test=test_file, backbone=args.backbone)
        reference = reference_classifier(ws)
        print(f"reference classifier (the simulated person's eyes): test accuracy "
              f"{reference.score(ws.test.as_float(), ws.test.truth):.3f}", flush=True)
        for name, options in variants.items():
            runs[name] = []
            for seed in args.seeds:
                settings = SimSettings(mode="clusters", labels=args.labels, seed=seed, epochs=5, options=dict(options))
                t0 = time.perf_counter()
                slug = name.split()[0].replace("(", "")
                run_file = out_dir / f"{stem}-{slug}-{seed}.json"
                if args.reuse and run_file.exists():
                    result = json.loads(run_file.read_text())
                else:
                    result = run_simulation(ws.path, settings, run_file)
                runs[name].append({"curve": result["curve"], "wall": time.perf_counter() - t0})
                if name == "tuilabel" and "random" not in skip:
                    random_file = out_dir / f"{stem}-random-{seed}.json"
                    if args.reuse and random_file.exists():
                        randoms.append(json.loads(random_file.read_text()))
                    else:
                        graphs = bool(result.get("mode_settings", {}).get("probe_graph", True))
                        randoms.append(random_baseline(ws, result["curve"], seed, graphs=graphs,
                                                       in_backbone=options.get("space") == "backbone"))
                        random_file.write_text(json.dumps(randoms[-1], default=float))
                    print("random order, same CNN:", ", ".join(
                        "-" if p["accuracy"] is None else f"{p['labels']}: {p['accuracy']:.3f}" for p in randoms[-1]),
                        flush=True)
                last = result["curve"][-1]
                print(f"{name:<26} seed {seed}: {last['labels']} labels, {len(result['curve'])} epochs -> "
                      f"{last['accuracy']:.3f} (VAE head {last['vae_accuracy']:.3f})  "
                      f"({time.perf_counter() - t0:.0f}s)", flush=True)
        if "pixels" not in skip:
            for k in sorted({args.labels // 2, args.labels}):
                for seed in args.seeds:
                    b = pixel_baseline(ws, k, seed)
                    baselines.append({**b, "seed": seed})
                    print(f"k-means on pixels k={k} seed {seed}: nearest centre {b['nearest_centre_accuracy']:.3f}, "
                          f"CNN on spread labels {b['cnn_accuracy']:.3f} ({b['no_class']} no class)", flush=True)

    print(f"\n{args.dataset}: median of seeds {args.seeds}; at most {args.labels} centre labels, 5 labelling epochs")
    header = f"{'':<28}{'epoch':>6}{'labels':>8}{'accuracy':>10}{'VAE head':>10}{'test BCE':>10}" \
             f"{'ACC':>7}{'NMI':>7}{'ARI':>7}"
    print(header)
    table: dict[str, list[dict]] = {}
    for name, rs in runs.items():
        table[name] = []
        for e in range(max(len(r["curve"]) for r in rs)):
            points = [r["curve"][e] for r in rs if len(r["curve"]) > e]
            row = {key: med([p.get(key) for p in points]) for key in
                   ("labels", "accuracy", "vae_accuracy", "test_bce", "test_acc", "test_nmi", "test_ari")}
            row["epoch"] = e + 1
            table[name].append(row)
            print(f"{name if e == 0 else '':<28}{e + 1:>6}{row['labels']:>8.0f}{100 * row['accuracy']:>10.1f}"
                  f"{100 * row['vae_accuracy']:>10.1f}{row['test_bce']:>10.1f}{row['test_acc']:>7.3f}"
                  f"{row['test_nmi']:>7.3f}{row['test_ari']:>7.3f}")
    random_table = []
    for e in range(max((len(r) for r in randoms), default=0)):
        points = [r[e] for r in randoms if len(r) > e]
        row = {"epoch": e + 1, "labels": med([p["labels"] for p in points]),
               "accuracy": med([p["accuracy"] for p in points])}
        random_table.append(row)
        print(f"{'random order, same CNN' if e == 0 else '':<28}{e + 1:>6}{row['labels']:>8.0f}"
              f"{100 * row['accuracy']:>10.1f}")
    base_table = {}
    for k in sorted({b["k"] for b in baselines}):
        bs = [b for b in baselines if b["k"] == k]
        base_table[k] = {key: med([b[key] for b in bs]) for key in
                         ("nearest_centre_accuracy", "cnn_accuracy", "spread_accuracy", "no_class")}
        print(f"k-means on pixels, {k} centre labels: nearest labelled centre "
              f"{100 * base_table[k]['nearest_centre_accuracy']:.1f}%, CNN on the spread labels "
              f"{100 * base_table[k]['cnn_accuracy']:.1f}% "
              f"(spread labels {100 * base_table[k]['spread_accuracy']:.1f}% "
              f"right)")
    cnn_time = med([p.get("seconds_cnn") for rs in runs.values() for r in rs for p in r["curve"]])
    vae_time = med([p.get("seconds_train") for rs in runs.values() for r in rs for p in r["curve"]])
    print(f"one epoch (median): VAE epoch + clustering {vae_time:.1f}s, CNN on the spread labels {cnn_time:.1f}s")
    (out_dir / f"{stem}.json").write_text(json.dumps(
        {"dataset": args.dataset, "seeds": args.seeds, "labels": args.labels, "table": table, "pixels": base_table,
         "random": random_table, "random_runs": randoms, "runs": runs, "baselines": baselines},
        indent=2, default=float))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4.2))
        for name, rows in table.items():
            xs = [r["labels"] for r in rows]
            ax.plot(xs, [100 * r["accuracy"] for r in rows], "-o", ms=3, label=name)
            if name == "tuilabel":
                ax.plot(xs, [100 * r["vae_accuracy"] for r in rows], "--o", ms=3, label="tuilabel, VAE head")
            bx.plot([r["epoch"] for r in rows], [r["test_bce"] for r in rows], "-o", ms=3, label=name)
        if random_table:
            ax.plot([r["labels"] for r in random_table], [100 * r["accuracy"] for r in random_table], ":s", ms=3,
                    label="random order, same CNN")
        for k, b in base_table.items():
            ax.plot([k], [100 * b["nearest_centre_accuracy"]], "kx")
            ax.plot([k], [100 * b["cnn_accuracy"]], "k+")
        ax.axhline(90, color="grey", lw=0.8, ls=":")
        ax.axhline(75, color="grey", lw=0.8, ls="--")
        ax.set_xlabel("centre labels spent")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"clusters mode on {args.dataset} (x: k-means on pixels, +: its CNN)")
        ax.legend(fontsize=7)
        bx.set_xlabel("labelling epoch")
        bx.set_ylabel("test reconstruction BCE (nats/image)")
        bx.set_title("reconstruction with and without the class term")
        bx.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out_dir / f"{stem}.png", dpi=110)
        print(f"wrote {out_dir / f'{stem}.png'}")
    except ImportError:
        pass
    print(f"wrote {out_dir / f'{stem}.json'}")


if __name__ == "__main__":
    main()
