"""The flow diagram as SVG, laid out here: no Graphviz, no JavaScript library, no network.

``layout`` puts ``graph.diagram``'s boxes in layers (rows) from the top: "from any state" first,
then the part's entry states, then each state below the one that first leads to it (breadth
first, so a loop back up does not push boxes down). A layer wider than ``MAX_PER_ROW`` boxes
wraps into several rows; within a row, boxes sit near the boxes that lead to them (barycentre).
Every box has the same size and its own cell, so no two overlap. ``to_svg`` draws the boxes
(the first words of what the bot says, the state's id below), arrows by kind (a button, words
typed, an automatic move, from any state) with their labels, and a legend.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field

from .graph import ANY, OUTSIDE_COLOUR, RESUME, TAG_COLOURS, WORDS, Arrow, Box, Diagram

BOX_W, BOX_H = 200, 58
GAP_X, GAP_Y = 44, 70
MARGIN = 24
MAX_PER_ROW = 6
LINE_CHARS = {"ja": 12, "en": 27}
KIND_STYLE = {  # stroke colour, dash pattern, width
    "button": ("#37474f", "", 1.4),
    "typed": ("#1565c0", "6 4", 1.4),
    "auto": ("#555555", "", 2.6),
    "anywhere": ("#c62828", "2 4", 1.4),
}
LEGEND_KINDS = ("button", "typed", "auto", "anywhere")


@dataclass
class Layout:
    boxes: dict[str, tuple[int, int]] = field(default_factory=dict)   # id -> (x, y) of the top-left corner
    rows: list[list[str]] = field(default_factory=list)
    width: int = 0
    height: int = 0

    def rect(self, box_id: str) -> tuple[int, int, int, int]:
        x, y = self.boxes[box_id]
        return x, y, BOX_W, BOX_H


def _layers(d: Diagram) -> dict[str, int]:
    names = [n for n in d.boxes if n != ANY]
    succ: dict[str, list[str]] = {n: [] for n in d.boxes}
    incoming: dict[str, int] = {n: 0 for n in d.boxes}
    for a in d.arrows:
        if a.source in succ and a.dest in d.boxes and a.dest != a.source:
            succ[a.source].append(a.dest)
            if a.source != ANY:
                incoming[a.dest] += 1
    layer: dict[str, int] = {}
    first = 1 if ANY in d.boxes else 0
    if ANY in d.boxes:
        layer[ANY] = 0
    inside = [n for n in names if not d.boxes[n].outside]
    pending = [n for n in inside if incoming[n] == 0] or inside[:1] or names[:1]
    while True:
        queue = [n for n in pending if n not in layer]
        for n in queue:
            layer[n] = first
        while queue:
            nxt = []
            for n in queue:
                for m in succ[n]:
                    if m not in layer:
                        layer[m] = layer[n] + 1
                        nxt.append(m)
            queue = nxt
        rest = [n for n in inside if n not in layer] or [n for n in names if n not in layer]
        if not rest:
            break
        # A loop nothing outside leads into: start it below the last layer drawn.
        first = max(layer.values(), default=0) + 1
        pending = rest[:1]
    return layer


def layout(d: Diagram) -> Layout:
    layer = _layers(d)
    preds: dict[str, list[str]] = {n: [] for n in d.boxes}
    for a in d.arrows:
        if a.dest in preds and a.source in d.boxes and a.source != a.dest:
            preds[a.dest].append(a.source)
    out = Layout()
    order = list(d.boxes)
    x_of: dict[str, float] = {}
    y = MARGIN
    for depth in sorted(set(layer.values())):
        members = [n for n in order if layer.get(n) == depth]

        def centre(n: str) -> float:
            xs = [x_of[p] for p in preds[n] if p in x_of and p != ANY]
            return sum(xs) / len(xs) if xs else float(order.index(n)) * (BOX_W + GAP_X)

        members.sort(key=lambda n: (centre(n), order.index(n)))
        for start in range(0, len(members), MAX_PER_ROW):
            row = members[start:start + MAX_PER_ROW]
            out.rows.append(row)
            for i, n in enumerate(row):
                x = MARGIN + i * (BOX_W + GAP_X)
                out.boxes[n] = (x, y)
                x_of[n] = x
            y += BOX_H + GAP_Y
    widest = max((len(r) for r in out.rows), default=1)
    # Centre each row under the widest one.
    for row in out.rows:
        shift = (widest - len(row)) * (BOX_W + GAP_X) // 2
        for n in row:
            x, yy = out.boxes[n]
            out.boxes[n] = (x + shift, yy)
    out.width = MARGIN * 2 + widest * (BOX_W + GAP_X) - GAP_X + 120   # room for the loops drawn at the right
    out.height = y - GAP_Y + MARGIN
    return out


def _lines(text: str, lang: str, count: int = 2) -> list[str]:
    per = LINE_CHARS.get(lang, LINE_CHARS["en"])
    words = text.split(" ") if lang != "ja" else None
    lines: list[str] = []
    if words:
        current = ""
        for w in words:
            if len(current) + len(w) + (1 if current else 0) > per and current:
                lines.append(current)
                current = w
            else:
                current = f"{current} {w}" if current else w
        lines.append(current)
    else:
        lines = [text[i:i + per] for i in range(0, len(text), per)] or [""]
    if len(lines) > count:
        lines = lines[:count]
        lines[-1] = lines[-1][: per - 1] + "…"
    return lines


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _arrow_path(lay: Layout, a: Arrow) -> tuple[str, float, float]:
    """The path of an arrow and where its label goes."""
    sx, sy = lay.boxes[a.source]
    dx, dy = lay.boxes[a.dest]
    if a.source == a.dest:   # a state that leads to itself: a small loop at its right
        x, y = sx + BOX_W, sy + BOX_H / 2
        return f"M{x},{y - 10} C{x + 46},{y - 34} {x + 46},{y + 34} {x},{y + 10}", x + 40, y
    if dy > sy:   # down: bottom of the source to the top of the destination
        x1, y1, x2, y2 = sx + BOX_W / 2, sy + BOX_H, dx + BOX_W / 2, dy
        bend = max(30.0, (y2 - y1) / 2)
        return (f"M{x1},{y1} C{x1},{y1 + bend} {x2},{y2 - bend} {x2},{y2}",
                (x1 + x2) / 2, y1 + (y2 - y1) * 0.45)
    if dy == sy:  # the same row: under the boxes, through the gap below the row
        x1, x2, y1 = sx + BOX_W / 2 + 12, dx + BOX_W / 2 - 12, sy + BOX_H
        low = y1 + GAP_Y * 0.55
        return f"M{x1},{y1} C{x1},{low} {x2},{low} {x2},{y1}", (x1 + x2) / 2, low - 8
    # up: leave and arrive on the right side, bowing out to the right
    x1, y1, x2, y2 = sx + BOX_W, sy + BOX_H / 2 + 8, dx + BOX_W, dy + BOX_H / 2 - 8
    out = max(x1, x2) + 40 + abs(y1 - y2) * 0.08
    return f"M{x1},{y1} C{out},{y1} {out},{y2} {x2},{y2}", out - 6, (y1 + y2) / 2


def to_svg(d: Diagram, lay: Layout | None = None, link: str | None = None) -> str:
    """The diagram as one SVG document. ``link``: a URL with ``{state}`` that a box opens (the
    preview from that state)."""
    lay = lay or layout(d)
    words = WORDS["ja" if d.lang == "ja" else "en"]
    legend_h = 34 + 22 * 2
    width = max(lay.width, 760)
    height = lay.height + legend_h + 20
    top = legend_h + 10
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="flow-diagram" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{_esc(words["legend"])}" '
           'font-family="Noto Sans CJK JP, Hiragino Sans, Meiryo, sans-serif">',
           "<defs>"]
    for kind, (colour, _dash, _w) in KIND_STYLE.items():
        out.append(f'<marker id="head-{kind}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
                   f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>')
    out.append("</defs>")
    out += _legend(d, words, width)
    out.append(f'<g transform="translate(0,{top})">')
    # Arrows first, boxes over them.
    for a in d.arrows:
        if a.source not in lay.boxes or a.dest not in lay.boxes:
            continue
        colour, dash, w = KIND_STYLE[a.kind]
        path, lx, ly = _arrow_path(lay, a)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        label = a.label if len(a.label) <= 24 else a.label[:23] + "…"
        out.append(f'<g class="arrow arrow-{a.kind}" data-from="{_esc(a.source)}" data-to="{_esc(a.dest)}">'
                   f'<title>{_esc(a.label or words[a.kind])}</title>'
                   f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="{w}"{dash_attr} '
                   f'marker-end="url(#head-{a.kind})"/>'
                   + (f'<text x="{lx:.0f}" y="{ly:.0f}" font-size="10" text-anchor="middle" fill="{colour}" '
                      f'stroke="#fff" stroke-width="3" paint-order="stroke">{_esc(label)}</text>' if label else "")
                   + "</g>")
    for box_id, box in d.boxes.items():
        out.append(_box(box, lay, d.lang, link))
    out.append("</g></svg>")
    return "\n".join(out) + "\n"


def _box(box: Box, lay: Layout, lang: str, link: str | None) -> str:
    x, y, w, h = lay.rect(box.id)
    colour = box.colour if box.id != ANY else "#ffebee"
    stroke = "#9e9e9e" if box.outside else "#455a64"
    text_colour = "#616161" if box.outside else "#1b1b1b"
    radius = h / 2 if box.id == ANY else 8
    parts = [f'<g class="box{" outside" if box.outside else ""}{" end" if box.end else ""}" data-state="{_esc(box.id)}">',
             f"<title>{_esc(box.id)}: {_esc(box.title)}</title>",
             f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="{radius}" fill="{colour}" stroke="{stroke}" stroke-width="1.2"/>']
    if box.end:
        parts.append(f'<rect x="{x + 3}" y="{y + 3}" width="{w - 6}" height="{h - 6}" rx="{max(radius - 3, 2)}" '
                     f'fill="none" stroke="{stroke}" stroke-width="0.8"/>')
    lines = _lines(box.title, lang)
    small = "" if box.id in (ANY, RESUME) else box.id
    base = y + (20 if small else (h / 2 - (len(lines) - 1) * 8 + 5))
    for i, line in enumerate(lines):
        parts.append(f'<text x="{x + w / 2}" y="{base + i * 16}" font-size="12.5" font-weight="600" text-anchor="middle" '
                     f'fill="{text_colour}">{_esc(line)}</text>')
    if small:
        parts.append(f'<text x="{x + w / 2}" y="{y + h - 6}" font-size="9.5" text-anchor="middle" fill="#616161">'
                     f"{_esc(small)}</text>")
    parts.append("</g>")
    inner = "".join(parts)
    if link and box.id not in (ANY, RESUME):
        return f'<a href="{_esc(link.replace("{state}", box.id))}">{inner}</a>'
    return inner


def _legend(d: Diagram, words: dict[str, str], width: int) -> list[str]:
    out = [f'<g class="legend" transform="translate({MARGIN},8)">',
           f'<text x="0" y="14" font-size="13" font-weight="700">{_esc(words["legend"])}</text>']
    x = 70
    for kind in LEGEND_KINDS:
        colour, dash, w = KIND_STYLE[kind]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<g class="legend-arrow" data-kind="{kind}"><path d="M{x},10 L{x + 36},10" stroke="{colour}" '
                   f'stroke-width="{w}"{dash_attr} marker-end="url(#head-{kind})"/>'
                   f'<text x="{x + 42}" y="14" font-size="11">{_esc(words[kind])}</text></g>')
        x += 48 + 7 * len(words[kind]) + (6 * len(words[kind]) if d.lang == "ja" else 0)
    x = 0
    y = 32
    swatches = [(t, TAG_COLOURS[t]) for t in d.tags()] + [(words["outside"], OUTSIDE_COLOUR)]
    for label, colour in swatches:
        out.append(f'<g class="legend-tag"><rect x="{x}" y="{y}" width="14" height="14" rx="3" fill="{colour}" '
                   f'stroke="#455a64" stroke-width="0.8"/><text x="{x + 18}" y="{y + 12}" font-size="11">{_esc(label)}</text></g>')
        x += 30 + 7 * len(label) + (6 * len(label) if d.lang == "ja" else 0)
        if x > width - 160:
            x, y = 0, y + 22
    out.append(f'<g class="legend-end"><rect x="{x}" y="{y}" width="22" height="14" rx="3" fill="#fff" stroke="#455a64"/>'
               f'<rect x="{x + 2}" y="{y + 2}" width="18" height="10" rx="2" fill="none" stroke="#455a64" stroke-width="0.6"/>'
               f'<text x="{x + 28}" y="{y + 12}" font-size="11">{_esc(words["end"])}</text></g>')
    out.append("</g>")
    return out
