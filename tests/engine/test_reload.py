from __future__ import annotations

import logging

import pytest

from bot.engine import FlowError
from bot.reload import BundleHolder

from .helpers import copy_mini


def test_a_good_edit_is_picked_up(tmp_path):
    flows, locales = copy_mini(tmp_path)
    holder = BundleHolder(flows, locales, "mini")
    old = holder.version
    ja = locales / "ja.yaml"
    ja.write_text(ja.read_text(encoding="utf-8").replace("あなたは悪くありません。", "あなたは何も悪くありません。"), encoding="utf-8")
    assert holder.changed_on_disk()
    assert holder.reload() is True
    assert holder.version != old
    assert holder.flow.text("ja", "reassure.not_your_fault") == "あなたは何も悪くありません。"


def test_a_broken_edit_keeps_the_last_good_version_and_logs_why(tmp_path, caplog):
    flows, locales = copy_mini(tmp_path)
    holder = BundleHolder(flows, locales, "mini")
    good = holder.version
    (flows / "mini.yaml").write_text((flows / "mini.yaml").read_text().replace("target: evidence}", "target: evidense}"))
    with caplog.at_level(logging.ERROR):
        assert holder.reload() is False
    assert holder.version == good
    assert holder.flow.states["welcome"]
    codes = [getattr(r, "code", None) for r in caplog.records]
    assert "F102" in codes
    # Why, as data for /readyz details and the console, in both languages.
    [why] = holder.last_rejection  # the three moves to "evidense" and the state "evidence": one slip
    assert why["code"] == "F102" and why["file"] == "flows/mini.yaml" and why["severity"] == "error"
    assert why["state"] == "evidence" and why["line"] == 42
    assert "evidense" in why["message_en"] and "evidense" in why["message_ja"] and "evidence" in why["message_en"]
    (flows / "mini.yaml").write_text("states: [broken")
    assert holder.reload() is False and holder.version == good
    assert [r["code"] for r in holder.last_rejection] == ["F100"]


def test_a_good_edit_after_a_refused_one_clears_the_explanation(tmp_path):
    flows, locales = copy_mini(tmp_path)
    holder = BundleHolder(flows, locales, "mini")
    assert holder.last_rejection == []
    original = (flows / "mini.yaml").read_text()
    (flows / "mini.yaml").write_text(original.replace("target: evidence}", "target: evidense}"))
    assert holder.reload() is False and holder.last_rejection
    (flows / "mini.yaml").write_text(original.replace("expiry_hours: 24", "expiry_hours: 12"))
    assert holder.reload() is True
    assert holder.last_rejection == []


def test_starting_with_broken_flows_fails_loudly(tmp_path):
    flows, locales = copy_mini(tmp_path)
    (flows / "mini.yaml").write_text("flow: mini\n")
    with pytest.raises(FlowError) as err:
        BundleHolder(flows, locales, "mini")
    assert "mini.yaml" in str(err.value)


async def test_watch_reloads_on_sighup(tmp_path):
    import asyncio
    import os
    import signal

    flows, locales = copy_mini(tmp_path)
    holder = BundleHolder(flows, locales, "mini")
    task = asyncio.create_task(holder.watch(interval=30))
    await asyncio.sleep(0.05)
    ja = locales / "ja.yaml"
    ja.write_text(ja.read_text(encoding="utf-8").replace("またいつでも。", "またね。"), encoding="utf-8")
    os.kill(os.getpid(), signal.SIGHUP)
    for _ in range(100):
        await asyncio.sleep(0.02)
        if holder.reloads:
            break
    task.cancel()
    assert holder.flow.text("ja", "goodbye.bye") == "またね。"
