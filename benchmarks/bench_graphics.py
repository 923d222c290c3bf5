"""Graphics protocols against half blocks: bytes per new image and CPU per frame, in the real app.

For each protocol (blocks, kitty, iterm2, sixel) and each picture kind (the sample's 28x28 grey digits;
64x64 colour images made here: smooth colour fields with shapes and sensor-like noise, so that PNG
does not get them for free), `tuilabel label WS --mode browse --graphics P` runs in an 80x24
pseudo-terminal: the skip key (a new image, nothing stored) is pressed one at a time for the bytes
per new image, then 30 times a second for the CPU share (CPU per frame = share / 30). The stream
(28x28, its own timer at ~29 fps) is measured the same way. Encoding alone is compared with
term-image's kitty and iTerm2 styles on the same images (bytes and microseconds per image).

Medians over ``--runs`` app runs; ratios are against half blocks measured in the same process.

Usage: python benchmarks/bench_graphics.py [--runs 3] [--out benchmarks/results/graphics.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_render import app_measurements, stream_measurements, time_per_frame  # noqa: E402

PROTOCOLS = ("blocks", "kitty", "iterm2", "sixel")


def colour_images(n: int = 300, size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Photo-like 64x64 RGB images: a smooth random colour field, a filled shape, mild noise."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    images = np.empty((n, size, size, 3), np.uint8)
    labels = rng.integers(0, 3, n)
    for k in range(n):
        field = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        base = Image.fromarray(field).resize((size, size), Image.Resampling.BICUBIC)
        draw = ImageDraw.Draw(base)
        x0, y0 = rng.integers(4, size // 2, 2)
        x1, y1 = x0 + rng.integers(12, size // 2), y0 + rng.integers(12, size // 2)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        [draw.ellipse, draw.rectangle, draw.polygon][labels[k]](
            [(x0, y1), ((x0 + x1) // 2, y0), (x1, y1)] if labels[k] == 2 else [x0, y0, x1, y1], fill=colour)
        noisy = np.asarray(base, np.int16) + rng.normal(0, 6, (size, size, 3)).round().astype(np.int16)
        images[k] = noisy.clip(0, 255).astype(np.uint8)
    return images, labels


def encode_times(images: np.ndarray, runs: int) -> dict:
    """Bytes and microseconds to turn one image into what goes to the terminal (no app)."""
    from PIL import Image

    from tuilabel.graphics import DEFAULT_CELL, iterm2_image, kitty_transmit, png_bytes, sixel_fit, sixel_image
    from tuilabel.render import fit_scale

    cols = images.shape[2]
    rows = (images.shape[1] + 1) // 2
    from rich.console import Console

    console = Console(width=400, color_system="truecolor", force_terminal=True, legacy_windows=False)

    def blocks(im: np.ndarray) -> str:
        from tuilabel.render import HalfBlockImage

        with console.capture() as cap:
            console.print(HalfBlockImage(im, fit_scale(im.shape, cols, rows)), end="")
        return cap.get()

    ours = {
        "blocks (tuilabel)": blocks,
        "kitty (tuilabel)": lambda im: kitty_transmit(1, png_bytes(im), cols, rows),
        "iterm2 (tuilabel)": lambda im: iterm2_image(png_bytes(im), cols, rows),
        # the terminal does not scale sixel: the image at the cells' pixels (a 10x20 cell)
        "sixel (tuilabel)": lambda im: sixel_image(sixel_fit(im, cols * DEFAULT_CELL[0], rows * DEFAULT_CELL[1])),
    }
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import term_image
            from term_image.image import ITerm2Image, KittyImage

        term_image.disable_queries()
        KittyImage.forced_support = True
        ITerm2Image.forced_support = True

        def term(cls):
            def render(im: np.ndarray) -> str:
                img = cls(Image.fromarray(im))
                img.set_size(width=cols)
                return str(img)
            return render

        ours["kitty (term-image)"] = term(KittyImage)
        ours["iterm2 (term-image)"] = term(ITerm2Image)
    except ImportError:
        print("term-image not installed: skipped", file=sys.stderr)
    sample = images[:100]
    result = {}
    for name, fn in ours.items():
        sizes = [len(fn(im).encode()) for im in sample]
        result[name] = {"bytes_median": statistics.median(sizes),
                        "us_per_image": time_per_frame(fn, sample, runs)}
    return result


def app_run(workspace: Path, protocol: str, runs: int) -> dict:
    """bench_render's browse measurement under ``--graphics protocol``, per new image and per frame."""
    m = app_measurements(workspace, runs, graphics=protocol)
    return {"bytes_per_new_image": m["bytes_per_new_digit_median"], "cpu_share_at_30fps": m["cpu_share_at_30fps"],
            "cpu_ms_per_frame": m["cpu_share_at_30fps"] / 30 * 1000,
            "bytes_per_frame_at_30fps": m["bytes_per_frame_at_30fps"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "graphics.json"))
    args = parser.parse_args()
    from tuilabel.models.rbm import RBM
    from tuilabel.workspace import Workspace

    with np.load(ROOT / "sample_data" / "mnist-pool.npz") as d:
        digits = d["images"][:300]
    colour, colour_labels = colour_images()
    results: dict = {"encode": {}, "app": {}}
    with tempfile.TemporaryDirectory() as tmp:
        sets = {}
        for name, images in (("28x28 grey", digits), ("64x64 colour", colour)):
            results["encode"][name] = encode_times(images, args.runs)
            source = Path(tmp) / f"{name.split()[0]}.npz"
            labels = colour_labels if images.ndim == 4 else np.zeros(len(images), np.int64)
            np.savez(source, images=images, labels=labels)
            ws = Workspace.init(Path(tmp) / name.replace(" ", "-"), source)
            sets[name] = ws.path
            ws.close()
        ws = Workspace(sets["28x28 grey"])
        RBM(epochs=5).fit(ws.pool.as_float().reshape(len(ws.pool), -1), ws.pool.n_classes).save(
            ws.models_dir / "rbm.npz")
        ws.close()
        for name, path in sets.items():
            for protocol in PROTOCOLS:
                runs = [app_run(path, protocol, args.runs) for _ in range(args.runs)]
                if name == "28x28 grey":
                    for run in runs:
                        run.update(stream_measurements(path, graphics=protocol))
                results["app"].setdefault(name, {})[protocol] = {
                    key: statistics.median(r[key] for r in runs) for key in runs[0]}
                print(name, protocol, results["app"][name][protocol], flush=True)
    print("\nencoding one image (median of 100 images; us: median of runs)")
    for name, rows in results["encode"].items():
        for who, row in rows.items():
            print(f"  {name:<13} {who:<22} {row['bytes_median']:>8,.0f} B {row['us_per_image']:>9,.0f} us")
    print("\nreal app, 80x24 pty, browse (skip key); stream at its own ~29 fps (median of app runs)")
    for name, by_protocol in results["app"].items():
        base = by_protocol["blocks"]
        for protocol, row in by_protocol.items():
            line = (f"  {name:<13} {protocol:<7} {row['bytes_per_new_image']:>8,.0f} B/new image "
                    f"({row['bytes_per_new_image'] / base['bytes_per_new_image']:.2f}x)  "
                    f"{row['cpu_ms_per_frame']:>6.2f} ms CPU/frame at 30 fps "
                    f"({row['cpu_share_at_30fps']:.3f} core)")
            if "stream_cpu_share" in row:
                line += (f"  stream {row['stream_fps']} fps: {row['stream_cpu_share']:.3f} core, "
                         f"{row['stream_bytes_per_frame']:,.0f} B/frame")
            print(line)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
