"""A report of a results file that a teacher can open or mail (`grade --report`, `batch --report`): one HTML page
with nothing fetched from anywhere (styles inline, plots as inline SVG, math as MathML, which browsers render with
no script or font), or the same tables in Markdown.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections import Counter
from importlib import resources
from pathlib import Path

import jinja2
from latex2mathml.converter import convert as latex_to_mathml

from ..errors import PhiflashError

BADGE = {"verified": ("✓ verified", "#1a7f37"), "wrong": ("✗ wrong", "#cf222e"),
         "unverifiable": ("? unverifiable", "#9a6700"), "consensus": ("consensus", "#0969da"),
         "split": ("split", "#8250df"), None: ("error", "#57606a")}


def write_report(records: list[dict], path: Path, title: str, source: str) -> None:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".html", ".htm", ".md", ".markdown"):
        raise PhiflashError(f"--report {path}: write .html or .md")
    page = _page(records, title, source)
    text = _HTML.render(**page) if suffix in (".html", ".htm") else _MARKDOWN.render(**page)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise PhiflashError(f"cannot write the report {path}: {e}") from None


def _page(records: list[dict], title: str, source: str) -> dict:
    ok = [r for r in records if not r.get("error")]
    keyed = [r for r in ok if r.get("reference") is not None]
    by_problem = _groups(records, "problem")
    plots = [_bars("Share verified, per problem", [(_short(p), _share(rs)) for p, rs in by_problem.items()])]
    for key in ("subject", "level", "student"):
        groups = _groups(records, key)
        if len(groups) > 1:
            plots.append(_bars(f"Share verified, per {key}", [(k, _share(rs)) for k, rs in groups.items()]))
    mistakes = Counter(r["diagnosis"] for r in ok if r.get("diagnosis"))
    if mistakes:
        top = mistakes.most_common(8)
        plots.append(_bars("Most common mistakes (answers)", [(_short(m, 60), n / top[0][1], str(n))
                                                              for m, n in top]))
    return {
        "title": title, "source": source, "when": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M"),
        "overview": [("rows", len(records)), ("graded", len(ok)), ("errors", len(records) - len(ok))],
        "checked": [(s, sum(1 for r in ok if r["verdict"] == s)) for s in ("verified", "wrong", "unverifiable")],
        "key": [("correct", sum(1 for r in keyed if r["correct"] is True)),
                ("incorrect", sum(1 for r in keyed if r["correct"] is False)),
                ("not graded", sum(1 for r in keyed if r["correct"] is None))] if keyed else None,
        "plots": plots,
        "problems": [_problem_row(p, rs) for p, rs in by_problem.items()],
        "students": [_student_row(s, rs) for s, rs in _groups(records, "student").items()],
        "mistakes": mistakes.most_common(8),
        "sections": _sections(records),
    }


OPEN_UP_TO = 1000  # rows shown open; past that each section opens on a click (a browser lays out only open ones)


def _sections(records: list[dict]) -> list[dict]:
    """Every answer, in one section per student (per problem when the file names no students)."""
    key = "student" if any(r.get("student") for r in records) else "problem"
    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(str(r.get(key) or "(no " + key + ")"), []).append(r)
    out = []
    for name, rs in groups.items():
        counts = Counter(r.get("verdict") or "error" for r in rs)
        told = ", ".join(f"{counts[v]} {v}" for v in ("verified", "wrong", "unverifiable", "consensus", "split",
                                                      "error") if counts[v])
        out.append({"title": f"{_short(name, 80)} — {len(rs)} answer{'s' if len(rs) != 1 else ''}: {told}",
                    "rows": [_row(r) for r in rs], "open": len(records) <= OPEN_UP_TO})
    return out


def _groups(records: list[dict], key: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in records:
        if r.get(key) is not None:
            out.setdefault(str(r[key]), []).append(r)
    return out


def _share(rs: list[dict]) -> float | None:
    graded = [r for r in rs if not r.get("error")]
    return sum(1 for r in graded if r["verdict"] == "verified") / len(graded) if graded else None


def _percent(v: float | None) -> str:
    return "—" if v is None else f"{v:.0%}"


def _short(text: str, n: int = 48) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[:n - 1] + "…"


def _problem_row(problem: str, rs: list[dict]) -> dict:
    ok = [r for r in rs if not r.get("error")]
    wrong = Counter(r["answer"] for r in ok if r["verdict"] == "wrong")
    expected = next((r.get("expected") or r.get("reference") for r in ok if r.get("expected") or r.get("reference")),
                    None)
    return {"problem": problem, "expected": expected, "answers": len(rs), "share": _percent(_share(rs)),
            "common_wrong": f"{wrong.most_common(1)[0][0]} ({wrong.most_common(1)[0][1]})" if wrong else "—"}


def _student_row(student: str, rs: list[dict]) -> dict:
    ok = [r for r in rs if not r.get("error")]
    return {"student": student, "answers": len(rs),
            **{s: sum(1 for r in ok if r["verdict"] == s) for s in ("verified", "wrong", "unverifiable")},
            "share": _percent(_share(rs))}


def _row(r: dict) -> dict:
    label, colour = BADGE.get(r.get("verdict"), BADGE[None])
    return {"id": r.get("id") or "", "student": r.get("student") or "", "problem": r.get("problem") or "",
            "answer": r.get("answer") or "", "math": _mathml(r.get("answer_latex")), "badge": label,
            "colour": colour, "verdict": r.get("verdict") or "error",
            "why": r.get("error") or r.get("reason") or "", "diagnosis": r.get("diagnosis") or "",
            "expected": r.get("expected") or r.get("reference") or ""}


def _mathml(latex: str | None) -> str | None:
    """The answer as read, as MathML (None when it was not read: the text as written is shown)."""
    if not latex:
        return None
    try:
        return re.sub(r' xmlns="[^"]*"', "", latex_to_mathml(latex))  # HTML needs no namespace (and no URL)
    except Exception:  # noqa: BLE001 - LaTeX the converter does not know: shown as text instead
        return None


def _bars(title: str, bars: list[tuple]) -> str:
    """A horizontal bar chart as inline SVG: (label, share 0..1 or None, optional text) per bar."""
    row, label_w, bar_w = 22, 300, 320
    height = row * len(bars) + 34
    parts = [f'<svg role="img" aria-label="{html.escape(title)}" width="{label_w + bar_w + 70}" '
             f'height="{height}" viewBox="0 0 {label_w + bar_w + 70} {height}">',
             f'<text x="0" y="16" font-weight="bold" font-size="14">{html.escape(title)}</text>']
    for i, bar in enumerate(bars):
        label, share = bar[0], bar[1]
        text = bar[2] if len(bar) > 2 else _percent(share)
        y = 28 + i * row
        parts.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" font-size="12">'
                     f'{html.escape(_short(label, 44))}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{bar_w}" height="{row - 8}" fill="#eaeef2"/>')
        if share is not None:
            parts.append(f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{bar_w * share:.1f}" '
                         f'height="{row - 8}" fill="#1a7f37"/>')
        parts.append(f'<text x="{label_w + bar_w + 6}" y="{y + 14}" font-size="12">{html.escape(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _template(name: str) -> str:
    return resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8")


_ENV = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)

_HTML = _ENV.from_string(_template("report.html.j2"))

_MD_ESCAPE = {"|": "\\|", "\n": " "}


def _md(text) -> str:
    return "".join(_MD_ESCAPE.get(c, c) for c in str(text))


_MD_ENV = jinja2.Environment(autoescape=False, lstrip_blocks=True)  # keep the blank lines Markdown needs
_MD_ENV.filters["md"] = _md
_MARKDOWN = _MD_ENV.from_string(_template("report.md.j2"))
