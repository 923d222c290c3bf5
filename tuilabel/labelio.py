"""The commands that move labels and classes in and out of a workspace: `tuilabel export`,
`tuilabel import` and `tuilabel classes` (the work is in export.py, importing.py and
`Workspace.add_class` and its kin; here, what the person typed and what they are told)."""

from __future__ import annotations

import argparse
import time

from .errors import TuilabelError


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export
    from .workspace import Workspace

    ws = Workspace(args.workspace).check()
    sources = [s.strip() for s in args.sources.split(",")]
    done = export(ws, args.format, args.out, sources=sources, force=args.force, link=args.link)
    extra = ""
    if done.originals or done.missing:
        extra = f"; {done.originals} original files {'linked' if args.link else 'copied'}"
    if done.missing:
        extra += (f", {len(done.missing)} written as display copies because the original is missing or changed "
                  f"(first: {done.missing[0]}; `tuilabel status` lists them)")
    print(f"exported {done.records} labels ({', '.join(sources)}) to {args.out}{extra}")
    return 0


def cmd_classes(args: argparse.Namespace) -> int:
    from .workspace import Workspace

    ws = Workspace(args.workspace).check()
    try:
        if args.op == "add":
            if not args.names:
                raise TuilabelError("add takes the new class's name", ws.path)
            for name in args.names:
                index = ws.add_class(name, who=args.annotator)
                key = str(index) if index < 10 and len(ws.class_names) <= 10 else f"{index} then Enter"
                print(f"class {index} {name!r} added (key {key}); open sessions take it within a few seconds")
        elif args.op == "merge":
            if len(args.names) != 2:
                raise TuilabelError("merge takes the class to empty and the one its labels join", ws.path)
            moved = ws.merge_classes(args.names[0], args.names[1], who=args.annotator)
            print(f"{moved} labels of {args.names[0]!r} are now {args.names[1]!r}; {args.names[0]!r} stays, "
                  "empty (rename it to reuse its key)")
        elif args.op == "rename":
            if len(args.names) != 2:
                raise TuilabelError("rename takes the old name and the new one", ws.path)
            index = ws.rename_class(args.names[0], args.names[1], who=args.annotator)
            print(f"class {index} is now {args.names[1]!r}; its labels stay")
        else:
            for i, name in enumerate(ws.class_names):
                print(f"{i:>3}  {name}")
            for event in ws.class_history():
                when = time.strftime("%Y-%m-%d %H:%M", time.localtime(event["time"]))
                what = (f"added {event['name']!r}" if event["op"] == "add"
                        else f"merged {event['old']!r} into {event['name']!r} ({event.get('moved', 0)} labels)"
                        if event["op"] == "merge" else f"renamed {event['old']!r} to {event['name']!r}")
                print(f"{when}  {event['annotator']}: {what}")
    finally:
        ws.close()
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from .importing import _unknown_message, import_labels, import_predictions
    from .workspace import Workspace

    ws = Workspace(args.workspace).check()
    try:
        if args.as_ == "predictions":
            predicted = import_predictions(ws, args.file, skip_unknown=args.skip_unknown)
            print(f"imported a model's predictions of {predicted.labels} images from {args.file}; review judges "
                  f"the labels by them with: tuilabel label {args.workspace} --mode review --set judge=predictions")
            if predicted.skipped:
                print(f"left out {predicted.skipped} rows naming items or classes the workspace does not have")
            return 0
        done = import_labels(ws, args.file, annotator=args.annotator, skip_unknown=args.skip_unknown)
    finally:
        ws.close()
    who = ", ".join(done.annotators[:3]) + (", …" if len(done.annotators) > 3 else "")
    print(f"imported {done.labels} labels from {args.file} as people's labels ({who})")
    if done.skipped:
        print(f"left out {done.skipped} rows: {_unknown_message(done, ws.class_names)}")
    return 0
