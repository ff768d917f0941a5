"""A version of the content as its files: the flow, the resources and the locale files, as text.

What the database keeps for each version (``bot.flowversions``) and what ``flows export`` writes
back: the bytes of each file are kept as they are (comments, layout, line ends), so exporting
the first version gives files equal to the repository's. ``load_files`` checks a version with the
same loader as ``bot check`` by writing it to a temporary folder: one checker for files on disk
and versions in the database.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .classifier import MODEL_FILE
from .loader import RESOURCES_FILE, Bundle, load_bundle


class FlowFilesError(ValueError):
    """The folders do not hold one version's files (message in English and Japanese)."""

    def __init__(self, en: str, ja: str):
        super().__init__(en)
        self.en, self.ja = en, ja

    def text(self, lang: str = "en") -> str:
        return self.ja if lang == "ja" else self.en


@dataclass(frozen=True)
class FlowFiles:
    flow_file: str                 # its name in flows/, e.g. first_contact.yaml
    flow: str
    resources: str                 # "" when there is no flows/resources.yaml
    locales: dict[str, str] = field(default_factory=dict)  # locales/<name> -> text

    @classmethod
    def read(cls, flows_dir: Path | str, locales_dir: Path | str) -> "FlowFiles":
        """The files of ``flows_dir`` (one flow and resources.yaml) and ``locales_dir`` (*.yaml).
        Raises ``FlowFilesError`` when there is not exactly one flow file, or a file is not UTF-8."""
        flows_dir, locales_dir = Path(flows_dir), Path(locales_dir)
        for folder in (flows_dir, locales_dir):
            if not folder.is_dir():
                raise FlowFilesError(f"{folder}: no such folder", f"{folder}：フォルダがありません")
        flow_paths = [p for p in sorted(flows_dir.glob("*.yaml")) if p.name != RESOURCES_FILE]
        if len(flow_paths) != 1:
            names = ", ".join(p.name for p in flow_paths) or "-"
            raise FlowFilesError(f"{flows_dir}: a version holds exactly one flow file besides {RESOURCES_FILE} "
                                 f"(found: {names})",
                                 f"{flows_dir}：版には {RESOURCES_FILE} のほかにフローのファイルがちょうど一つ必要です"
                                 f"（あったもの：{names}）")
        resources = flows_dir / RESOURCES_FILE
        return cls(flow_file=flow_paths[0].name, flow=_text(flow_paths[0]),
                   resources=_text(resources) if resources.exists() else "",
                   locales={p.name: _text(p) for p in sorted(locales_dir.glob("*.yaml"))})

    def write(self, flows_dir: Path | str, locales_dir: Path | str) -> list[Path]:
        """Write the files (byte for byte as they were read); returns their paths."""
        flows_dir, locales_dir = Path(flows_dir), Path(locales_dir)
        written = []
        for path, content in self.paths(flows_dir, locales_dir).items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content.encode("utf-8"))
            written.append(path)
        return written

    def paths(self, flows_dir: Path, locales_dir: Path) -> dict[Path, str]:
        out = {flows_dir / self.flow_file: self.flow}
        if self.resources:
            out[flows_dir / RESOURCES_FILE] = self.resources
        out.update({locales_dir / name: text for name, text in sorted(self.locales.items())})
        return out

    def named(self) -> dict[str, str]:
        """Every file by the name staff see: ``flows/first_contact.yaml``, ``locales/ja.yaml``..."""
        return {f"{p.parent.name}/{p.name}": text for p, text in self.paths(Path("flows"), Path("locales")).items()}


def _text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FlowFilesError(f"{path}: not UTF-8 text ({exc.reason}); save it as UTF-8",
                             f"{path}：UTF-8 の文字ではありません（{exc.reason}）。UTF-8 で保存し直してください") from exc


def load_files(files: FlowFiles, today: dt.date | None = None, model: Path | None = None) -> Bundle:
    """Check and compile a version with ``load_bundle``, the one loader. ``model``: the
    understanding model (flows/understanding_model.json) to load with it; it is not part of a
    version (staff do not edit it), so it comes from the deployment's flows folder."""
    with tempfile.TemporaryDirectory(prefix="flows-") as tmp:
        flows_dir, locales_dir = Path(tmp) / "flows", Path(tmp) / "locales"
        flows_dir.mkdir()
        locales_dir.mkdir()
        files.write(flows_dir, locales_dir)
        if model is not None and model.exists():
            try:
                os.symlink(model.resolve(), flows_dir / MODEL_FILE)
            except OSError:  # no symlinks here: a copy does the same
                shutil.copyfile(model, flows_dir / MODEL_FILE)
        return load_bundle(flows_dir, locales_dir, today)
