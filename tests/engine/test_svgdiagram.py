"""The diagram as SVG laid out on the server (no Graphviz, no script library): every box drawn,
no two overlapping, arrows by kind, a legend, and the largest part of the real flow readable."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from functools import lru_cache
from itertools import combinations
from pathlib import Path

import pytest

from bot.engine import load_bundle
from bot.engine.graph import ANY, diagram
from bot.engine.svgdiagram import BOX_H, BOX_W, MAX_PER_ROW, layout, to_svg

from .helpers import TODAY, mini_bundle

ROOT = Path(__file__).resolve().parents[2]
SVG = "{http://www.w3.org/2000/svg}"


@lru_cache(maxsize=1)
def real_flow():
    bundle = load_bundle(ROOT / "flows", ROOT / "locales", TODAY)
    assert not bundle.errors
    return bundle.flow()


def overlaps(a, b) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def parts():
    flow = real_flow()
    return [None] + diagram(flow).tags()


@pytest.mark.parametrize("part", parts())
@pytest.mark.parametrize("hide_human", [True, False])
def test_every_box_has_its_own_place_and_none_overlap(part, hide_human):
    d = diagram(real_flow(), "ja", part, hide_human)
    lay = layout(d)
    assert set(lay.boxes) == set(d.boxes)
    rects = [lay.rect(n) for n in d.boxes]
    assert not [(a, b) for a, b in combinations(rects, 2) if overlaps(a, b)]
    assert all(len(row) <= MAX_PER_ROW for row in lay.rows)
    assert all(x + BOX_W <= lay.width and y + BOX_H <= lay.height for x, y, _, _ in rects)
    if ANY in d.boxes:  # "from any state" on top
        assert lay.boxes[ANY][1] == min(y for _, y in lay.boxes.values())


def test_the_svg_draws_every_box_and_arrow_with_words_and_a_legend():
    d = diagram(real_flow(), "ja", "triage", hide_human=True)
    svg = to_svg(d, link="/console/editor/preview?state={state}")
    root = ET.fromstring(svg)   # well-formed XML
    boxes = [g for g in root.iter(SVG + "g") if "box" in (g.get("class") or "").split()]
    assert {g.get("data-state") for g in boxes} == set(d.boxes)
    arrows = [g for g in root.iter(SVG + "g") if (g.get("class") or "").startswith("arrow ")]
    assert len(arrows) == len(d.arrows)
    texts = " ".join(t.text or "" for t in root.iter(SVG + "text"))
    first = d.boxes["sit_threat"].title[:6]
    assert first in texts                                          # boxes say what the bot says
    legend = next(g for g in root.iter(SVG + "g") if g.get("class") == "legend")
    kinds = {g.get("data-kind") for g in legend.iter(SVG + "g") if g.get("class") == "legend-arrow"}
    assert kinds == {"button", "typed", "auto", "anywhere"}
    assert "凡例" in texts and "triage" in texts
    assert 'href="/console/editor/preview?state=sit_threat"' in svg
    assert "<script" not in svg and "http://" not in svg.replace("http://www.w3.org/2000/svg", "")


def test_the_talk_to_a_person_arrows_are_left_out_when_hidden():
    flow = real_flow()
    shown = to_svg(diagram(flow, "ja", "triage", hide_human=False))
    hidden = to_svg(diagram(flow, "ja", "triage", hide_human=True))
    to_human = f'data-to="{flow.human_state}"'
    assert to_human in shown and to_human not in hidden


def test_the_largest_part_is_readable_on_a_screen():
    flow = real_flow()
    sizes = {tag: layout(diagram(flow, "ja", tag, True)) for tag in diagram(flow).tags()}
    largest = max(sizes, key=lambda t: len(sizes[t].boxes))
    lay = sizes[largest]
    assert len(lay.boxes) >= 25
    assert lay.width <= 1700       # the graph of the whole flow was 15,000 pixels wide
    font = [float(x) for x in re.findall(r'font-size="([\d.]+)"', to_svg(diagram(flow, "ja", largest, True)))]
    assert min(font) >= 9.5


def test_the_mini_flow_in_english():
    d = diagram(mini_bundle().flow("mini"), "en")
    svg = to_svg(d)
    assert "Legend" in svg and "Do not delete" in svg
    ET.fromstring(svg)
