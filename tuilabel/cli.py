"""The command line: wires a workspace to a mode. Errors the user can fix are one line, status 2."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .errors import TuilabelError
from .graphics import GRAPHICS_CHOICES
from .labelio import cmd_classes, cmd_export, cmd_import
from .progress import CommandProgress
from .quitting import wait_for_updates, write_waiting
from .quitting import warn as _warn
from .sessions.registry import MODES, models
from .sessions.registry import mode as mode_spec
from .sessions.settings import parse_option
from .status import cmd_originals, cmd_status
from .store import shown_location

EXIT_USER_ERROR = 2


def compact(names: Sequence[str], head: int = 8, tail: int = 2) -> str:
    """A long list of class names in one short line: the first few, a count, the last two."""
    if len(names) <= head + tail + 1:
        return ", ".join(names)
    return f"{', '.join(names[:head])}, … {len(names) - head - tail} more …, {', '.join(names[-tail:])}"


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
    from .workspace import INGEST, Workspace

    if args.add:
        ws = Workspace(args.workspace).check()
        before = len(ws.pool)
        with CommandProgress("add") as progress:
            added, known = ws.add_images(args.data, _warn, progress)
        print(f"workspace {ws.path}: added {added} images ({known} already in the pool); {before + added} images now, "
              "labels and models untouched")
        return 0
    try:
        with CommandProgress("init") as progress:
            ws = Workspace.init(
                args.workspace, args.data, test=args.test, classes=_classes(args.classes),
                labels=args.labels, size=parse_size(args.size), warn=_warn, store=args.store, progress=progress,
                backbone=_backbone_name(args.backbone) or _default_backbone(),
            )
    except KeyboardInterrupt:
        if (Path(args.workspace) / INGEST).is_dir():
            print(f"tuilabel: interrupted; the images read so far are kept in {Path(args.workspace) / INGEST}: "
                  "the same command goes on from there", file=sys.stderr)
            return 130
        raise
    pool = ws.pool
    test = ws.test
    print(
        f"workspace {ws.path}: {len(pool)} images {'x'.join(map(str, pool.image_shape))},"
        f" {pool.n_classes} classes ({compact(pool.class_names)})"
        + (f", test set of {len(test)}" if test is not None else "")
        + (f"; labels in {shown_location(ws.store_location)}" if args.store else "")
    )
    if ws.backbone != "none":
        print(f"backbone {ws.backbone}: `tuilabel embed {ws.path}` computes its features now (else the first batch "
              "session does); --backbone none at init leaves it out")
    return 0


def cmd_store_migrate(args: argparse.Namespace) -> int:
    from .store import LabelStore, is_url
    from .workspace import Workspace

    ws = Workspace(args.workspace).check()
    source = ws.store
    target_location = args.to if is_url(args.to) else str(Path(args.to).expanduser().resolve())
    if target_location == ws.store_location or (not is_url(args.to) and ws.store_path is not None
                                                and Path(target_location) == ws.store_path.resolve()):
        raise TuilabelError("is the workspace's label store already", shown_location(args.to))
    if not is_url(args.to) and Path(target_location).exists() and Path(target_location).stat().st_size:
        with LabelStore(target_location) as existing:
            if existing.n_events():
                raise TuilabelError(f"already holds {existing.n_events()} label events: give a new file",
                                    args.to)
    target = LabelStore(target_location)
    try:
        with CommandProgress("copy label events") as progress:
            copied = source.copy_to(target, progress)
        before, after = source.fingerprint(), target.fingerprint()
        if before != after:
            raise TuilabelError(f"the copy differs from the original ({after[0]} events and {len(after[2])} "
                                f"current labels against {before[0]} and {len(before[2])}); the workspace "
                                "still uses its old store", shown_location(args.to))
    finally:
        target.close()
    old = shown_location(ws.store_location)
    ws.set_store(target_location)
    ws.store  # noqa: B018 - opens it and marks it as this workspace's
    print(f"copied {copied} events ({before[1]} sessions, {len(before[2])} current labels, identical) from {old} "
          f"to {shown_location(target_location)}; tuilabel.toml now points there (the old store is left as it was)")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    import shutil

    from . import neardup, report
    from .workspace import Workspace

    if args.out is not None:
        report.check_out(args.out)
    ws = Workspace(args.workspace).check()
    try:
        gathered = report.gather(ws)
    finally:
        ws.close()
    width = max(40, min(shutil.get_terminal_size((100, 30)).columns, 140))
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
    print(report.terminal(gathered, width=width, color=color))
    for line in neardup.listing(ws, ws.backbone):
        print(line)
    if args.out is not None:
        report.write(gathered, args.out)
        print(f"wrote {args.out}")
    return 0


def _resolve_colors(choice: str) -> str:
    """Pick the renderer's colours and tell Textual the same before it is imported."""
    from .render import detect_colors

    colors = detect_colors() if choice == "auto" else choice
    if colors == "none":
        os.environ.setdefault("NO_COLOR", "1")
    os.environ["TEXTUAL_COLOR_SYSTEM"] = {"truecolor": "truecolor", "256": "256", "none": "standard"}[colors]
    return colors


def _print_settings(names: Sequence[str]) -> int:
    width = min(100, shutil.get_terminal_size((100, 24)).columns) - 2
    for n, name in enumerate(names):
        spec = mode_spec(name)
        print(("\n" if n else "") + f"{name} mode settings (--set KEY=VALUE; docs/modes/{name}.md):")
        for line in spec.settings_class().describe(width):
            print(f"  {line}" if line else "")
    return 0


def _start_settings(mode: str | None, options: Sequence[str], workspace: Any = None, save: bool = False) -> Any:
    """The start mode's settings (those kept in the workspace's tuilabel.toml, ``--set`` over them),
    checked before anything opens; with ``save``, the ``--set`` ones kept for every later start."""
    if mode is None:
        if options or save:
            raise TuilabelError(f"{'--set ' + options[0] if options else '--save'} needs --mode: settings "
                                "belong to a mode")
        return None
    spec = mode_spec(mode)
    if workspace is None:
        return spec.make_settings(options)
    settings = spec.workspace_settings(workspace, options)
    if save:
        if not options:
            raise TuilabelError("--save keeps the --set settings: give at least one")
        from .sessions.settings import parse_option

        keys = [parse_option(text)[0] for text in options]
        workspace.save_settings(mode, {key: getattr(settings, key) for key in keys})
        print(f"tuilabel: kept in {workspace.path / 'tuilabel.toml'} for every {mode} session: "
              + ", ".join(f"{k}={getattr(settings, k)}" for k in keys), file=sys.stderr)
    return settings


def _graphics_setting(workspace: Any, given: str | None) -> str:
    """``--graphics``, else ``[display] graphics`` of the workspace's tuilabel.toml, else auto."""
    if given is not None:
        return given
    display = workspace.config.get("display", {})
    value = display.get("graphics", "auto") if isinstance(display, dict) else "auto"
    if value not in GRAPHICS_CHOICES:
        raise TuilabelError(f"[display] graphics = {value!r}: must be one of {', '.join(GRAPHICS_CHOICES)}",
                            workspace.path / "tuilabel.toml")
    return str(value)


def _keymap(workspace: Any) -> dict[str, str]:
    """``[keys]`` of the workspace's tuilabel.toml, checked against every screen's bindings."""
    keys = workspace.config.get("keys")
    if keys is None:
        return {}
    from .tui.app import screen_bindings
    from .tui.keys import check_keymap

    return check_keymap(keys, screen_bindings(), workspace.path / "tuilabel.toml")


def _resolve_graphics(requested: str, colors: str) -> Any:
    """Ask the terminal (``auto``) before Textual owns it; say so when an asked-for protocol cannot be."""
    from .graphics import choose

    try:
        timeout = float(os.environ.get("TUILABEL_PROBE_TIMEOUT", "3"))
    except ValueError:
        timeout = 3.0
    try:
        fd_in, fd_out = sys.stdin.fileno(), sys.stdout.fileno()
    except (OSError, ValueError, AttributeError):
        fd_in = fd_out = None
    choice = choose(requested, colors, fd_in=fd_in, fd_out=fd_out, timeout=timeout)
    if requested not in ("auto", "blocks") and choice.protocol == "blocks":
        _warn(f"--graphics {requested}: drawing half blocks: {choice.reason}")
    return choice


def _run_app(workspace: Any, mode: str | None, colors: str, settings: Any, annotator: str | None = None,
             graphics: str | None = None) -> int:
    """The app on ``workspace``; ``settings`` come from `_start_settings`, checked already."""
    workspace.check()  # a missing or damaged file of the workspace is one line, not a traceback
    if workspace.store.read_only:
        raise TuilabelError("the label store is read-only: labels could not be saved (status and export "
                            "still work)", workspace.store.path)
    requested = _graphics_setting(workspace, graphics)
    colors = _resolve_colors(colors)
    choice = _resolve_graphics(requested, colors)
    if choice.protocol == "kitty":  # placeholders carry the image id as a 24-bit colour
        os.environ["TEXTUAL_COLOR_SYSTEM"] = "truecolor"
    if sys.__stdout__ is not None and sys.__stdout__.isatty():
        # a full-screen app follows its terminal: COLUMNS and LINES left in the environment (a tmux
        # server hands every pane those of the process that started it) would draw it at their size
        for name in ("COLUMNS", "LINES"):
            os.environ.pop(name, None)
    from .tui.app import TuilabelApp

    app = TuilabelApp(workspace, mode=mode, colors=colors, settings=settings, annotator=annotator,
                      graphics=choice, keymap=_keymap(workspace))
    try:
        app.run()
        # closed by SIGHUP or SIGTERM: nobody is there to wait (nor, after a hang-up, a terminal to
        # write to), and an update's result is not worth a shutdown's grace period; labels are on disk
        finished = app.ended_by is None and wait_for_updates(app.updates)
        write_waiting(workspace)
    finally:
        workspace.close()
    if app.ended_by is not None:
        with contextlib.suppress(OSError):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(128 + app.ended_by)
    if not finished:  # an update still runs on its thread: leave without waiting for it (torch
        sys.stdout.flush()  # aborts if the interpreter shuts down under it); every label is committed
        sys.stderr.flush()
        os._exit(130)
    return app.return_code or 0


def cmd_label(args: argparse.Namespace) -> int:
    from .workspace import Workspace

    if args.help_settings:
        return _print_settings([args.mode] if args.mode else [m.name for m in MODES if m.built])
    workspace = Workspace(args.workspace)
    settings = _start_settings(args.mode, args.set, workspace, args.save)  # a wrong one: one line, before any work
    return _run_app(workspace, args.mode, args.colors, settings, args.annotator, args.graphics)


def cmd_demo(args: argparse.Namespace) -> int:
    from .workspace import demo_workspace_path, open_or_create_demo

    mode, options = getattr(args, "mode", None), getattr(args, "set", [])
    settings = _start_settings(mode, options)  # before the demo workspace is made
    if not (demo_workspace_path() / "tuilabel.toml").exists():
        print(f"tuilabel: creating the demo workspace at {demo_workspace_path()}", file=sys.stderr)
    return _run_app(open_or_create_demo(), mode, getattr(args, "colors", "auto"), settings,
                    graphics=getattr(args, "graphics", None))


def cmd_train(args: argparse.Namespace) -> int:
    from .sessions.registry import TrainRequest, load
    from .workspace import Workspace

    owner, model = models()[args.model]
    options = list(args.set)
    if args.epochs is not None and model.epochs_setting:
        options.append(f"{model.epochs_setting}={args.epochs}")
    if args.seed and not any(o.startswith("seed=") for o in options):
        options.append(f"seed={args.seed}")
    owner.make_settings(options)  # checked before the workspace is read
    ws = Workspace(args.workspace).check()
    request = TrainRequest(args.epochs, args.seed, args.device, options, {
        "hidden": args.hidden, "cd_k": args.cd_k, "persistent": args.persistent, "learning_rate": args.learning_rate,
    })
    assert model.train is not None
    with CommandProgress(f"train {args.model}") as progress:
        line = load(model.train)(ws, request, progress)
    print(line)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .sessions.registry import load
    from .workspace import Workspace

    ws = Workspace(args.workspace).check()
    if ws.test is None:
        raise TuilabelError("the workspace has no test set (give --test to `tuilabel init`)", ws.path)
    print(f"test set: {len(ws.test)} images")
    lines: list[str] = []
    for _, model in models().values():
        if model.evaluate:
            lines += load(model.evaluate)(ws)
    print("\n".join(lines) if lines else "no trained models yet")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from .simulate import SimSettings, run_simulation

    if args.help_settings:
        return _print_settings([args.mode])
    if args.out is None:
        raise TuilabelError("give --out FILE for the learning curve")
    settings = SimSettings(
        mode=args.mode, labels=args.labels, seconds=args.seconds, seed=args.seed,
        error_rate=args.error_rate, seconds_per_label=args.seconds_per_label, epochs=args.epochs,
        compute=args.compute, options=dict(parse_option(item) for item in args.set),
    )
    tty = sys.stderr.isatty()
    last = [0]

    def report(spent: int, point: Any) -> None:
        if point is not None:
            acc = "-" if point.accuracy is None else f"{point.accuracy:.3f}"
            print(("\r\x1b[K" if tty else "") + f"simulating {settings.mode}: update at {point.labels} labels, "
                  f"{point.seconds:.0f} simulated s: test accuracy {acc}", file=sys.stderr, flush=True)
        elif tty and spent != last[0]:
            print(f"\rsimulating {settings.mode}: {spent} labels", end="", file=sys.stderr, flush=True)
        elif not tty and spent // 50 != last[0] // 50:
            print(f"simulating {settings.mode}: {spent} labels", file=sys.stderr, flush=True)
        last[0] = spent

    result = run_simulation(Path(args.workspace), settings, Path(args.out), report)
    if tty:
        print("\r\x1b[K", end="", file=sys.stderr)
    for point in result["curve"]:
        acc = "-" if point["accuracy"] is None else f"{point['accuracy']:.3f}"
        print(f"labels {point['labels']:>5}  seconds {point['seconds']:>8.1f}  accuracy {acc}")
    print(f"wrote {args.out}")
    return 0


# -- parser ---------------------------------------------------------------------------------------


def _backbone_name(name: str | None) -> str | None:
    from .models import backbones

    return None if name is None else backbones.check_name(name)


def _default_backbone() -> str:
    """A new workspace's backbone: the offline default where its weights are installed."""
    import importlib.util

    from .models import backbones

    return backbones.DEFAULT if importlib.util.find_spec(backbones.EFFNET_PACKAGE) else backbones.NONE


def cmd_embed(args: argparse.Namespace) -> int:
    from . import embeddings, neardup
    from .models import backbones
    from .workspace import Workspace

    ws = Workspace(args.workspace).check()
    name = _backbone_name(args.backbone) or (ws.backbone if ws.backbone != backbones.NONE else backbones.DEFAULT)
    if name == backbones.NONE:
        ws.set_backbone(name)
        print(f"workspace {ws.path}: backbone none; the modes use their pool-trained models alone")
        return 0
    try:
        with CommandProgress(f"embed {name}") as progress:
            record = embeddings.compute(ws, name, progress, device=args.device, download=args.download)
    except KeyboardInterrupt:
        done = embeddings.info(ws, name)
        print(f"tuilabel: interrupted; {done.done if done else 0} of {len(ws.pool)} images are embedded and kept: "
              "the same command goes on from there", file=sys.stderr)
        return 130
    if ws.backbone != name:
        ws.set_backbone(name)
    if record.done >= len(ws.pool):
        groups = neardup.load(ws, name)
        if groups is None:
            with CommandProgress("near-duplicates") as progress:
                groups = neardup.find(ws, name, progress)
        print(neardup.summary_line(groups))
    fell = f"; {record.fallbacks} originals unreadable, their display copies used" if record.fallbacks else ""
    print(f"workspace {ws.path}: {record.done} images embedded with {name} ({record.dim} features, read from "
          f"the {record.source} at {record.side} px, {record.seconds:.0f} s){fell}; every mode uses them")
    return 0


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
    p.add_argument("--store", help="keep the labels in PostgreSQL (postgresql://user@host/db, an empty "
                                   "database; needs psycopg) instead of the workspace's labels.sqlite")
    p.add_argument("--add", action="store_true", help="add the image files of --data that an existing workspace's "
                                                      "pool does not hold yet (its labels untouched)")
    p.add_argument("--backbone", help="the pretrained network the modes use (tuilabel embed computes its "
                                      "features): efficientnet-lite0 (the default), none (the pool-trained "
                                      "models alone), file:PATH (a TorchScript file) or hf:ORG/NAME (a Hugging "
                                      "Face model in the local cache)")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("embed", help="compute the pool's features with a pretrained network (resumable); "
                                     "every mode then uses them")
    p.add_argument("workspace")
    p.add_argument("--backbone", help="efficientnet-lite0 (the default, offline), none, file:PATH (a TorchScript "
                                      "module: (n, 3, 224, 224) ImageNet-normalised -> (n, dim)) or hf:ORG/NAME "
                                      "(a Hugging Face model, from the local cache)")
    p.add_argument("--download", action="store_true", help="hf:ORG/NAME: download the model if the cache lacks it "
                                                           "(nothing is downloaded otherwise)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when there is one)")
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("store", help="the label store: copy it to another engine")
    store_sub = p.add_subparsers(dest="store_command", metavar="STORE_COMMAND", required=True)
    p = store_sub.add_parser("migrate", help="copy the label log to another store and use it from now on")
    p.add_argument("workspace")
    p.add_argument("--to", required=True, help="a PostgreSQL URL, or a new SQLite file")
    p.set_defaults(func=cmd_store_migrate)

    p = sub.add_parser("status", help="labels per class and source, time spent, models")
    p.add_argument("workspace")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("originals", help="the pool's original image files: missing or changed ones; --root "
                                         "NEW_FOLDER after moving them")
    p.add_argument("workspace")
    p.add_argument("--root", help="the folder the originals are now under (checked: same files, sizes, hashes)")
    p.set_defaults(func=cmd_originals)

    p = sub.add_parser("report", help="learning curves, class balance, confusion, labels over time, agreement")
    p.add_argument("workspace")
    p.add_argument("--out", type=Path, help="also write the figures as a .png or a self-contained .html page")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("export", help="write the labels out")
    p.add_argument("workspace")
    p.add_argument("--format", choices=["csv", "jsonl", "parquet", "imagefolder", "hf-imagefolder"], required=True,
                   help="parquet needs pyarrow (the parquet extra); hf-imagefolder: class folders and a "
                        "metadata.csv that datasets' imagefolder loader reads")
    p.add_argument("--out", required=True)
    p.add_argument("--sources", default="human", help="comma-separated: human,propagated,pseudo")
    p.add_argument("--force", action="store_true", help="(hf-)imagefolder: replace what a non-empty --out holds")
    p.add_argument("--link", action="store_true",
                   help="(hf-)imagefolder: hard-link the original files instead of copying them (same file system)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("classes", help="list the classes; add, rename or merge them on a live workspace")
    p.add_argument("workspace")
    p.add_argument("op", nargs="?", choices=["list", "add", "rename", "merge"], default="list")
    p.add_argument("names", nargs="*", help="add: NAME [NAME ...]; rename: OLD NEW; merge: FROM INTO")
    p.add_argument("--annotator", help="who made the change (default: user@host)")
    p.set_defaults(func=cmd_classes)

    p = sub.add_parser("import", help="bring in labels made elsewhere (a CSV or JSON lines file)")
    p.add_argument("workspace")
    p.add_argument("file", help="rows of an item (item_id, path or file name) and a class (name or index), "
                                "optionally annotator and confidence")
    p.add_argument("--annotator", help="whose labels they are, where a row does not say (default: import:FILE)")
    p.add_argument("--as", dest="as_", choices=["labels", "predictions"], default="labels",
                   help="labels: people's labels, into the store; predictions: a model's (a class and confidence, "
                        "or a probability column per class) for review to judge the labels by")
    p.add_argument("--skip-unknown", action="store_true",
                   help="import the rows the workspace knows and leave out those naming unknown items or classes")
    p.set_defaults(func=cmd_import)

    colors: dict[str, Any] = {"choices": ["auto", "truecolor", "256", "none"], "default": "auto",
                              "help": "colours of the half-block images (default: what the terminal says)"}
    graphics: dict[str, Any] = {
        "choices": GRAPHICS_CHOICES, "default": None,
        "help": "real pixels: kitty (kitty, Ghostty; tmux with allow-passthrough), iterm2 (iTerm2, "
                "WezTerm), sixel (xterm -ti vt340, foot, Windows Terminal, VS Code, Konsole, tmux 3.4 with sixel), "
                "blocks (half blocks, everywhere); default: [display] graphics of "
                "tuilabel.toml, else auto (ask the terminal)"}
    built = [m.name for m in MODES if m.built]
    settings_help = "a setting of the mode, e.g. --set strategy=margin (repeatable; --help-settings lists them)"
    p = sub.add_parser("label", help="open the labeling app on a workspace")
    p.add_argument("workspace")
    p.add_argument("--mode", help=f"go straight into a mode ({', '.join(built)})")
    p.add_argument("--colors", **colors)
    p.add_argument("--graphics", **graphics)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=settings_help)
    p.add_argument("--save", action="store_true", help="keep the --set settings in the workspace's tuilabel.toml "
                                                       "([MODE] table): every later start of the mode uses them")
    p.add_argument("--help-settings", action="store_true", help="list the mode's settings and exit")
    p.add_argument("--annotator", help="who the labels are recorded as (default: user@host)")
    p.set_defaults(func=cmd_label)

    p = sub.add_parser("demo", help="open the app on the bundled sample (the default command)")
    p.add_argument("--mode", help=f"go straight into a mode ({', '.join(built)})")
    p.add_argument("--colors", **colors)
    p.add_argument("--graphics", **graphics)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=settings_help)
    p.set_defaults(func=cmd_demo)

    trainable = {name: model for name, (_, model) in models().items() if model.train}
    p = sub.add_parser("train", help="train a model of the workspace (progress shown)")
    p.add_argument("workspace")
    p.add_argument("--model", required=True, choices=list(trainable),
                   help="; ".join(f"{name}: {model.help}" for name, model in trainable.items()))
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when there is one)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a setting of the mode that owns the model (vae: clusters, cnn: batch)")
    p.add_argument("--hidden", type=int, default=500, help="rbm: hidden units")
    p.add_argument("--cd-k", type=int, default=None, help="rbm: Gibbs steps per update (default 10; 1 with PCD)")
    p.add_argument("--persistent", action="store_true", help="rbm: persistent contrastive divergence")
    p.add_argument("--learning-rate", type=float, default=None, help="rbm: learning rate")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="test accuracy of the workspace's models")
    p.add_argument("workspace")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("simulate", help="run a mode headless with a simulated labeler; write its curve")
    p.add_argument("workspace")
    p.add_argument("--mode", required=True, help=", ".join(built))
    p.add_argument("--labels", type=int, default=None, help="stop after this many labels")
    p.add_argument("--seconds", type=float, default=None, help="stop after this many simulated seconds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--error-rate", type=float, default=0.0, help="share of wrong answers (0..1)")
    p.add_argument("--seconds-per-label", type=float, default=1.75)
    p.add_argument("--epochs", type=int, default=None, help="stop after this many model updates (clusters: epochs)")
    p.add_argument("--compute", choices=["model", "measured"], default="model",
                   help="compute time on the simulated clock: a model of the reference machine (the same "
                        "on any machine, default) or this machine's measured time")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=settings_help)
    p.add_argument("--help-settings", action="store_true", help="list the mode's settings and exit")
    p.add_argument("--out", help="the learning curve, as JSON")
    p.set_defaults(func=cmd_simulate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["demo"])
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
