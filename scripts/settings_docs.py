"""Write each mode's settings table into its page, docs/modes/<mode>.md, from the code.

The table sits between ``<!-- settings -->`` and ``<!-- /settings -->``; everything else on the page
is written by hand. ``python scripts/settings_docs.py`` rewrites the tables;
``python scripts/settings_docs.py --check`` exits 1 naming the pages that are out of date (the
test suite runs it).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tuilabel.sessions.registry import MODES  # noqa: E402
from tuilabel.sessions.settings import LABELING, MODEL_GROUP  # noqa: E402

BEGIN, END = "<!-- settings -->", "<!-- /settings -->"
HEADINGS = {LABELING: "While labeling", MODEL_GROUP: "Model (training hyper-parameters)", "team": "Team"}


def table(settings_class: type) -> str:
    """The settings as Markdown tables, one per group: name, values, default, help."""
    lines: list[str] = []
    group = None
    for g, name, kind, default, text in settings_class.rows():
        if g != group:
            group = g
            lines += ["", f"**{HEADINGS[g]}**", "", "| setting | values | default | what it does |",
                      "| --- | --- | --- | --- |"]
        lines.append(f"| `{name}` | {kind.replace('|', '/')} | `{default}` | {text.replace('|', '/')} |")
    return "\n".join(lines).strip("\n")


def updated(text: str, settings_class: type) -> str:
    block = f"{BEGIN}\n{table(settings_class)}\n{END}"
    return re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say which pages are out of date")
    args = parser.parse_args(argv)
    stale = []
    for spec in MODES:
        page = ROOT / "docs" / "modes" / f"{spec.name}.md"
        text = page.read_text(encoding="utf-8")
        if BEGIN not in text:
            stale.append(f"{page.relative_to(ROOT)}: no {BEGIN} marker")
            continue
        new = updated(text, spec.settings_class())
        if new != text:
            stale.append(str(page.relative_to(ROOT)))
            if not args.check:
                page.write_text(new, encoding="utf-8")
    if args.check and stale:
        print("out of date (run python scripts/settings_docs.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
