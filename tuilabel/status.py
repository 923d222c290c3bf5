"""`tuilabel status` and `tuilabel originals`: what a workspace holds, read without changing it (but
for `originals --root`, which points the records at a moved folder)."""

from __future__ import annotations

import argparse
from typing import Any

from .errors import TuilabelError
from .sessions.registry import MODES
from .store import shown_location
from .store.base import IDLE_SECONDS


def originals_line(ws: Any, survey: tuple[list[int], list[int]] | None = None) -> str:
    """One line on the pool's original files; ``survey``: `Originals.survey`'s answer, when the
    caller has it already (a stat per file)."""
    originals = ws.pool.originals
    if originals is None:
        return "originals: none (the pool came from arrays: its images are the originals)"
    missing, changed = survey if survey is not None else originals.survey()
    line = f"originals: {len(originals)} files under {originals.root}"
    if not missing and not changed:
        return line + ", all present and unchanged"
    first = originals.paths[(missing or changed)[0]]
    return (line + f"; {len(missing)} missing, {len(changed)} changed (first: {first}); labeling goes on with "
            f"the display copies; if the folder moved: tuilabel originals {ws.path} --root NEW_FOLDER")


def backbone_line(ws: Any) -> str:
    """The workspace's pretrained network and how much of the pool it has embedded."""
    from . import embeddings

    name = ws.backbone
    if name == "none":
        return "backbone: none (the modes' pool-trained models alone; tuilabel embed WS chooses one)"
    record = embeddings.info(ws, name)
    if record is None:
        return f"backbone: {name}, nothing embedded yet (tuilabel embed WS, or the first batch session, does it)"
    fell = f", {record.fallbacks} from display copies" if record.fallbacks and record.source == "originals" else ""
    return (f"backbone: {name}, {min(record.done, len(ws.pool))} of {len(ws.pool)} images embedded "
            f"(from the {record.source} at {record.side} px{fell})")


def cmd_originals(args: argparse.Namespace) -> int:
    from .workspace import Workspace

    ws = Workspace(args.workspace).check()
    originals = ws.pool.originals
    if originals is None:
        raise TuilabelError("the pool came from arrays, not image files: it has no originals", ws.path)
    if args.root is not None:
        try:
            moved = originals.moved_to(args.root)
        except ValueError as exc:
            raise TuilabelError(f"not the originals' folder: {exc}", args.root) from None
        ws.replace_originals(moved)
        print(f"originals: {len(moved)} files now under {moved.root}")
        return 0
    missing, changed = originals.survey()
    print(originals_line(ws, (missing, changed)))
    for kind, items in (("missing", missing), ("changed", changed)):
        for i in items[:20]:
            print(f"  {kind}: {originals.path(i)}")
        if len(items) > 20:
            print(f"  ... and {len(items) - 20} more {kind}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from . import neardup
    from .workspace import Workspace

    ws = Workspace(args.workspace).check()
    counts = ws.store.counts()
    leases = ws.store.leases()
    samples = ws.store.sample_counts()
    sources = [s for s in ("human", "propagated", "pseudo") if any(src == s for src, _ in counts)] or ["human"]
    sample_modes = sorted({mode for mode, _ in samples})
    sample_titles = {m.name: m.samples for m in MODES if m.samples}
    names = ws.class_names
    table = Table()
    table.add_column("class")
    for src in sources:
        table.add_column(f"{src} items", justify="right")
    for mode in sample_modes:
        table.add_column(sample_titles.get(mode, f"{mode} samples"), justify="right", style="dim")
    for label, name in [(i, n) for i, n in enumerate(names)] + [(None, "unsure")]:
        table.add_row(name, *[str(counts.get((src, label), 0)) for src in sources],
                      *[str(samples.get((mode, label), 0)) for mode in sample_modes])
    console = Console()
    console.print(f"[bold]{ws.path}[/]: {len(ws.pool)} images, {len(names)} classes; labels in "
                  f"{ws.store.engine_name} ({shown_location(ws.store_location)})")
    console.print("pool items by source" + (", and generated samples (not pool items)" if sample_modes else "")
                  + ":")
    console.print(table)
    human = sum(n for (src, _), n in counts.items() if src == "human")
    spent = ws.store.time_spent()
    console.print(
        f"human-labelled items: {human} of {len(ws.pool)}; time spent labelling: "
        f"{int(spent // 3600)}h {int(spent % 3600 // 60)}m {int(spent % 60)}s (a pause over "
        f"{IDLE_SECONDS:.0f} s counts {IDLE_SECONDS:.0f} s)"
    )
    console.print(f"test set: {len(ws.test) if ws.test is not None else 'none'}")
    print(originals_line(ws))  # one line, never wrapped: scripts read it
    console.print(f"models: {', '.join(ws.models_present()) or 'none yet'}")
    print(backbone_line(ws))
    if line := neardup.status_line(ws, ws.backbone):
        print(line)
    from .agreement import store_agreement

    if leases:
        busy: dict[str, int] = {}
        for _, _, who, _ in leases:
            busy[who] = busy.get(who, 0) + 1
        console.print("labelling now: " + ", ".join(f"{who} ({n} items leased)" for who, n in sorted(busy.items())))
    pairs = store_agreement(ws.store.pair_counts())
    if pairs:
        rows = Table(title="annotator agreement")
        for column in ("annotator", "annotator", "items", "Cohen's kappa"):
            rows.add_column(column, justify="right" if column in ("items", "Cohen's kappa") else "left")
        for first, second, n, kappa in pairs:
            rows.add_row(first, second, str(n), "-" if kappa is None else f"{kappa:.3f}")
        console.print(rows)
    return 0
