"""The console's texts: the same keys in ja and en, no phone numbers, and they load with a flow."""
import re
from pathlib import Path

import yaml

from tests.handoff.support import bundle_with_console

LOCALES = Path(__file__).resolve().parents[2] / "locales"


def _keys(data, prefix=""):
    for k, v in data.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict):
            yield from _keys(v, key)
        else:
            yield key, str(v)


def test_same_keys_in_both_locales():
    ja = dict(_keys(yaml.safe_load((LOCALES / "ja.console.yaml").read_text())["texts"]))
    en = dict(_keys(yaml.safe_load((LOCALES / "en.console.yaml").read_text())["texts"]))
    assert set(ja) == set(en)
    assert all(k.startswith(("console.", "canned.")) for k in ja)
    for text in list(ja.values()) + list(en.values()):
        assert not re.search(r"\d{3,}-\d", text), "numbers belong in flows/resources.yaml"


def test_console_texts_merge_into_a_flow(tmp_path):
    bundle = bundle_with_console(tmp_path)
    assert not bundle.errors
    flow = bundle.flow()
    assert flow.text("en", "console.person.out_of_hours", {"when": "tomorrow at 10:00"}).endswith("back tomorrow at 10:00.")
