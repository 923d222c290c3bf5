"""Rendering speed and terminal bandwidth.

1. Time to turn a 28x28 digit into Textual strips at scale 1, 2 and 4: tuilabel's renderer beside
   rich-pixels and term-image (its ANSI string, and that string parsed for Textual), all in this
   process on the same digits; medians of repeated runs and ratios against tuilabel.
2. The real app (`tuilabel label WS --mode browse --colors truecolor`) in a pseudo-terminal of
   80x24: bytes written per new digit, bytes written while nothing changes, and the CPU share of
   the app process while frames change 30 times a second (the skip key, which stores nothing).

Usage: python benchmarks/bench_render.py [--runs 7] [--out benchmarks/out/render.json]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def time_per_frame(fn, images, runs: int) -> float:
    """Median over runs of the mean microseconds per image."""
    for img in images[:50]:
        fn(img)  # warm caches
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for img in images:
            fn(img)
        samples.append((time.perf_counter() - t0) / len(images) * 1e6)
    return statistics.median(samples)


def render_times(images: np.ndarray, runs: int) -> dict:
    from PIL import Image
    from rich.console import Console
    from rich.text import Text
    from textual.strip import Strip

    from tuilabel.render import image_strips

    console = Console(width=200, color_system="truecolor", force_terminal=True)
    options = console.options

    def to_strips(renderable):
        return [Strip(line) for line in console.render_lines(renderable, options, pad=False)]

    results: dict[str, dict[int, float]] = {}
    results["tuilabel"] = {s: time_per_frame(lambda im, s=s: image_strips(im, s, "truecolor"), images, runs)
                           for s in (1, 2, 4)}
    try:
        from rich_pixels import Pixels

        results["rich-pixels"] = {
            s: time_per_frame(
                lambda im, s=s: to_strips(Pixels.from_image(Image.fromarray(im).resize((28 * s, 28 * s), 0))),
                images, runs)
            for s in (1, 2, 4)
        }
    except ImportError:
        print("rich-pixels not installed: skipped", file=sys.stderr)
    try:
        import term_image
        from term_image.image import BlockImage

        term_image.disable_queries()

        def ansi(im, s):
            img = BlockImage(Image.fromarray(im))
            img.set_size(width=28 * s)
            return str(img)

        results["term-image ANSI"] = {s: time_per_frame(lambda im, s=s: ansi(im, s), images, runs) for s in (1, 2, 4)}
        results["term-image for Textual"] = {
            s: time_per_frame(lambda im, s=s: to_strips(Text.from_ansi(ansi(im, s))), images, runs)
            for s in (1, 2, 4)
        }
    except ImportError:
        print("term-image not installed: skipped", file=sys.stderr)
    return results


# -- the real app in a pseudo-terminal ------------------------------------------------------------


class PtyApp:
    def __init__(self, argv: list[str], width: int = 80, height: int = 24) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor"}
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     start_new_session=True)
        os.close(slave)
        self.master = master
        self.bytes = 0
        self.lock = threading.Lock()
        self.running = True
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while self.running:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:
                    return
                with self.lock:
                    self.bytes += len(data)

    def written(self) -> int:
        with self.lock:
            return self.bytes

    def send(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def wait_quiet(self, quiet: float = 0.5, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        last, since = self.written(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now = self.written()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.send("q")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.running = False
        os.close(self.master)


def app_measurements(workspace: Path, runs: int, graphics: str = "blocks") -> dict:
    exe = Path(sys.executable).with_name("tuilabel")
    argv = [str(exe) if exe.exists() else "tuilabel", "label", str(workspace), "--mode", "browse",
            "--colors", "truecolor", "--graphics", graphics]
    app = PtyApp(argv)
    try:
        app.wait_quiet(1.0, 30)
        per_frame = []
        for _ in range(max(runs, 5) * 3):
            before = app.written()
            app.send(" ")  # skip: a new digit, nothing stored
            app.wait_quiet(0.3)
            per_frame.append(app.written() - before)
        before = app.written()
        time.sleep(3.0)
        idle = app.written() - before
        fps, seconds = 30, 5.0
        cpu0, t0, b0 = app.cpu_seconds(), time.perf_counter(), app.written()
        frames = 0
        next_at = t0
        while time.perf_counter() - t0 < seconds:
            app.send(" ")
            frames += 1
            next_at += 1 / fps
            time.sleep(max(0.0, next_at - time.perf_counter()))
        app.wait_quiet(0.3)
        wall = time.perf_counter() - t0
        cpu = app.cpu_seconds() - cpu0
        return {
            "bytes_per_new_digit_median": statistics.median(per_frame),
            "bytes_per_new_digit_max": max(per_frame),
            "bytes_while_idle_3s": idle,
            "frames_sent_at_30fps": frames,
            "bytes_per_frame_at_30fps": (app.written() - b0) / frames,
            "cpu_share_at_30fps": cpu / wall,
        }
    finally:
        app.close()


def stream_measurements(workspace: Path, presses: int = 7, graphics: str = "blocks") -> dict:
    """The stream screen playing on its own timer at ~29 fps (6 x 1.25^7), autospeed off."""
    exe = Path(sys.executable).with_name("tuilabel")
    argv = [str(exe) if exe.exists() else "tuilabel", "label", str(workspace), "--mode", "stream",
            "--colors", "truecolor", "--graphics", graphics]
    app = PtyApp(argv)
    try:
        time.sleep(4.0)  # start-up; the video never goes quiet, so wait_quiet cannot tell
        app.send("a")
        for _ in range(presses):
            app.send("+")
            time.sleep(0.05)
        time.sleep(1.0)
        seconds = 8.0
        cpu0, b0, t0 = app.cpu_seconds(), app.written(), time.perf_counter()
        time.sleep(seconds)
        wall = time.perf_counter() - t0
        fps = 6 * 1.25**presses
        return {
            "stream_fps": round(fps, 1),
            "stream_cpu_share": (app.cpu_seconds() - cpu0) / wall,
            "stream_bytes_per_frame": (app.written() - b0) / (fps * wall),
        }
    finally:
        app.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "render.json"))
    args = parser.parse_args()
    with np.load(ROOT / "sample_data" / "mnist-pool.npz") as d:
        images = d["images"][:200]
    times = render_times(images, args.runs)
    print("render 28x28 digit to Textual strips, microseconds (median of runs; ratio vs tuilabel)")
    print(f"{'renderer':<24}" + "".join(f"{'scale ' + str(s):>20}" for s in (1, 2, 4)))
    for name, by_scale in times.items():
        cells = "".join(
            f"{by_scale[s]:>10.0f} ({by_scale[s] / times['tuilabel'][s]:>5.1f}x)" for s in (1, 2, 4)
        )
        print(f"{name:<24}{cells}")
    from tuilabel.workspace import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        Workspace.init(Path(tmp) / "ws", ROOT / "sample_data" / "mnist-test.npz")
        measured = [app_measurements(Path(tmp) / "ws", args.runs) for _ in range(3)]
        from tuilabel.models.rbm import RBM

        ws = Workspace(Path(tmp) / "ws")
        RBM(epochs=5).fit(ws.pool.as_float().reshape(len(ws.pool), -1), ws.pool.n_classes).save(
            ws.models_dir / "rbm.npz")
        for run, stream in zip(measured, [stream_measurements(ws.path) for _ in range(3)]):
            run.update(stream)
    app = {k: statistics.median(m[k] for m in measured) for k in measured[0]}
    print("\nreal app, 80x24 pseudo-terminal, truecolor (median of 3 app runs)")
    for key, value in app.items():
        print(f"  {key:<28} {value:,.3f}" if isinstance(value, float) else f"  {key:<28} {value:,}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"render_us": times, "app": app, "app_runs": measured}, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
