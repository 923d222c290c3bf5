"""Stream mode (seed 000): test error against simulated labeling seconds, online and offline.

For each seed: train the RBM on the sample pool without labels (`tuilabel train --model rbm`
defaults), then run `tuilabel simulate --mode stream` for each variant, evaluating every 600
simulated seconds. Beside it, the same time spent labeling static pool images at 1.75 s each
(seed 000's estimate), learned with the same RBM features and the same offline rule. Medians over
seeds. Also: the cost of one frame (Gibbs step, online update, render) and the RBM's training time
per epoch against scikit-learn's BernoulliRBM (same size and batch), measured in this process.

Usage: python benchmarks/bench_stream.py [--seeds 0 1 2] [--seconds 4200] [--out benchmarks/out]
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

from tuilabel.models.rbm import RBM  # noqa: E402
from tuilabel.sessions.stream import StreamSettings  # noqa: E402
from tuilabel.simulate import SimSettings, run_simulation  # noqa: E402
from tuilabel.workspace import Workspace  # noqa: E402

VARIANTS = {
    "default": ({}, {}),
    "no start labels": ({"label_start": "false"}, {}),
    "chains of 30": ({"chain_length": "30"}, {}),
    # seed 000's stream: chains of 30, frames only, offline training only when asked
    "as seed 000": (
        {"chain_length": "30", "label_start": "false", "offline_every": "0"}, {}),
    "no skip-if-sure": ({}, {"skip_sure_after": None}),
    "fast weights": ({"fast_weights": "true"}, {}),
}
REPORT_AT = (600, 1200, 2400, 4200)


def static_baseline(ws: Workspace, rbm: RBM, seconds: list[float], seed: int, per_label: float = 1.75) -> dict:
    pool, test = ws.pool, ws.test
    x = pool.as_float().reshape(len(pool), -1)
    xt = test.as_float().reshape(len(test), -1)
    order = np.random.default_rng(seed).permutation(len(pool))
    settings = StreamSettings()
    out = {}
    for t in seconds:
        n = min(len(pool), int(t // per_label))
        idx = order[:n]
        rbm.fit_labels(x[idx], pool.truth[idx], epochs=settings.offline_epochs, lr=settings.offline_learning_rate)
        out[t] = rbm.score(xt, test.truth)
    rbm.reset_labels()
    return out


def frame_costs(rbm: RBM, image: np.ndarray, repeats: int = 2000) -> dict:
    from tuilabel.render import image_strips

    v = rbm._tensor(image.reshape(1, -1).astype(np.float32) / 255.0)
    costs = {}
    t0 = time.perf_counter()
    for _ in range(repeats):
        v, h = rbm.gibbs_step(v)
    costs["gibbs_step_us"] = (time.perf_counter() - t0) / repeats * 1e6
    t0 = time.perf_counter()
    records = [rbm.online_update(h, 3) for _ in range(repeats)]
    costs["online_update_us"] = (time.perf_counter() - t0) / repeats * 1e6
    for r in reversed(records):
        rbm.undo_update(r)
    frame = np.clip(v.reshape(image.shape).numpy() * 255, 0, 255).astype(np.uint8)
    t0 = time.perf_counter()
    for _ in range(repeats // 4):
        image_strips(frame, 1, "truecolor")
    costs["render_us"] = (time.perf_counter() - t0) / (repeats // 4) * 1e6
    return costs


def epoch_times(x: np.ndarray, runs: int = 3) -> dict:
    cfg = dict(n_hidden=225, batch_size=32)
    ours = []
    for r in range(runs):
        t0 = time.perf_counter()
        RBM(epochs=1, seed=r, **cfg).fit(x, 10)
        ours.append(time.perf_counter() - t0)
    out = {"tuilabel_cd10_epoch_s": statistics.median(ours)}
    ours1 = []
    for r in range(runs):
        t0 = time.perf_counter()
        RBM(epochs=1, seed=r, cd_k=1, **cfg).fit(x, 10)
        ours1.append(time.perf_counter() - t0)
    out["tuilabel_cd1_epoch_s"] = statistics.median(ours1)
    try:
        from sklearn.neural_network import BernoulliRBM
    except ImportError:
        return out
    theirs = []
    for r in range(runs):
        t0 = time.perf_counter()
        BernoulliRBM(n_components=225, batch_size=32, n_iter=1, learning_rate=0.05, random_state=r).fit(x)
        theirs.append(time.perf_counter() - t0)
    out["sklearn_pcd1_epoch_s"] = statistics.median(theirs)
    out["ratio_sklearn_over_tuilabel_cd1"] = out["sklearn_pcd1_epoch_s"] / out["tuilabel_cd1_epoch_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--seconds", type=float, default=4200)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out"))
    args = parser.parse_args()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    variants = [v.strip() for v in args.variants.split(",")]
    checkpoints = [t for t in range(600, int(args.seconds) + 1, 600)]
    results: dict = {"variants": {v: [] for v in variants}, "static": [], "rbm": []}
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.init(Path(tmp) / "ws", ROOT / "sample_data" / "mnist-pool.npz",
                            test=ROOT / "sample_data" / "mnist-test.npz")
        x = ws.pool.as_float().reshape(len(ws.pool), -1)
        for seed in args.seeds:
            t0 = time.perf_counter()
            rbm = RBM(seed=seed).fit(x, ws.pool.n_classes)
            results["rbm"].append({"seed": seed, "train_s": time.perf_counter() - t0,
                                   "reconstruction_error": rbm.reconstruction_error(x)})
            rbm.save(ws.models_dir / "rbm.npz")
            print(f"seed {seed}: RBM trained in {results['rbm'][-1]['train_s']:.0f}s", flush=True)
            results["static"].append(static_baseline(ws, rbm, checkpoints, seed))
            for name in variants:
                options, sim_extra = VARIANTS[name]
                settings = SimSettings(mode="stream", labels=None, seconds=args.seconds, seed=seed,
                                       eval_every=600.0, options=dict(options), **sim_extra)
                t0 = time.perf_counter()
                run = run_simulation(ws.path, settings, out_dir / f"stream-{name.replace(' ', '_')}-{seed}.json")
                results["variants"][name].append(run["curve"])
                last = run["curve"][-1]
                print(f"  {name:<16} {time.perf_counter() - t0:5.0f}s  online {last['accuracy']:.3f}"
                      f"  offline {last['offline_accuracy']:.3f}  frames {last['frames']}", flush=True)
        costs = frame_costs(rbm, ws.pool.images[0])
        epochs = epoch_times(x)

    def at(curve: list[dict], t: float, key: str) -> float | None:
        points = [p for p in curve if p["seconds"] <= t + 1]
        return points[-1].get(key) if points else None

    table = {}
    print(f"\ntest error (%) against simulated labeling seconds, median of seeds {args.seeds}")
    header = "".join(f"{t:>9}s" for t in REPORT_AT if t <= args.seconds)
    print(f"{'':<40}{header}")
    for name in variants:
        for key, label in (("accuracy", "online"), ("offline_accuracy", "offline")):
            row = []
            for t in REPORT_AT:
                if t > args.seconds:
                    continue
                values = [at(c, t, key) for c in results["variants"][name]]
                values = [v for v in values if v is not None]
                row.append(100 * (1 - statistics.median(values)) if values else float("nan"))
            table[f"{name} {label}"] = row
            print(f"{name + ' ' + label:<40}" + "".join(f"{e:>10.1f}" for e in row))
    static_row = [100 * (1 - statistics.median(s[t] for s in results["static"]))
                  for t in REPORT_AT if t <= args.seconds]
    table["static images, 1.75 s each"] = static_row
    print(f"{'static images, 1.75 s each':<40}" + "".join(f"{e:>10.1f}" for e in static_row))
    print("\ncost of one frame (microseconds):", {k: round(v, 1) for k, v in costs.items()})
    print("RBM training time per epoch on the pool (s):", {k: round(v, 3) for k, v in epochs.items()})
    summary = {"table_error_percent": table, "report_at": [t for t in REPORT_AT if t <= args.seconds],
               "frame_costs_us": costs, "epoch_times": epochs, **results}
    (out_dir / "stream.json").write_text(json.dumps(summary, indent=2))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.5))
        for name in variants:
            for key, style in (("accuracy", "--"), ("offline_accuracy", "-")):
                curves = results["variants"][name]
                ys = [100 * (1 - statistics.median(at(c, t, key) for c in curves)) for t in checkpoints]
                ax.plot(checkpoints, ys, style, label=f"{name} ({'online' if key == 'accuracy' else 'offline'})")
        ys = [100 * (1 - statistics.median(s[t] for s in results["static"])) for t in checkpoints]
        ax.plot(checkpoints, ys, "k:", lw=2, label="static images, 1.75 s each")
        ax.axhline(8, color="grey", lw=0.8)
        ax.set_xlabel("simulated labeling seconds")
        ax.set_ylabel("test error (%)")
        ax.set_ylim(0, 40)
        ax.set_title("stream mode on the MNIST sample (median of seeds)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out_dir / "stream.png", dpi=110)
        print(f"wrote {out_dir / 'stream.png'}")
    except ImportError:
        print("matplotlib not installed: no plot")
    print(f"wrote {out_dir / 'stream.json'}")


if __name__ == "__main__":
    main()
