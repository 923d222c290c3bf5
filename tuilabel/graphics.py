"""Real pixels in terminals that speak a graphics protocol, and the choice of protocol.

Pure functions over uint8 images and bytes (no UI imports): the Textual widget that uses them is
`tui.widgets.PixelView`, the choice is made by `choose` before the app starts.

- kitty (kitty, Ghostty): the image is sent once as a PNG with a *virtual placement* (``U=1``)
  and shown by Unicode placeholder cells (U+10EEEE, row and column as combining diacritics, the
  image id as the foreground colour). The placeholders are ordinary text to Textual's compositor
  and to tmux, so they clip, overlap and repaint like any cell; a new image under the same id
  replaces the picture without rewriting a single cell.
- iterm2 (iTerm2, WezTerm): an inline PNG (OSC 1337) written at the widget's cells after Textual
  has drawn them (blank), sized in cells, scaled by the terminal.
- sixel (xterm -ti vt340, foot, Windows Terminal, VS Code, Konsole, tmux 3.4 built with it): the
  image scaled to the widget's cells in pixels (the cell size asked of the terminal) with a palette
  of its own colours (at most 256), written at the cells after Textual has drawn them, as iterm2.
- blocks: half blocks (`render.py`), the fallback everywhere.

Detection (`choose`) writes its queries before Textual owns the terminal and reads the replies up
to the answer to Primary Device Attributes, which every terminal gives and gives last, so a slow
link only makes it wait (up to ``timeout``) and no reply is left behind as input.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import re
import select
import subprocess
import time
from dataclasses import dataclass

import numpy as np

GRAPHICS_CHOICES = ("auto", "kitty", "iterm2", "sixel", "blocks")
DEFAULT_CELL = (10, 20)  # a cell's pixels (width, height) when the terminal does not say
PLACEHOLDER = "\U0010eeee"
# Row/column numbers of kitty's Unicode placeholders: kitty's rowcolumn-diacritics table (index i
# encodes i), its first 256 entries, so a picture is at most 256 cells wide and 256 rows high.
_DIACRITIC_CODES = (
    0x0305, 0x030D, 0x030E, 0x0310, 0x0312, 0x033D, 0x033E, 0x033F, 0x0346, 0x034A, 0x034B, 0x034C,
    0x0350, 0x0351, 0x0352, 0x0357, 0x035B, 0x0363, 0x0364, 0x0365, 0x0366, 0x0367, 0x0368, 0x0369,
    0x036A, 0x036B, 0x036C, 0x036D, 0x036E, 0x036F, 0x0483, 0x0484, 0x0485, 0x0486, 0x0487, 0x0592,
    0x0593, 0x0594, 0x0595, 0x0597, 0x0598, 0x0599, 0x059C, 0x059D, 0x059E, 0x059F, 0x05A0, 0x05A1,
    0x05A8, 0x05A9, 0x05AB, 0x05AC, 0x05AF, 0x05C4, 0x0610, 0x0611, 0x0612, 0x0613, 0x0614, 0x0615,
    0x0616, 0x0617, 0x0657, 0x0658, 0x0659, 0x065A, 0x065B, 0x065D, 0x065E, 0x06D6, 0x06D7, 0x06D8,
    0x06D9, 0x06DA, 0x06DB, 0x06DC, 0x06DF, 0x06E0, 0x06E1, 0x06E2, 0x06E4, 0x06E7, 0x06E8, 0x06EB,
    0x06EC, 0x0730, 0x0732, 0x0733, 0x0735, 0x0736, 0x073A, 0x073D, 0x073F, 0x0740, 0x0741, 0x0743,
    0x0745, 0x0747, 0x0749, 0x074A, 0x07EB, 0x07EC, 0x07ED, 0x07EE, 0x07EF, 0x07F0, 0x07F1, 0x07F3,
    0x0816, 0x0817, 0x0818, 0x0819, 0x081B, 0x081C, 0x081D, 0x081E, 0x081F, 0x0820, 0x0821, 0x0822,
    0x0823, 0x0825, 0x0826, 0x0827, 0x0829, 0x082A, 0x082B, 0x082C, 0x082D, 0x0951, 0x0953, 0x0954,
    0x0F82, 0x0F83, 0x0F86, 0x0F87, 0x135D, 0x135E, 0x135F, 0x17DD, 0x193A, 0x1A17, 0x1A75, 0x1A76,
    0x1A77, 0x1A78, 0x1A79, 0x1A7A, 0x1A7B, 0x1A7C, 0x1B6B, 0x1B6D, 0x1B6E, 0x1B6F, 0x1B70, 0x1B71,
    0x1B72, 0x1B73, 0x1CD0, 0x1CD1, 0x1CD2, 0x1CDA, 0x1CDB, 0x1CE0, 0x1DC0, 0x1DC1, 0x1DC3, 0x1DC4,
    0x1DC5, 0x1DC6, 0x1DC7, 0x1DC8, 0x1DC9, 0x1DCB, 0x1DCC, 0x1DD1, 0x1DD2, 0x1DD3, 0x1DD4, 0x1DD5,
    0x1DD6, 0x1DD7, 0x1DD8, 0x1DD9, 0x1DDA, 0x1DDB, 0x1DDC, 0x1DDD, 0x1DDE, 0x1DDF, 0x1DE0, 0x1DE1,
    0x1DE2, 0x1DE3, 0x1DE4, 0x1DE5, 0x1DE6, 0x1DFE, 0x20D0, 0x20D1, 0x20D4, 0x20D5, 0x20D6, 0x20D7,
    0x20DB, 0x20DC, 0x20E1, 0x20E7, 0x20E9, 0x20F0, 0x2CEF, 0x2CF0, 0x2CF1, 0x2DE0, 0x2DE1, 0x2DE2,
    0x2DE3, 0x2DE4, 0x2DE5, 0x2DE6, 0x2DE7, 0x2DE8, 0x2DE9, 0x2DEA, 0x2DEB, 0x2DEC, 0x2DED, 0x2DEE,
    0x2DEF, 0x2DF0, 0x2DF1, 0x2DF2, 0x2DF3, 0x2DF4, 0x2DF5, 0x2DF6, 0x2DF7, 0x2DF8, 0x2DF9, 0x2DFA,
    0x2DFB, 0x2DFC, 0x2DFD, 0x2DFE, 0x2DFF, 0xA66F, 0xA67C, 0xA67D, 0xA6F0, 0xA6F1, 0xA8E0, 0xA8E1,
    0xA8E2, 0xA8E3, 0xA8E4, 0xA8E5,
)
DIACRITICS = tuple(chr(c) for c in _DIACRITIC_CODES)
MAX_CELLS = len(DIACRITICS)
KITTY_CHUNK = 4096  # base64 bytes per escape sequence, the protocol's limit


def png_bytes(image: np.ndarray) -> bytes:
    """A grey or RGB uint8 image as a small PNG (zlib level 9; a 28x28 digit is ~250 bytes)."""
    from PIL import Image  # here: the CLI imports this module to build its parser

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()


def tmux_wrap(sequence: str) -> str:
    """A sequence for the terminal outside tmux (tmux's ``allow-passthrough``): ESCs doubled."""
    return "\x1bPtmux;" + sequence.replace("\x1b", "\x1b\x1b") + "\x1b\\"


def kitty_transmit(image_id: int, png: bytes, cols: int, rows: int, tmux: bool = False) -> str:
    """Send ``png`` as image ``image_id`` with a virtual placement of ``cols`` x ``rows`` cells,
    replacing any earlier image of that id (quiet: the terminal answers nothing)."""
    data = base64.standard_b64encode(png).decode("ascii")
    chunks = [data[i:i + KITTY_CHUNK] for i in range(0, len(data), KITTY_CHUNK)] or [""]
    parts = []
    for n, chunk in enumerate(chunks):
        more = int(n < len(chunks) - 1)
        keys = f"a=T,U=1,f=100,t=d,q=2,i={image_id},c={cols},r={rows},m={more}" if n == 0 else f"m={more}"
        part = f"\x1b_G{keys};{chunk}\x1b\\"
        parts.append(tmux_wrap(part) if tmux else part)
    return "".join(parts)


def kitty_delete(image_id: int, tmux: bool = False) -> str:
    """Free image ``image_id`` and its placements in the terminal."""
    sequence = f"\x1b_Ga=d,d=I,q=2,i={image_id}\x1b\\"
    return tmux_wrap(sequence) if tmux else sequence


def placeholder_row(row: int, cols: int) -> str:
    """One row of a kitty placement as text: every cell names its row and column, so any part of
    the row can be redrawn on its own (Textual redraws what changed, not whole rows)."""
    mark = DIACRITICS[row]
    return "".join(PLACEHOLDER + mark + DIACRITICS[c] for c in range(cols))


def iterm2_image(png: bytes, cols: int, rows: int) -> str:
    """An inline PNG sized to ``cols`` x ``rows`` cells (iTerm2's OSC 1337, also WezTerm's)."""
    data = base64.standard_b64encode(png).decode("ascii")
    return (f"\x1b]1337;File=inline=1;size={len(png)};width={cols};height={rows};"
            f"preserveAspectRatio=1;doNotMoveCursor=1:{data}\x07")


def sixel_image(image: np.ndarray, colors: int = 256) -> str:
    """``image`` (H x W grey or H x W x 3, uint8) as one sixel DCS sequence at its own size: a
    palette of its own colours (PIL's median cut, at most ``colors``), six rows a band, each colour
    of a band as run-length-coded sixels."""
    from PIL import Image

    pixels = np.asarray(image, np.uint8)
    grey = pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 1)
    rgb = np.repeat(pixels.reshape(pixels.shape[:2])[..., None], 3, axis=2) if grey else pixels[..., :3]
    h, w = rgb.shape[:2]
    picture = Image.fromarray(np.ascontiguousarray(rgb))
    exact = None if grey else picture.getcolors(maxcolors=colors)  # few colours (shapes): the palette is them
    if grey and colors >= 256:  # a grey image: its own grey levels are the palette, found in one pass
        levels = rgb[..., 0]
        present = np.bincount(levels.ravel(), minlength=256) > 0
        index = (np.cumsum(present) - 1)[levels]
        palette = np.repeat(np.flatnonzero(present).astype(np.uint8)[:, None], 3, axis=1)
    elif exact is not None:
        flat = rgb.reshape(-1, 3).astype(np.int64)
        uniq, inverse = np.unique(flat[:, 0] << 16 | flat[:, 1] << 8 | flat[:, 2], return_inverse=True)
        index = inverse.reshape(h, w)  # the image's own colours, in the order of their packed value
        palette = np.stack([uniq >> 16, uniq >> 8 & 255, uniq & 255], axis=1).astype(np.uint8)
    else:
        quantized = picture.quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        index = np.asarray(quantized, np.int64)
        palette = np.array((quantized.getpalette() or [])[: 3 * (int(index.max()) + 1)], np.uint8).reshape(-1, 3)
    out = [f'\x1bP0;1;0q"1;1;{w};{h}']
    out += [f"#{i};2;{round(r * 100 / 255)};{round(g * 100 / 255)};{round(b * 100 / 255)}"
            for i, (r, g, b) in enumerate(palette.tolist())]
    bits = 1 << np.arange(6)
    for top in range(0, h, 6):
        band = index[top:top + 6]
        colours = np.unique(band)
        where = np.searchsorted(colours, band)  # (rows, w): which of the band's colours
        # every colour of the band at once: (colours, columns) of 6-bit masks, one character a column
        masks = sum(((where[r] == np.arange(len(colours))[:, None]) * bits[r] for r in range(len(band))),
                    np.zeros((len(colours), w), np.int64)) + 63
        out.append("$".join(_run_lengths(masks, colours)) + ("-" if top + 6 < h else ""))
    return "".join(out) + "\x1b\\"


def sixel_fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` scaled to fit ``width`` x ``height`` pixels with its aspect kept (a terminal does not
    scale sixel): whole-pixel blocks where it grows (a digit stays crisp), an area mean where it shrinks."""
    from PIL import Image

    h, w = image.shape[:2]
    factor = min(width / w, height / h)
    size = (max(1, int(w * factor)), max(1, int(h * factor)))
    if size == (w, h):
        return image
    method = Image.Resampling.NEAREST if factor >= 1 else Image.Resampling.BOX
    return np.asarray(Image.fromarray(np.asarray(image)).resize(size, method))


def _run_lengths(masks: np.ndarray, colours: np.ndarray) -> list[str]:
    """Each row of sixel characters (one colour of a band) as ``#colour`` and its runs, a run of more
    than three written ``!count`` + character; the runs of every row found at once."""
    n_rows, w = masks.shape
    flat = masks.ravel()
    starts = np.union1d(np.flatnonzero(np.diff(flat)) + 1, np.arange(0, n_rows * w, w))
    lengths = np.diff(np.append(starts, n_rows * w))
    rows: list[list[str]] = [[f"#{c}"] for c in colours.tolist()]
    for start, n, ch in zip(starts.tolist(), lengths.tolist(), flat[starts].tolist(), strict=True):
        rows[start // w].append(f"!{n}{chr(ch)}" if n > 3 else chr(ch) * n)
    return ["".join(parts) for parts in rows]


# -- choosing a protocol --------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    protocol: str  # kitty, iterm2, sixel or blocks
    tmux: bool = False  # wrap sequences in tmux passthrough (kitty; sixel inside tmux is tmux's own)
    reason: str = ""  # why, for `--graphics auto` to say when it falls back
    cell: tuple[int, int] = DEFAULT_CELL  # sixel: a cell's pixels (width, height), as the terminal said

    @property
    def pixels(self) -> bool:
        return self.protocol != "blocks"


KITTY_QUERY = "\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\"  # a 1x1 image, answered, never shown
XTVERSION_QUERY = "\x1b[>0q"  # the terminal's name and version
CELL_QUERY = "\x1b[16t"  # a cell's size in pixels (xterm's XTWINOPS): CSI 6 ; height ; width t
DA1_QUERY = "\x1b[c"  # Primary Device Attributes: answered by every terminal, after the others
_DA1_REPLY = re.compile(rb"\x1b\[\?[0-9;]*c")
_KITTY_REPLY = re.compile(rb"\x1b_Gi=31;([^\x1b]*)\x1b\\")
_XTVERSION_REPLY = re.compile(rb"\x1bP>\|([^\x1b]*)\x1b\\")
_CELL_REPLY = re.compile(rb"\x1b\[6;(\d+);(\d+)t")


@dataclass(frozen=True)
class Replies:
    answered: bool  # the Primary Device Attributes reply came (so every earlier reply is in)
    kitty: bool = False  # the kitty graphics query was answered OK
    name: str = ""  # XTVERSION, e.g. "kitty(0.35.2)", "WezTerm 20240203", "iTerm2 3.5.0"
    sixel: bool = False  # attribute 4 in the device attributes
    cell: tuple[int, int] | None = None  # a cell's pixels (width, height), where the terminal says


def parse_replies(data: bytes) -> Replies:
    da1 = _DA1_REPLY.search(data)
    if da1 is None:
        return Replies(answered=False)
    kitty = _KITTY_REPLY.search(data)
    name = _XTVERSION_REPLY.search(data)
    cell = _CELL_REPLY.search(data)
    attributes = da1.group(0)[3:-1].split(b";")
    return Replies(
        answered=True,
        kitty=kitty is not None and kitty.group(1).startswith(b"OK"),
        name=name.group(1).decode("utf-8", "replace") if name else "",
        sixel=b"4" in attributes,
        cell=(int(cell.group(2)), int(cell.group(1))) if cell and int(cell.group(1)) and int(cell.group(2)) else None,
    )


def probe(fd_in: int, fd_out: int, tmux: bool, timeout: float) -> Replies:
    """Ask the terminal (through tmux when ``tmux``) and read its replies up to the device
    attributes, in raw mode, for at most ``timeout`` seconds. Keys typed meanwhile are dropped."""
    import termios
    import tty

    queries = KITTY_QUERY + XTVERSION_QUERY + CELL_QUERY + DA1_QUERY
    if tmux:
        queries = tmux_wrap(queries)
    saved = termios.tcgetattr(fd_in)
    data = b""
    try:
        tty.setraw(fd_in, termios.TCSANOW)
        os.write(fd_out, queries.encode())
        deadline = time.monotonic() + timeout
        while _DA1_REPLY.search(data) is None:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([fd_in], [], [], left)
            if ready:
                chunk = os.read(fd_in, 4096)
                if not chunk:
                    break
                data += chunk
    finally:
        termios.tcsetattr(fd_in, termios.TCSANOW, saved)
    return parse_replies(data)


def tmux_passthrough(env: dict[str, str]) -> bool:
    """Whether this tmux pane lets escape sequences through to the outer terminal."""
    pane = env.get("TMUX_PANE")
    for args in ([*(["-p", "-t", pane] if pane else [])], ["-g"]):
        try:
            out = subprocess.run(["tmux", "show-options", "-qv", *args, "allow-passthrough"],
                                 check=False, capture_output=True, text=True, timeout=2, env=env).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return False
        if out:
            return out in ("on", "all")
    return False


def tmux_sixel(env: dict[str, str]) -> tuple[int, int] | None:
    """Whether this tmux draws sixel itself (3.4 and later, built with it, for a terminal that has
    it): the client's cell size in pixels then (its default where it does not say), else None."""
    try:
        out = subprocess.run(["tmux", "display-message", "-p",
                              "#{client_termfeatures}|#{client_cell_width}|#{client_cell_height}"],
                             check=False, capture_output=True, text=True, timeout=2, env=env).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    features, _, size = out.partition("|")
    if "sixel" not in features.split(","):
        return None
    width, _, height = size.partition("|")
    return (int(width), int(height)) if width.isdigit() and height.isdigit() and int(width) and int(height) \
        else DEFAULT_CELL


def _from_name(name: str) -> str | None:
    """The protocol a terminal's XTVERSION name says it draws best (None: unknown)."""
    lowered = name.lower()
    if lowered.startswith("kitty"):  # Unicode placeholders since kitty 0.28
        version = re.search(r"(\d+)\.(\d+)", lowered)
        return "kitty" if version and (int(version[1]), int(version[2])) >= (0, 28) else None
    if lowered.startswith("ghostty"):
        return "kitty"
    if lowered.startswith(("iterm2", "wezterm")):
        return "iterm2"  # WezTerm speaks kitty's protocol but not its Unicode placeholders
    return None


def choose(requested: str, colors: str, env: dict[str, str] | None = None, fd_in: int | None = None,
           fd_out: int | None = None, timeout: float = 3.0) -> Choice:
    """The protocol for ``--graphics requested`` (auto, kitty, iterm2, blocks).

    An explicit protocol is trusted (no query) except where it cannot work; ``auto`` asks the
    terminal. Not a terminal, TERM=dumb, NO_COLOR (kitty's placeholders carry the image id as a
    colour), or tmux without ``allow-passthrough``: half blocks."""
    if requested not in GRAPHICS_CHOICES:
        raise ValueError(f"graphics must be one of {', '.join(GRAPHICS_CHOICES)}, not {requested!r}")
    env = dict(os.environ) if env is None else env
    if requested == "blocks":
        return Choice("blocks", reason="asked for")
    in_tmux = bool(env.get("TMUX"))
    # tmux 3.4 built with sixel draws it itself (no passthrough): what auto falls back to in tmux
    tmux_cell = tmux_sixel(env) if in_tmux and requested in ("auto", "sixel") and colors != "none" else None
    if in_tmux and requested == "sixel":
        return Choice("sixel", reason="tmux draws sixel", cell=tmux_cell) if tmux_cell is not None else \
            Choice("blocks", reason="this tmux does not draw sixel (3.4 or later, built with it)")
    passthrough = in_tmux and tmux_passthrough(env)
    if tmux_cell is not None and not passthrough:
        return Choice("sixel", reason="tmux draws sixel", cell=tmux_cell)
    if in_tmux and not passthrough:
        return Choice("blocks", reason="tmux does not pass images through (set -g allow-passthrough on)")
    if requested == "kitty" and colors == "none":
        return Choice("blocks", reason="kitty's placeholders need colour (NO_COLOR is set)")
    if requested == "iterm2" and in_tmux:
        return Choice("blocks", reason="iTerm2 images cannot be placed inside a tmux pane")
    if requested == "sixel":  # trusted; its cell size is asked (half a second at most)
        cell = None
        if fd_in is not None and fd_out is not None and os.isatty(fd_in) and os.isatty(fd_out):
            with contextlib.suppress(OSError):
                cell = probe(fd_in, fd_out, False, min(timeout, 0.5)).cell
        return Choice("sixel", reason="asked for", cell=cell or DEFAULT_CELL)
    if requested != "auto":
        return Choice(requested, tmux=in_tmux, reason="asked for")
    if env.get("TERM", "") in ("", "dumb") or colors == "none":
        return Choice("blocks", reason="plain terminal (TERM=dumb or NO_COLOR)")
    if fd_in is None or fd_out is None or not (os.isatty(fd_in) and os.isatty(fd_out)):
        return Choice("blocks", reason="not a terminal")
    try:
        replies = probe(fd_in, fd_out, in_tmux, timeout)
    except OSError as exc:
        return Choice("blocks", reason=f"could not ask the terminal: {exc}")
    if not replies.answered:
        return Choice("blocks", reason=f"the terminal did not answer within {timeout:g} s")
    named = _from_name(replies.name)
    if named == "kitty" and replies.kitty:
        return Choice("kitty", tmux=in_tmux, reason=replies.name)
    if named == "iterm2" and not in_tmux:
        return Choice("iterm2", reason=replies.name)
    if tmux_cell is not None:
        return Choice("sixel", reason="tmux draws sixel", cell=tmux_cell)
    if replies.sixel and not in_tmux:  # xterm -ti vt340, foot, Windows Terminal, VS Code, Konsole, ...
        return Choice("sixel", reason=replies.name or "device attributes", cell=replies.cell or DEFAULT_CELL)
    return Choice("blocks", reason=f"no supported graphics protocol ({replies.name or 'unnamed terminal'})")
