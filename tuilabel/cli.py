"""The command line: wires a workspace to a mode. Errors the user can fix are one line, status 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__
from .errors import TuilabelError

EXIT_USER_ERROR = 2


def _warn(msg: str) -> None:
    print(f"tuilabel: {msg}", file=sys.stderr)


def _classes(text: str | None) -> list[str] | None:
    if not text:
        return None
    names = [c.strip() for c in text.split(",")]
    if any(not n for n in names) or len(set(names)) != len(names):
        raise TuilabelError(f"--classes {text!r} must be distinct, comma-separated names")
    return names


# -- commands -------------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    from .data import parse_size
    from .workspace import Workspace

    ws = Workspace.init(
        args.workspace, args.data, test=args.test, classes=_classes(args.classes),
        labels=args.labels, size=parse_size(args.size), warn=_warn,
    )
    pool = ws.pool
    test = ws.test
    print(
        f"workspace {ws.path}: {len(pool)} images {'x'.join(map(str, pool.image_shape))},"
        f" {pool.n_classes} classes ({', '.join(pool.class_names)})"
        + (f", test set of {len(test)}" if test is not None else "")
    )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from .workspace import Workspace

    ws = Workspace(args.workspace)
    counts = ws.store.counts()
    sources = sorted({src for src, _ in counts}, key=lambda s: ["human", "propagated", "pseudo", "sample"].index(s))
    names = ws.class_names
    table = Table()
    table.add_column("class")
    for src in sources or ["human"]:
        table.add_column(src if src != "sample" else "stream frames", justify="right")
    for label, name in [(i, n) for i, n in enumerate(names)] + [(None, "unsure")]:
        table.add_row(name, *[str(counts.get((src, label), 0)) for src in sources or ["human"]])
    console = Console()
    console.print(f"[bold]{ws.path}[/]: {len(ws.pool)} images, {len(names)} classes")
    console.print(table)
    human = sum(n for (src, _), n in counts.items() if src == "human")
    spent = ws.store.time_spent()
    console.print(
        f"human-labelled items: {human} of {len(ws.pool)}; time spent labelling: "
        f"{int(spent // 3600)}h {int(spent % 3600 // 60)}m {int(spent % 60)}s"
    )
    console.print(f"test set: {len(ws.test) if ws.test is not None else 'none'}")
    console.print(f"models: {', '.join(ws.models_present()) or 'none yet'}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export
    from .workspace import Workspace

    ws = Workspace(args.workspace)
    sources = [s.strip() for s in args.sources.split(",")]
    n = export(ws, args.format, args.out, sources=sources)
    print(f"exported {n} labels ({', '.join(sources)}) to {args.out}")
    return 0


# -- parser ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tuilabel", description="Label images from the terminal, with a model choosing what you see."
    )
    parser.add_argument("--version", action="version", version=f"tuilabel {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("init", help="create a workspace from a data source")
    p.add_argument("workspace")
    p.add_argument("--data", required=True, help=".npz/.npy, IDX file or folder, image folder, or CSV")
    p.add_argument("--test", help="a labelled test set in any of the same formats (evaluation only)")
    p.add_argument("--labels", help="labels file for the data (IDX, .npy or text)")
    p.add_argument("--classes", help="class names, comma-separated (default: from the labels)")
    p.add_argument("--size", help="bring images to HxW (default: their own, folders capped at 64)")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("status", help="labels per class and source, time spent, models")
    p.add_argument("workspace")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("export", help="write the labels out")
    p.add_argument("workspace")
    p.add_argument("--format", choices=["csv", "jsonl", "imagefolder"], required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--sources", default="human", help="comma-separated: human,propagated,pseudo")
    p.set_defaults(func=cmd_export)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except TuilabelError as exc:
        print(f"tuilabel: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("tuilabel: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
