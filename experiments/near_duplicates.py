"""Experiment (issue 45): what cosine similarity of a backbone's features marks a near-duplicate.

A folder of colour photographs (``scripts/make_datasets.py``'s ``colour`` set: overlapping crops
of eight photographs, so that a crop's nearest other image is often a look-alike, not a copy) gets
copies of some of its images, each changed as files get changed in real collections: saved again
as a lower-quality JPEG, shrunk, its border trimmed, made brighter, or all of these. The pool is
embedded as tuilabel embeds it; the copies' similarity to their source is set against each
original's most similar other image. Prints both distributions' quantiles and, per threshold, how
many copies are found and how many false pairs come with them.

Usage: python experiments/near_duplicates.py [--images 1000] [--copies 150] [--seed 0]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from make_datasets import write_colour  # noqa: E402

from tuilabel import embeddings  # noqa: E402
from tuilabel.neardup import groups, thumbnail, unit_rows  # noqa: E402
from tuilabel.workspace import Workspace  # noqa: E402

MONTAGE = "/tmp/false_pairs.png"
CHANGES = ("jpeg", "shrink", "trim", "brighter", "all")


def changed(image: Image.Image, how: str) -> Image.Image:
    w, h = image.size
    if how in ("shrink", "all"):
        image = image.resize((max(8, int(w * 0.6)), max(8, int(h * 0.6))), Image.Resampling.BILINEAR)
    if how in ("trim", "all"):
        w, h = image.size
        image = image.crop((int(w * 0.05), int(h * 0.05), int(w * 0.95), int(h * 0.95)))
    if how in ("brighter", "all"):
        image = ImageEnhance.Brightness(image).enhance(1.2)
    if how in ("jpeg", "all"):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=40)
        image = Image.open(io.BytesIO(buffer.getvalue()))
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--copies", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        pool, _ = write_colour(Path(tmp) / "ds", args.images, 8, args.seed)
        files = sorted(pool.rglob("*.jpg"))
        sources = rng.choice(len(files), args.copies, replace=False)
        hows = [CHANGES[i % len(CHANGES)] for i in range(args.copies)]
        for n, (s, how) in enumerate(zip(sources, hows)):
            copy = files[s].with_name(f"zz-copy-{n:04d}-{how}.jpg")
            changed(Image.open(files[s]).convert("RGB"), how).save(copy, quality=90)
        ws = Workspace.init(Path(tmp) / "ws", pool, backbone="efficientnet-lite0")
        embeddings.compute(ws, "efficientnet-lite0")
        e = embeddings.load(ws, "efficientnet-lite0")
        names = [Path(p).name for p in ws.pool.originals.paths]  # type: ignore[union-attr]
        where = {name: i for i, name in enumerate(names)}
        copy_rows = np.array([where[f"zz-copy-{n:04d}-{how}.jpg"] for n, how in enumerate(hows)])
        source_rows = np.array([where[files[s].name] for s in sources])
        raw = np.asarray(e, np.float32)
        centred = unit_rows(raw - raw.mean(axis=0))  # what pool-mean centring gives (not kept)
        thumbs = np.stack([thumbnail(ws.pool.images[i]) for i in range(len(ws.pool))])
        for variant, f in (("centred", centred), ("raw", unit_rows(e)),
                           ("thumbnail", thumbs)):
            print(f"== {variant} features")
            report(f, hows, copy_rows, source_rows)
        files = [ws.pool.originals.path(i) for i in range(len(ws.pool))]  # type: ignore[union-attr]
        print("== centred features and thumbnails")
        both(centred, thumbs, copy_rows, source_rows, files)
        print("== raw features and thumbnails")
        both(unit_rows(e), thumbs, copy_rows, source_rows, files)
        g = groups(e, ws.pool.images)
        found = (g[copy_rows] >= 0) & (g[copy_rows] == g[source_rows])
        print(f"tuilabel's groups: {int(g.max()) + 1} groups of {int((g >= 0).sum())} images; "
              f"copies in their source's group {int(found.sum())}/{len(copy_rows)}, by change: "
              + ", ".join(f"{how} {int(found[np.array(hows) == how].sum())}/{int((np.array(hows) == how).sum())}"
                          for how in CHANGES))


def both(f: np.ndarray, t: np.ndarray, copy_rows: np.ndarray, source_rows: np.ndarray, files: list) -> None:
    """Linked when the features and the thumbnails both agree."""
    a, b = f @ f.T, t @ t.T
    originals = np.setdiff1d(np.arange(len(f)), np.concatenate([copy_rows, source_rows]))
    for tf in (0.7, 0.75, 0.8, 0.85, 0.9):
        for tt in (0.9, 0.93, 0.95):
            link = (a >= tf) & (b >= tt)
            found = int(link[copy_rows, source_rows].sum())
            false = int(np.triu(link[np.ix_(originals, originals)], 1).sum())
            print(f"features >= {tf}, thumbnails >= {tt}: copies found {found}/{len(copy_rows)}, false pairs {false}")
    if MONTAGE:
        i, j = np.nonzero(np.triu(link[np.ix_(originals, originals)], 1))
        sheet = Image.new("RGB", (8 * 200, 200), "white")
        for k in range(min(8, len(i))):
            for m, row in enumerate((originals[i[k]], originals[j[k]])):
                im = Image.open(files[row]).convert("RGB")
                im.thumbnail((96, 96))
                sheet.paste(im, (k * 200 + m * 100, 0))
        sheet.save(MONTAGE)


def report(f: np.ndarray, hows: list[str], copy_rows: np.ndarray, source_rows: np.ndarray) -> None:
    sims = f @ f.T
    np.fill_diagonal(sims, -1)
    pair = sims[copy_rows, source_rows]
    originals = np.setdiff1d(np.arange(len(f)), np.concatenate([copy_rows, source_rows]))
    nearest_other = sims[np.ix_(originals, originals)].max(axis=1)  # no copy among them
    q = [0, 0.01, 0.05, 0.5]
    print("copy to its source, by change:")
    for how in CHANGES:
        mine = pair[np.array(hows) == how]
        print(f"  {how:<9} min {mine.min():.3f} median {np.median(mine):.3f}")
    print("copies: quantiles", dict(zip(q, np.round(np.quantile(pair, q), 3))))
    print("an original's nearest other image: quantiles",
          dict(zip([0.5, 0.95, 0.99, 1.0], np.round(np.quantile(nearest_other, [0.5, 0.95, 0.99, 1.0]), 3))))
    upper = np.triu(sims[np.ix_(originals, originals)], 1)
    for t in (0.85, 0.88, 0.9, 0.92, 0.94, 0.96, 0.97, 0.98):
        print(f"threshold {t:.2f}: copies found {int((pair >= t).sum())}/{len(pair)}, "
              f"false pairs among {len(originals)} originals {int((upper >= t).sum())}")


if __name__ == "__main__":
    main()
