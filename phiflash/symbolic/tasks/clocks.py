"""The angle between the hands of a clock: 'What is the number of degrees in the smaller angle formed by the hour and
minute hands of a clock at 8:15?', 'the acute angle formed by the hour hand and the minute hand of a 12-hour clock at
6:48', 'at 7 p.m.', 'at 10 o'clock'.

Solved by the hands' positions: the minute hand at 6° a minute, the hour hand at 30° an hour plus ½° a minute, the
difference taken the short way round (the smaller angle; 'acute' must then be under 90°, else refused). Checked by
running the clock: both hands start together at 12:00 and move one minute at a time, in whole half-degrees, to the
time asked; the angle between them is measured there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

from ..parse import ParseError
from ..sentence import Sentence
from .base import SolveError, Step, Task, Worked


@dataclass(frozen=True)
class ClockAngle:
    hour: int        # 1 … 12
    minute: int      # 0 … 59
    which: str       # smaller or acute


def read_clock(g: dict, s: Sentence) -> ClockAngle:
    time = re.sub(r"\s+", "", s.slot(g, "time")).lower().replace("$", "")
    m = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?(?:o'?clock|[ap]\.?m\.?)?", time)
    if not m:
        raise ParseError(f"can't read the time {s.slot(g, 'time')!r}")
    hour, minute = int(m.group(1)), int(m.group(2) or 0)
    if not (1 <= hour <= 12 and 0 <= minute <= 59):
        raise ParseError("a time on a 12-hour clock, 1:00 to 12:59")
    if m.group(2) is None and not re.search(r"o'?clock|[ap]\.?m", time):
        raise ParseError("a time is read as h:mm, h o'clock or h p.m.")
    return ClockAngle(hour, minute, (g.get("which") or "smaller").lower())


def _deg(v: sp.Rational) -> str:
    """Degrees as a clock-reader writes them: 247.5°, not 495/2° (a half-degree is the finest a time gives)."""
    return f"{float(v):g}°"


def solve_clock(c: ClockAngle) -> Worked:
    minute_hand = sp.Integer(6 * c.minute)
    hour_hand = sp.Integer(30 * (c.hour % 12)) + sp.Rational(c.minute, 2)
    apart = abs(hour_hand - minute_hand)
    angle = min(apart, 360 - apart)
    if c.which == "acute" and not angle < 90:
        raise SolveError(f"the hands are {_deg(angle)} apart: no acute angle between them")
    return Worked(angle, [Step(f"The minute hand is at 6° × {c.minute} = {_deg(minute_hand)} past 12"),
                          Step(f"The hour hand is at 30° × {c.hour % 12} + ½° × {c.minute} = {_deg(hour_hand)}"),
                          Step(f"They are {_deg(apart)} apart; the smaller angle is the lesser of that and 360° minus "
                               "it", angle)])


def check_clock(c: ClockAngle, w: Worked) -> Step:
    hour_half_degrees, minute_half_degrees = 0, 0     # both hands at 12, counted in half-degrees
    for _ in range((c.hour % 12) * 60 + c.minute):
        hour_half_degrees = (hour_half_degrees + 1) % 720       # ½° a minute
        minute_half_degrees = (minute_half_degrees + 12) % 720  # 6° a minute
    gap = (hour_half_degrees - minute_half_degrees) % 720
    if sp.Rational(min(gap, 720 - gap), 2) != w.answer:
        raise SolveError("the angle failed its check")
    return Step(f"Check: running the clock from 12:00 one minute at a time leaves the hands {_deg(w.answer)} apart")


_HANDS = (r"(?:the )?(?:hour[- ]hand and (?:the )?minute[- ]hand|minute[- ]hand and (?:the )?hour[- ]hand|hour and "
          r"minute hands|minute and hour hands|hands)")
_CLOCK = r"(?:(?:of|on) (?:a|the) (?:standard |12-hour |analog )*clock)"
_TIME = r"(?P<time>(?:⟦\d+⟧|\d)[^?]*?)"
_ANGLE = (r"(?:the (?:degree )?measure,?(?: in degrees,?)? of |(?:the )?number of degrees in |the degree measure of )?"
          r"the (?P<which>smaller|acute) angle (?:that is )?(?:formed by|between) " + _HANDS)

TASKS = (
    Task("clock", "the angle between the hands of a clock at a given time", phrasings=(
        (50, rf"(?:what is |how many degrees are in |find )?{_ANGLE}(?: {_CLOCK})?,?(?: in degrees,?)? (?:when "
             rf"(?:it is|the time is|it indicates) |at (?:exactly )?){_TIME}(?: on a 12-hour (?:analog )?clock)?"
             rf"(?:,? in degrees)?"),
        (50, rf"at {_TIME},? how many degrees are in {_ANGLE}(?: {_CLOCK})?")),
        read=read_clock, solve=solve_clock, check=check_clock,
        examples=(("What is the number of degrees in the smaller angle formed by the hour and minute hands of a clock "
                   "at 8:15?", "315/2"),
                  ("What is the measure, in degrees, of the acute angle formed by the hour hand and the minute hand "
                   "of a 12-hour clock at 6:48?", "84")),
        questions=((r"^The minute hand is at", "Where does the minute hand point, in degrees past 12?"),
                   (r"^The hour hand is at", "How far has the hour hand moved past the hour mark?")),
        data=ClockAngle),
)
