"""The command line: wires a workspace to a mode. Errors the user can fix are one line, status 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

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
    sources = sorted({src for src, _ in counts}, key=["human", "propagated", "pseudo", "sample"].index)
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


def _resolve_colors(choice: str) -> str:
    """Pick the renderer's colours and tell Textual the same before it is imported."""
    import os

    from .render import detect_colors

    colors = detect_colors() if choice == "auto" else choice
    if colors == "none":
        os.environ.setdefault("NO_COLOR", "1")
    os.environ["TEXTUAL_COLOR_SYSTEM"] = {"truecolor": "truecolor", "256": "256", "none": "standard"}[colors]
    return colors


def _run_app(workspace, mode: str | None, colors: str, options: Sequence[str] = ()) -> int:
    colors = _resolve_colors(colors)
    from .tui.app import MODES, TuilabelApp

    if mode is not None and mode not in {m.name for m in MODES}:
        raise TuilabelError(f"no mode {mode!r}; modes: {', '.join(m.name for m in MODES)}")
    clusters = None
    if options:  # checked before the screen opens: a wrong setting is one line, not a traceback
        from .sessions.clusters import ClustersSettings
        from .simulate import mode_settings

        clusters = mode_settings(ClustersSettings, dict(_key_value(item) for item in options))
    app = TuilabelApp(workspace, mode=mode, colors=colors, clusters=clusters)
    app.run()
    workspace.close()
    return app.return_code or 0


def cmd_label(args: argparse.Namespace) -> int:
    from .workspace import Workspace

    return _run_app(Workspace(args.workspace), args.mode, args.colors, args.set)


def cmd_demo(args: argparse.Namespace) -> int:
    from .workspace import demo_workspace_path, open_or_create_demo

    if not (demo_workspace_path() / "tuilabel.toml").exists():
        print(f"tuilabel: creating the demo workspace at {demo_workspace_path()}", file=sys.stderr)
    return _run_app(open_or_create_demo(), getattr(args, "mode", None), getattr(args, "colors", "auto"))


def cmd_train(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .models.rbm import RBM, pick_device
    from .workspace import Workspace

    ws = Workspace(args.workspace)
    pool = ws.pool
    if args.model == "vae":
        return _train_vae(ws, args)
    path = ws.models_dir / "rbm.npz"
    if args.model == "rbm":
        overrides = {"epochs": args.epochs or 40, "n_hidden": args.hidden, "seed": args.seed}
        if args.persistent:  # PCD diverges at CD's rate: a smaller one, one step, less momentum
            overrides.update(persistent=True, learning_rate=0.005, cd_k=1, final_momentum=0.5)
        if args.cd_k is not None:
            overrides["cd_k"] = args.cd_k
        if args.learning_rate is not None:
            overrides["learning_rate"] = args.learning_rate
        rbm = RBM(device=args.device, **overrides)
        x = pool.as_float().reshape(len(pool), -1)
        print(f"training an RBM ({rbm.config.n_hidden} hidden, {'PCD' if rbm.config.persistent else 'CD'}-"
              f"{rbm.config.cd_k}) on {len(pool)} images without labels, on {pick_device(args.device)}")
        with Progress(TextColumn("epoch"), MofNCompleteColumn(), BarColumn(), TextColumn("{task.fields[err]}"),
                      TimeElapsedColumn(), transient=False) as progress:
            task = progress.add_task("rbm", total=rbm.config.epochs, err="")

            def step(epoch: int, err: float) -> None:
                progress.update(task, completed=epoch, err=f"reconstruction error {err:.2f}")

            rbm.fit(x, pool.n_classes, progress=step)
        rbm.save(path)
        print(f"saved {path}")
        return 0
    # rbm-labels: offline learning of the label weights from every stored stream frame
    if not path.exists():
        raise TuilabelError("no RBM yet: run `tuilabel train WORKSPACE --model rbm` first", ws.path)
    from .data import to_model_input
    from .sessions.stream import StreamSettings

    rbm = RBM.load(path, device=args.device)
    frames, labels = ws.store.labelled_samples(pool.image_shape)
    if not len(frames):
        raise TuilabelError("no labelled stream frames yet: label some in the stream mode first", ws.path)
    settings = StreamSettings()
    x = to_model_input(frames).reshape(len(frames), -1)
    rbm.fit_labels(x, labels, epochs=args.epochs or settings.offline_epochs,
                   lr=settings.offline_learning_rate, seed=args.seed)
    rbm.save(path)
    print(f"label weights retrained offline (CD-1, {args.epochs or settings.offline_epochs} passes) "
          f"on {len(frames)} stream frames; saved {path}")
    return 0


def _train_vae(ws, args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .sessions.clusters import ClustersSettings, pretrain

    settings = ClustersSettings(seed=args.seed)
    if args.epochs:
        settings.pretrain_epochs = args.epochs
    model = settings.model(device=args.device)
    pool = ws.pool
    print(f"training a VAE (z_dim {settings.z_dim}, beta {settings.beta:g}) on {len(pool)} images without labels, "
          f"{settings.pretrain_epochs} epochs of {max(settings.epoch_samples, len(pool))} images, on {model.device}")
    with Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[loss]}"), TimeElapsedColumn()) as progress:
        task = progress.add_task("vae", total=None, epoch="", loss="")

        def step(epoch: int, epochs: int, i: int, total: int, losses: dict) -> None:
            progress.update(task, completed=i, total=total, epoch=f"{epoch}/{epochs}",
                            loss=f"reconstruction {losses['reconstruction']:.1f}  KL {losses['kl']:.2f}")

        pretrain(model, pool.as_float(), pool.n_classes, settings, progress=step)
    path = ws.models_dir / "vae.npz"
    model.save(path)
    print(f"saved {path}")
    return 0


def _eval_vae(ws, path: Path) -> None:
    from .cluster import clustering_report, kmeans
    from .models.vae import VAEClassifier

    test = ws.test
    model = VAEClassifier.load(path)
    x = test.as_float()
    known = test.truth >= 0
    z = model.encode(x)
    pred = model.proba_from_latent(z).argmax(1)
    rec = model.reconstruction(x)
    print(f"vae (clusters mode, {model.epochs_} epochs): test accuracy {float((pred == test.truth)[known].mean()):.4f}; "
          f"reconstruction {rec['bce']:.1f} nats/image, pixel accuracy {rec['pixel_accuracy']:.4f}")
    rows = [("classifier's classes", pred)]
    for k in sorted({ws.pool.n_classes, 2 * ws.pool.n_classes}):
        rows.append((f"k-means of the latent, k={k}", kmeans(z, k, seed=0).assignment))
    print(f"  {'clustering of the test set':<34} {'ACC':>7} {'NMI':>7} {'ARI':>7}")
    for name, assignment in rows:
        r = clustering_report(test.truth, assignment)
        print(f"  {name:<34} {r['acc']:>7.4f} {r['nmi']:>7.4f} {r['ari']:>7.4f}")


def cmd_eval(args: argparse.Namespace) -> int:
    from .models.rbm import RBM
    from .workspace import Workspace

    ws = Workspace(args.workspace)
    test = ws.test
    if test is None:
        raise TuilabelError("the workspace has no test set (give --test to `tuilabel init`)", ws.path)
    print(f"test set: {len(test)} images")
    found = False
    path = ws.models_dir / "rbm.npz"
    if path.exists():
        found = True
        rbm = RBM.load(path)
        if float(rbm.U_.abs().sum()) == 0:
            print("rbm: no label weights yet (label frames in the stream mode, or `train --model rbm-labels`)")
        else:
            x = test.as_float().reshape(len(test), -1)
            print(f"rbm: test accuracy {rbm.score(x, test.truth):.4f}")
    path = ws.models_dir / "cnn.npz"
    if path.exists():
        from .models.cnn import CNNClassifier

        found = True
        print(f"cnn (batch mode): test accuracy {CNNClassifier.load(path).score(test.as_float(), test.truth):.4f}")
    path = ws.models_dir / "vae.npz"
    if path.exists():
        found = True
        _eval_vae(ws, path)
    path = ws.models_dir / "clusters-cnn.npz"
    if path.exists():
        from .models.cnn import CNNClassifier

        found = True
        acc = CNNClassifier.load(path).score(test.as_float(), test.truth)
        print(f"cnn (clusters mode, trained on the spread labels): test accuracy {acc:.4f}")
    if not found:
        print("no trained models yet")
    return 0


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise TuilabelError(f"--set {text!r} must be KEY=VALUE")
    return key.strip(), value.strip()


def cmd_simulate(args: argparse.Namespace) -> int:
    from .simulate import SimSettings, run_simulation

    settings = SimSettings(
        mode=args.mode, labels=args.labels, seconds=args.seconds, seed=args.seed,
        error_rate=args.error_rate, seconds_per_label=args.seconds_per_label, epochs=args.epochs,
        options=dict(_key_value(item) for item in args.set),
    )
    if not 0 <= settings.error_rate <= 1:
        raise TuilabelError(f"--error-rate {settings.error_rate} must be between 0 and 1")
    interactive = sys.stderr.isatty()

    def progress(n: int) -> None:
        if interactive and (n % 10 == 0):
            print(f"\rsimulating {settings.mode}: {n} labels", end="", file=sys.stderr, flush=True)

    result = run_simulation(Path(args.workspace), settings, Path(args.out), progress)
    if interactive:
        print(file=sys.stderr)
    for point in result["curve"]:
        acc = "-" if point["accuracy"] is None else f"{point['accuracy']:.3f}"
        print(f"labels {point['labels']:>5}  seconds {point['seconds']:>8.1f}  accuracy {acc}")
    print(f"wrote {args.out}")
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

    colors = {"choices": ["auto", "truecolor", "256", "none"], "default": "auto",
              "help": "colours of the half-block images (default: what the terminal says)"}
    p = sub.add_parser("label", help="open the labeling app on a workspace")
    p.add_argument("workspace")
    p.add_argument("--mode", help="go straight into a mode (browse, stream, batch, clusters)")
    p.add_argument("--colors", **colors)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a clusters-mode setting, e.g. --set k=12 (repeatable)")
    p.set_defaults(func=cmd_label)

    p = sub.add_parser("demo", help="open the app on the bundled sample (the default command)")
    p.add_argument("--mode")
    p.add_argument("--colors", **colors)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", help="train a model of the workspace (progress shown)")
    p.add_argument("workspace")
    p.add_argument("--model", required=True, choices=["rbm", "rbm-labels", "vae"],
                   help="rbm: unsupervised RBM; rbm-labels: its label weights from stored stream frames; "
                        "vae: the clusters mode's VAE, its epochs without labels")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--hidden", type=int, default=225)
    p.add_argument("--cd-k", type=int, default=None, help="Gibbs steps per update (default 10; 1 with PCD)")
    p.add_argument("--persistent", action="store_true", help="persistent contrastive divergence")
    p.add_argument("--learning-rate", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when there is one)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="test accuracy of the workspace's models")
    p.add_argument("workspace")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("simulate", help="run a mode headless with a simulated labeler; write its curve")
    p.add_argument("workspace")
    p.add_argument("--mode", required=True)
    p.add_argument("--labels", type=int, default=None, help="stop after this many labels")
    p.add_argument("--seconds", type=float, default=None, help="stop after this many simulated seconds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--error-rate", type=float, default=0.0, help="share of wrong answers (0..1)")
    p.add_argument("--seconds-per-label", type=float, default=1.75)
    p.add_argument("--epochs", type=int, default=None, help="clusters: stop after this many labelling epochs")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a mode setting, e.g. --set fast_weights=true (repeatable)")
    p.add_argument("--out", required=True, help="the learning curve, as JSON")
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
