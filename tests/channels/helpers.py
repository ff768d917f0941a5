"""The mini fixture flow with the LINE channel's texts, for the LINE tests."""
from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MINI = REPO / "tests" / "engine" / "fixtures" / "mini"


def mini_locales_with_line(folder: Path) -> Path:
    """The mini flow's locales plus the LINE channel's texts (locales/*.line.yaml), in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in list((MINI / "locales").glob("*.yaml")) + list((REPO / "locales").glob("*.line.yaml")):
        shutil.copy(path, folder / path.name)
    return folder
