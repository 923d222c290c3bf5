"""The backbone's throughput against what its arithmetic allows on this machine.

EfficientNet-Lite0 (the offline default) embeds a batch of random images at 224 pixels (originals)
and at 112 (28-pixel display copies enlarged four times), as `tuilabel embed` feeds it: images per
second, median of 3 runs after a warm-up. Its floating-point operations per image are counted with
PyTorch's FlopCounterMode (a multiply-add counts two), so that the achieved GFLOP/s can be set
beside a float32 matrix product of 1,024 x 1,024 x 1,024 timed in the same process: the machine's
dense peak as PyTorch reaches it, and the ratio between the two.

    python benchmarks/bench_embed.py [--images 128] [--device cpu|cuda] [--out benchmarks/out/embed.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_compute import median_seconds  # noqa: E402  (this folder: the script's own)

from tuilabel.embeddings import BATCH  # noqa: E402
from tuilabel.models import backbones  # noqa: E402


def flops_per_image(net, side: int) -> float:  # type: ignore[no-untyped-def]
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, 3, side, side, device=net.device)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net.forward(x)
    return float(counter.get_total_flops())


def matmul_gflops(device: str, n: int = 1024) -> float:
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)

    def run() -> None:
        for _ in range(5):
            a @ b
        if device == "cuda":
            torch.cuda.synchronize()

    run()
    return 5 * 2 * n ** 3 / median_seconds(run, 5) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda where there is one)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "embed.json"))
    args = parser.parse_args()
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    net = backbones.load(backbones.DEFAULT, device)
    rng = np.random.default_rng(0)
    rows = []
    peak = matmul_gflops(device)
    for side in (224, 112):
        images = rng.integers(0, 256, (args.images, side, side, 3), dtype=np.uint8)
        batch = max(8, BATCH * 112 * 112 // (side * side))  # what `embed` uses
        net.encode(images[:batch], side, batch=batch)  # warm-up
        seconds = median_seconds(lambda images=images, side=side, batch=batch: net.encode(images, side, batch=batch))
        flops = flops_per_image(net, side)
        rate = args.images / seconds
        rows.append({"side": side, "batch": batch, "images_per_second": rate, "gflops_per_image": flops / 1e9,
                     "achieved_gflops": rate * flops / 1e9})
    threads = torch.get_num_threads()
    print(f"device {device}, {threads} threads; float32 matrix product 1024^3: {peak:.1f} GFLOP/s (same process)")
    print(f"{'side':>5}{'batch':>7}{'images/s':>10}{'GFLOP/image':>13}{'GFLOP/s':>9}{'of matmul':>11}")
    for r in rows:
        print(f"{r['side']:>5}{r['batch']:>7}{r['images_per_second']:>10.1f}{r['gflops_per_image']:>13.3f}"
              f"{r['achieved_gflops']:>9.1f}{r['achieved_gflops'] / peak:>11.2f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"device": device, "threads": threads, "matmul_gflops": peak, "rows": rows,
                               "images": args.images}, indent=1))


if __name__ == "__main__":
    main()
