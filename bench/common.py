"""What the benchmarks share: the mini fixture flow, with the LINE channel's texts."""
from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MINI = ROOT / "tests" / "engine" / "fixtures" / "mini"  # a data folder, read as files


def mini_locales_with_line(folder: Path) -> Path:
    """The mini flow's locales plus the LINE channel's texts (locales/*.line.yaml), in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in list((MINI / "locales").glob("*.yaml")) + list((ROOT / "locales").glob("*.line.yaml")):
        shutil.copy(path, folder / path.name)
    return folder
