"""The one JSON shape of a result: `solve --json`, `check --json`, each line of a batch results file and each
entry of `phiflash log --json` are all records made here, so a script reads every command the same way.

Every key is always present (null when it does not apply); `error` is null unless the problem failed, and then
`verdict` is null. The README documents each field.
"""

from __future__ import annotations

import datetime as dt

SCHEMA = 1
VERDICTS = ("verified", "wrong", "unverifiable", "consensus", "split")  # the last two: model samples (consensus.py)

# key: (allowed JSON types, default). The order here is the order in the JSON.
FIELDS: dict[str, tuple[tuple[type, ...], object]] = {
    "schema": ((int,), SCHEMA),
    "command": ((str,), None),            # solve | check | batch | grade | tutor
    "time": ((str,), None),               # when the result was made, ISO 8601 with the UTC offset
    "id": ((str, type(None)), None),      # batch rows only
    "problem": ((str, type(None)), None),
    "engine": ((str, type(None)), None),  # symbolic | phi
    "answer": ((str, type(None)), None),  # the answer being judged, as given (solver's, model's or the user's)
    "answer_latex": ((str, type(None)), None),
    "verdict": ((str, type(None)), None),  # verified | wrong | unverifiable | consensus | split; null on error
    "reason": ((str,), ""),
    "expected": ((str, type(None)), None),   # the checker's own answer, when it has one
    "reference": ((str, type(None)), None),  # a given reference (batch `answer` column, check --expected)
    "correct": ((bool, type(None)), None),   # graded against `reference`: true, false, or null (undecided)
    "steps": ((list, type(None)), None),     # symbolic engine: the worked solution
    "reasoning": ((str, type(None)), None),  # model: the reasoning section
    "text": ((str, type(None)), None),       # model: its whole output
    "finish_reason": ((str, type(None)), None),
    "samples": ((list, type(None)), None),     # model with --samples K: each sample's answer, finish, tokens
    "agreement": ((dict, type(None)), None),   # how the samples' answers group (support of K, the groups)
    "notes": ((list,), ()),
    "seconds": ((float, int, type(None)), None),
    "timings": ((dict,), {}),
    "subject": ((str, type(None)), None),
    "level": ((str, type(None)), None),
    "student": ((str, type(None)), None),    # grade: whose answer it is
    "diagnosis": ((str, type(None)), None),  # grade: the likely mistake behind a wrong answer, when one reproduces it
    "refused": ((bool,), False),             # the symbolic engine declined the problem (verdict unverifiable)
    "error": ((str, type(None)), None),
}


def make(command: str, **values) -> dict:
    """A complete record: every field, defaults filled in. An unknown field is a programming error."""
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise TypeError(f"not record fields: {sorted(unknown)}")
    rec = {}
    for key, (_, default) in FIELDS.items():
        value = values.get(key, default)
        rec[key] = list(value) if isinstance(value, tuple) else dict(value) if isinstance(value, dict) else value
    rec["command"] = command
    rec["time"] = rec["time"] or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    if rec["seconds"] is None and "total_s" in rec["timings"]:
        rec["seconds"] = rec["timings"]["total_s"]
    return rec


def error(command: str, message: str, **values) -> dict:
    return make(command, **values, error=message)


def problems(rec: dict) -> list[str]:
    """What is wrong with a record (empty when it matches the schema); tests check every command with it."""
    out = [f"missing {k}" for k in FIELDS if k not in rec]
    out += [f"unknown {k}" for k in rec if k not in FIELDS]
    for key, (types, _) in FIELDS.items():
        value = rec.get(key)
        if key in rec and (not isinstance(value, types) or isinstance(value, bool) and bool not in types):
            out.append(f"{key} is {type(value).__name__}")
    if rec.get("verdict") is not None and rec["verdict"] not in VERDICTS:
        out.append(f"verdict {rec['verdict']!r}")
    if (rec.get("error") is None) == (rec.get("verdict") is None) and rec.get("command") != "tutor":
        out.append("exactly one of verdict and error must be set")
    return out


def by_column(records: list[dict], keys: tuple[str, ...], score) -> dict:
    """{"by_<key>": {value: score(its records)}} for each key some record has a value for (values as strings,
    sorted): the breakdowns of batch's and grade's summaries."""
    out = {}
    for key in keys:
        groups = sorted({str(r[key]) for r in records if r.get(key) is not None})
        if groups:
            out[f"by_{key}"] = {g: score([r for r in records if str(r.get(key)) == g]) for g in groups}
    return out
