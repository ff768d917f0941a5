"""``python -m bot eval``: does the bot understand what young people type?

The evaluation set is a TSV file (tests/data/understanding.tsv) with a header line::

    split	locale	where	message	expected

- ``split``: ``dev`` (matching rules may be tuned on it) or ``test`` (held back: never tuned on).
  A file without the column is split by a hash of each message, one in five ``test``.
- ``locale``: ``ja`` or ``en``; ``where``: ``start`` (a first message) or the state the person is in.
- ``expected``: a tag (``crisis``, ``evidence``, ...), a state name, an intent name, or
  ``variable=value`` (``age_band=u16``); alternatives separated by ``|``. ``none`` means only "not
  a crisis". Lines starting with ``#`` are comments.

Each message is run through the same ``step`` the bot runs. Reported per split: crisis recall
(messages labelled crisis or emergency that reach a state tagged ``crisis``), emergency recall
(reach a state tagged ``emergency``), false crisis (other messages that reach a crisis state),
overall routing, per-label precision and recall, the most frequent confusions and the worst
misses. The command fails below the targets in ``TARGETS`` on any split.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bot.engine import Flow, Session, Turn, UserInput, step

DEFAULT_SET = Path(__file__).resolve().parent.parent / "tests" / "data" / "understanding.tsv"
NIGHT = dt.datetime(2026, 1, 15, 2, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
CRISIS_LABELS = frozenset({"crisis", "emergency"})
TARGETS = {"crisis_recall": 100.0, "emergency_recall": 100.0, "false_crisis_max": 1.0, "routing": 95.0}


@dataclass(frozen=True)
class Row:
    line: int
    split: str
    locale: str
    where: str
    message: str
    expected: tuple[str, ...]

    @property
    def is_crisis(self) -> bool:
        return all(label in CRISIS_LABELS for label in self.expected)

    @property
    def is_emergency(self) -> bool:
        return self.expected == ("emergency",)

    @property
    def is_ordinary(self) -> bool:
        return not any(label in CRISIS_LABELS for label in self.expected)


class SetError(ValueError):
    """The evaluation file cannot be read: says which line and why."""


def load_set(path: Path) -> list[Row]:
    rows: list[Row] = []
    with path.open(encoding="utf-8", newline="") as fh:
        lines = [(n, line.rstrip("\r\n")) for n, line in enumerate(fh, start=1)]
    content = [(n, line) for n, line in lines if line.strip() and not line.startswith("#")]
    if not content:
        raise SetError(f"{path}: no rows")
    header = [h.strip().lower() for h in content[0][1].split("\t")]
    missing = {"locale", "where", "message", "expected"} - set(header)
    if missing:
        raise SetError(f"{path}:{content[0][0]}: the header must name the columns split, locale, where, "
                       f"message, expected (missing: {', '.join(sorted(missing))})")
    for n, line in content[1:]:
        cells = next(csv.reader([line], delimiter="\t", quoting=csv.QUOTE_NONE))
        if len(cells) != len(header):
            raise SetError(f"{path}:{n}: {len(cells)} columns, the header has {len(header)}")
        row = dict(zip(header, cells))
        message = row["message"]
        split = (row.get("split") or "").strip() or _hash_split(message)
        if split not in ("dev", "test"):
            raise SetError(f"{path}:{n}: split must be dev or test, not {split!r}")
        expected = tuple(e.strip() for e in row["expected"].split("|") if e.strip())
        if not expected:
            raise SetError(f"{path}:{n}: no expected label")
        rows.append(Row(n, split, row["locale"].strip(), row["where"].strip() or "start", message, expected))
    return rows


def _hash_split(message: str) -> str:
    return "test" if hashlib.sha256(message.encode()).digest()[0] % 5 == 0 else "dev"


@dataclass
class Result:
    row: Row
    turn: Turn
    passed: bool
    crisis: bool
    emergency: bool
    predicted: str


def run_row(flow: Flow, row: Row) -> Result:
    locale = row.locale if row.locale in flow.locales else flow.default_locale
    session = None
    ts = NIGHT.timestamp()
    if row.where != "start":
        if row.where not in flow.states:
            raise SetError(f"line {row.line}: where {row.where!r} is not a state of flow {flow.name}")
        session = Session(row.where, locale, flow.version, {}, (row.where,), ts - 600, ts - 30)
    turn = step(flow, session, UserInput.typed(row.message, locale_hint=locale), NIGHT)
    tags = set(turn.entered_tags) | set(turn.tags)
    crisis = "crisis" in tags
    emergency = "emergency" in tags
    passed = any(_label_holds(flow, label, turn, tags, crisis) for label in row.expected)
    return Result(row, turn, passed, crisis, emergency, _predicted(flow, turn, tags))


def _label_holds(flow: Flow, label: str, turn: Turn, tags: set[str], crisis: bool) -> bool:
    if label == "none":
        return not crisis
    if "=" in label:
        var, _, value = label.partition("=")
        return turn.session.variables.get(var.strip()) == value.strip()
    if label in tags:
        return True
    if label in flow.states and (turn.session.state == label or label in turn.entered):
        return True
    return turn.matched in (f"intent:{label}", f"interrupt:{label}")


def _predicted(flow: Flow, turn: Turn, tags: set[str]) -> str:
    """A short name for where a message went, for the confusion table."""
    if "emergency" in tags:
        return "emergency"
    if "crisis" in tags:
        return "crisis"
    return f"{turn.session.state} ({turn.matched})"


@dataclass
class Report:
    split: str
    results: list[Result] = field(default_factory=list)

    def _share(self, rows: list[Result], ok) -> float:
        return 100.0 * sum(1 for r in rows if ok(r)) / len(rows) if rows else 100.0

    @property
    def crisis_rows(self) -> list[Result]:
        return [r for r in self.results if r.row.is_crisis]

    @property
    def emergency_rows(self) -> list[Result]:
        return [r for r in self.results if r.row.is_emergency]

    @property
    def ordinary_rows(self) -> list[Result]:
        return [r for r in self.results if r.row.is_ordinary]

    def figures(self) -> dict[str, float]:
        return {
            "rows": len(self.results),
            "crisis_recall": self._share(self.crisis_rows, lambda r: r.crisis),
            "emergency_recall": self._share(self.emergency_rows, lambda r: r.emergency),
            "false_crisis": self._share(self.ordinary_rows, lambda r: r.crisis),
            "routing": self._share(self.results, lambda r: r.passed),
        }

    def failures_of_targets(self, targets: dict[str, float] = TARGETS) -> list[str]:
        """What falls short of ``targets`` (the issue's by default, or a recorded floor)."""
        f = self.figures()
        out = []
        if f["crisis_recall"] < targets["crisis_recall"]:
            out.append(f"crisis recall {f['crisis_recall']:.1f}% < {targets['crisis_recall']:g}%")
        if f["emergency_recall"] < targets["emergency_recall"]:
            out.append(f"emergency recall {f['emergency_recall']:.1f}% < {targets['emergency_recall']:g}%")
        if f["false_crisis"] > targets["false_crisis_max"]:
            out.append(f"false crisis {f['false_crisis']:.2f}% > {targets['false_crisis_max']:g}%")
        if f["routing"] < targets["routing"]:
            out.append(f"routing {f['routing']:.1f}% < {targets['routing']:g}%")
        return out

    def floor(self) -> dict[str, float]:
        """Today's figures as a floor no later change may fall below (rounded against us)."""
        f = self.figures()
        return {"crisis_recall": math.floor(f["crisis_recall"] * 10) / 10,
                "emergency_recall": math.floor(f["emergency_recall"] * 10) / 10,
                "false_crisis_max": math.ceil(f["false_crisis"] * 100) / 100,
                "routing": math.floor(f["routing"] * 10) / 10}

    def per_label(self) -> list[tuple[str, int, float, float]]:
        """(label, rows, precision, recall) for every single-label expectation."""
        labels = Counter(r.row.expected[0] for r in self.results if len(r.row.expected) == 1)
        out = []
        for label, count in sorted(labels.items(), key=lambda kv: (-kv[1], kv[0])):
            mine = [r for r in self.results if r.row.expected == (label,)]
            recall = self._share(mine, lambda r: r.passed)
            # Of the messages the bot sent to this label, the share it answered right: a threat
            # that passes through a state also tagged `reassure`, or an emergency that is also a
            # crisis, is not a wrong claim of `reassure` or `crisis`.
            claimed = [r for r in self.results if _claims(r, label)]
            precision = self._share(claimed, lambda r: label in r.row.expected or r.passed)
            out.append((label, count, precision, recall))
        return out

    def confusions(self, top: int = 12) -> list[tuple[str, str, int]]:
        pairs = Counter(("|".join(r.row.expected), r.predicted) for r in self.results if not r.passed)
        return [(e, p, n) for (e, p), n in pairs.most_common(top)]

    def worst(self, top: int = 25) -> list[Result]:
        """Missed crises first, then false crises, then other misroutes."""
        missed = [r for r in self.crisis_rows if not r.crisis]
        missed += [r for r in self.emergency_rows if r.crisis and not r.emergency]
        false = [r for r in self.ordinary_rows if r.crisis]
        other = [r for r in self.results if not r.passed and r not in missed and r not in false]
        return (missed + false + other)[:top]


def _claims(result: Result, label: str) -> bool:
    """Did the bot send this message to ``label``? (for precision)"""
    if label in CRISIS_LABELS:
        return result.emergency if label == "emergency" else result.crisis
    tags = set(result.turn.entered_tags) | set(result.turn.tags)
    if "=" in label:
        var, _, value = label.partition("=")
        return result.turn.session.variables.get(var) == value
    return label in tags or result.turn.session.state == label or result.turn.matched.endswith(f":{label}")


def evaluate(flow: Flow, rows: list[Row], splits: tuple[str, ...]) -> list[Report]:
    reports = []
    for split in splits:
        report = Report(split)
        for row in rows:
            if row.split == split:
                report.results.append(run_row(flow, row))
        reports.append(report)
    return reports


def print_report(report: Report, out=None, examples: bool = True) -> None:
    out = out or sys.stdout   # looked up now, not when the module loaded (redirected output)
    f = report.figures()
    print(f"== {report.split}: {f['rows']} messages", file=out)
    print(f"crisis recall    {f['crisis_recall']:6.1f}%  ({len(report.crisis_rows)} crisis or emergency messages)", file=out)
    print(f"emergency recall {f['emergency_recall']:6.1f}%  ({len(report.emergency_rows)} emergency messages)", file=out)
    print(f"false crisis     {f['false_crisis']:6.2f}%  (of {len(report.ordinary_rows)} ordinary messages)", file=out)
    print(f"routing          {f['routing']:6.1f}%", file=out)
    print("label                      rows  precision  recall", file=out)
    for label, count, precision, recall in report.per_label():
        print(f"  {label:24s} {count:4d}  {precision:8.1f}%  {recall:5.1f}%", file=out)
    confusions = report.confusions()
    if confusions:
        print("most frequent confusions (expected -> got):", file=out)
        for expected, got, n in confusions:
            print(f"  {n:3d}  {expected} -> {got}", file=out)
    if examples:
        worst = report.worst()
        if worst:
            print("worst misses:", file=out)
        for r in worst:
            print(f"  line {r.row.line} [{r.row.locale} @{r.row.where}] {r.row.message!r}: "
                  f"wanted {'|'.join(r.row.expected)}, got {r.predicted}", file=out)


def run_eval(args) -> int:
    from bot.commands import _bundle, _print_issues

    bundle = _bundle(args)
    if bundle.errors:
        _print_issues(bundle)
        return 1
    flow = bundle.flow(getattr(args, "flow", None))
    path = Path(args.set) if args.set else DEFAULT_SET
    try:
        rows = load_set(path)
        splits = ("dev", "test") if args.split == "all" else (args.split,)
        reports = evaluate(flow, rows, splits)
    except (OSError, SetError) as exc:
        print(f"eval: {exc}", file=sys.stderr)
        return 2
    floors = None
    if args.floor:
        try:
            floors = json.loads(Path(args.floor).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"eval: --floor {args.floor}: {exc}", file=sys.stderr)
            return 2
    problems, short_of_targets = [], []
    for report in reports:
        if args.json:
            print(json.dumps({"split": report.split, **report.figures()}))
        else:
            print_report(report, examples=not args.summary)
        short_of_targets += [f"{report.split}: {p}" for p in report.failures_of_targets()]
        if floors is not None:
            problems += [f"{report.split}: {p} (the recorded floor)"
                         for p in report.failures_of_targets(floors[report.split])]
    if args.record_floor:
        Path(args.record_floor).write_text(
            json.dumps({r.split: r.floor() for r in reports}, indent=2) + "\n", encoding="utf-8")
    if floors is None:
        problems = short_of_targets
    elif short_of_targets:
        print("short of the issue's targets: " + "; ".join(short_of_targets), file=sys.stderr)
    if problems:
        print("below " + ("the floor" if floors is not None else "target") + ": " + "; ".join(problems),
              file=sys.stderr)
        return 1
    return 0
