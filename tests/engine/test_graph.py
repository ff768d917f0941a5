"""The diagram staff read: per part, words on the boxes, a legend, "talk to a person" hidden on request."""
from __future__ import annotations

import os
import re
import shutil

import pytest

from bot.engine.graph import ANY, diagram, first_words, to_dot, to_mermaid

from .helpers import MINI, mini_bundle
from .test_commands import MINI_ARGS, bot

FLOW = mini_bundle().flow("mini")


def test_boxes_say_the_first_words_of_the_state_in_japanese_or_english():
    d = diagram(FLOW)
    assert d.boxes["welcome"].title == "こんにちは、。どうしましたか？"
    assert diagram(FLOW, "en").boxes["evidence"].title.startswith("Do not delete")
    assert d.boxes["law"].title == "age_band で分かれる"  # a state that only decides
    assert first_words("one two three four five six seven eight nine ten eleven", "en") == "one two three four five six seven…"
    assert first_words("あいうえおかきくけこさしすせそたちつてと", "ja") == "あいうえおかきくけこさしすせそたちつ…"


def test_moves_from_every_state_are_drawn_once_from_one_node():
    arrows = diagram(FLOW).arrows
    crisis = [a for a in arrows if a.label == "crisis"]
    assert [(a.source, a.dest, a.kind) for a in crisis] == [(ANY, "crisis", "anywhere")]
    assert [(a.source, a.dest) for a in arrows if a.label == "~evidence_question"] == [(ANY, "evidence")]


def test_a_part_is_its_states_and_where_they_lead_in_grey():
    d = diagram(FLOW, part="law")
    inside = {n for n, b in d.boxes.items() if not b.outside and n != ANY}
    assert inside == {"law_u16", "law_general"}  # "law" itself has no tag
    assert {n for n, b in d.boxes.items() if b.outside} >= {"evidence"}
    assert "welcome" not in d.boxes  # what leads in is not drawn


def test_hide_human_leaves_out_every_arrow_to_a_person():
    to_person = [a for a in diagram(FLOW).arrows if a.dest == FLOW.human_state]
    assert {a.source for a in to_person} >= {ANY, "welcome", "crisis"}
    assert not [a for a in diagram(FLOW, hide_human=True).arrows if a.dest == FLOW.human_state]


def test_dot_has_a_legend_tag_colours_and_end_states():
    dot = to_dot(FLOW)
    assert dot.startswith('digraph "mini" {') and dot.rstrip().endswith("}")
    assert "subgraph cluster_legend" in dot and "凡例" in dot and "ボタン" in dot
    assert re.search(r'"crisis" \[label=<<b>.*</b>.*fillcolor="#ffcdd2"', dot)
    assert re.search(r'"goodbye" \[.*peripheries=2', dot)
    assert "Legend" in to_dot(FLOW, "en") and "a button" in to_dot(FLOW, "en")
    assert "subgraph legend" in to_mermaid(FLOW)


def test_the_command_writes_dot_per_part_and_names_an_unknown_part():
    out = bot("graph", "--part", "law", "--hide-human", *MINI_ARGS)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith('digraph "mini:law"') and '-> "person"' not in out.stdout
    wrong = bot("graph", "--part", "lwa", *MINI_ARGS)
    assert wrong.returncode == 2 and 'did you mean "law"?' in wrong.stderr


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed (optional)")
def test_svg_and_html_are_rendered_offline_with_graphviz():
    svg = bot("graph", "--format", "svg", "--part", "crisis", *MINI_ARGS)
    assert svg.returncode == 0, svg.stderr
    assert "<svg" in svg.stdout and "</svg>" in svg.stdout
    page = bot("graph", "--format", "html", "--lang", "en", *MINI_ARGS)
    assert page.stdout.startswith("<!doctype html>") and "<svg" in page.stdout
    urls = set(re.findall(r"https?://[^\s\"'<>]+", page.stdout))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, urls  # namespaces, nothing fetched


def test_without_graphviz_svg_says_what_to_install_and_dot_still_works(tmp_path):
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not os.path.exists(os.path.join(p, "dot")))
    out = bot("graph", "--format", "svg", *MINI_ARGS, PATH=path)
    assert out.returncode == 2 and "apt-get install graphviz" in out.stderr and "--format dot" in out.stderr
    assert bot("graph", *MINI_ARGS, PATH=path).stdout.startswith("digraph")
    assert MINI.exists()
