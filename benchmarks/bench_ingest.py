"""`tuilabel init` on a folder of camera-sized JPEGs: peak memory, wall time and rate, against
decoding the same files in a plain PIL loop (the physical limit of one core here).

The folder is made here (once; kept for later runs): ``--unique`` pictures of ``--size`` pixels
(smooth colour fields, filled shapes and sensor-like noise, saved as JPEG at quality 90, one in four
with EXIF orientation 6 as a camera held upright writes it), copied to ``--n`` files in two class
folders. `init` runs as the real command, its memory the peak of its process tree's resident memory
(the worker processes included), sampled every 50 ms; the PIL loops (a full decode,
``Image.open(p).convert("RGB")``, and the same with JPEG draft decoding at the display size) run
in this process, one core, over ``--loop`` of the files, and their rate is scaled to the folder.

Usage: python benchmarks/bench_ingest.py [--n 2000] [--unique 100] [--size 4000x3000]
       [--folder DIR (default: tuilabel-photos in the temporary folder)] [--out benchmarks/results/ingest.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def make_photo(width: int, height: int, seed: int) -> object:
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)).resize(
        (width // 10, height // 10), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(small)
    for _ in range(6):
        x, y = rng.integers(0, width // 10, 2)
        r = int(rng.integers(width // 80, width // 25))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    big = small.filter(ImageFilter.GaussianBlur(2)).resize((width, height), Image.Resampling.BILINEAR)
    noise = rng.normal(0, 6, (height, width, 1)).astype(np.int16)
    return Image.fromarray(np.clip(np.asarray(big, np.int16) + noise, 0, 255).astype(np.uint8))


def make_folder(folder: Path, n: int, unique: int, width: int, height: int) -> None:
    from PIL import Image

    marker = folder / ".made"
    if marker.exists() and marker.read_text() == f"{n} {unique} {width}x{height}":
        return
    shutil.rmtree(folder, ignore_errors=True)
    sources = folder / ".sources"
    sources.mkdir(parents=True)
    for u in range(unique):
        img = make_photo(width, height, u)
        exif = Image.Exif()
        if u % 4 == 0:
            exif[0x0112] = 6
            img = img.transpose(Image.Transpose.ROTATE_90)  # stored sideways, shown upright
        img.save(sources / f"{u}.jpg", quality=90, exif=exif)  # type: ignore[attr-defined]
        print(f"\rmaking {unique} pictures: {u + 1}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    for i in range(n):
        target = folder / f"class{i % 2}" / f"IMG_{i:05d}.jpg"
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(sources / f"{i % unique}.jpg", target)
    marker.write_text(f"{n} {unique} {width}x{height}")


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (the worker processes count too), from /proc."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024  # type: ignore[union-attr]
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, AttributeError, ValueError):
            continue  # gone meanwhile, or a kernel thread
    return total


def run_measured(command: list[str]) -> tuple[float, int, str]:
    """Wall seconds, the peak of the summed resident memory of the command's process tree (sampled
    every 50 ms), and its output."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.05)
        wall = time.perf_counter() - started
        log.seek(0)
        said = log.read()
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{said[-2000:]}")
    return wall, peak, said


def pil_loop(files: list[Path], draft: tuple[int, int] | None) -> float:
    """Seconds per file: open and decode in this process, one core."""
    from PIL import Image

    started = time.perf_counter()
    for p in files:
        with Image.open(p) as im:
            if draft is not None:
                im.draft("RGB", draft)
            im.convert("RGB")
    return (time.perf_counter() - started) / len(files)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--unique", type=int, default=100)
    ap.add_argument("--size", default="4000x3000")
    ap.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "tuilabel-photos")
    ap.add_argument("--loop", type=int, default=100, help="files the PIL loops decode")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ingest.json")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    make_folder(args.folder, args.n, args.unique, width, height)
    files = sorted(args.folder.glob("class*/*.jpg"))
    on_disk = sum(p.stat().st_size for p in files)
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws"
        wall, peak, said = run_measured([sys.executable, "-m", "tuilabel.cli", "init", str(ws), "--data",
                                         str(args.folder)])
        shape = re.search(r"(\d+) images ([\dx]+)", said)
        loop = files[: args.loop]
        full = pil_loop(loop, None)
        drafted = pil_loop(loop, (64, 64))
        result = {
            "files": len(files), "picture": f"{width}x{height}", "bytes_on_disk": on_disk,
            "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "init": {"seconds": round(wall, 2), "peak_rss_mb": round(peak / 2**20, 1),
                     "images_per_second": round(len(files) / wall, 1),
                     "pool": shape.group(0) if shape else None},
            "pil_full_decode_loop": {"seconds_per_file": round(full, 4),
                                     "seconds_for_folder": round(full * len(files), 1)},
            "pil_draft_decode_loop": {"seconds_per_file": round(drafted, 4),
                                      "seconds_for_folder": round(drafted * len(files), 1)},
            "init_vs_full_decode_loop": round(full * len(files) / wall, 2),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
