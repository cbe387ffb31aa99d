"""Find the time a question names: "March 16, 2022", "2024年9月", "last November", "春节", "yesterday".

Returns a [start, end) range in the timezone of `now`, or None. Relative phrases are relative
to `now`. Only explicit phrases count; a question without one gets None, so search behaves as
if this module did not exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

MONTHS = {name: i for i, names in enumerate(
    [(), ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",), ("june", "jun"),
     ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
     ("december", "dec")]) for name in names}
_MONTH_RE = "|".join(sorted(MONTHS, key=len, reverse=True))
_DAY_RE = r"(\d{1,2})(?:st|nd|rd|th)?"
# A day with its year: "2024-09-15", "2024/9/15", "2024年9月15日"; "March 16, 2022", "Mar 16th 2022";
# "16 March 2022", "the 16th of March, 2022"
_NUMERIC_DAY = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?!\d)|(\d{4})年(\d{1,2})月(\d{1,2})[日号]")
_MONTH_DAY_YEAR = re.compile(rf"\b({_MONTH_RE})\.?\s+{_DAY_RE},?\s+(\d{{4}})\b")
_DAY_MONTH_YEAR = re.compile(rf"\b{_DAY_RE}\s+(?:of\s+)?({_MONTH_RE})\.?,?\s+(\d{{4}})\b")

# Spring Festival (Chinese New Year's day); the week around it is what people call 春节.
SPRING_FESTIVAL = {
    2015: (2, 19), 2016: (2, 8), 2017: (1, 28), 2018: (2, 16), 2019: (2, 5), 2020: (1, 25), 2021: (2, 12),
    2022: (2, 1), 2023: (1, 22), 2024: (2, 10), 2025: (1, 29), 2026: (2, 17), 2027: (2, 6), 2028: (1, 26),
    2029: (2, 13), 2030: (2, 3),
}


# A calendar day named in a question ("March 16, 2022", "2024-09-15", "9月15日") covers this many
# days each side (memory.time_day_slack): what happened on a day is often told a day or two later
# ("yesterday we ..."). Relative days ("yesterday", "today") mean that day and stay exact.
DAY_SLACK = 3


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime  # exclusive
    phrase: str


def _day(d: date, now: datetime) -> datetime:
    return datetime.combine(d, time(), tzinfo=now.tzinfo)


def _month(year: int, month: int, now: datetime) -> tuple[datetime, datetime]:
    start = _day(date(year, month, 1), now)
    end = _day(date(year + (month == 12), month % 12 + 1, 1), now)
    return start, end


def _year(year: int, now: datetime) -> tuple[datetime, datetime]:
    return _day(date(year, 1, 1), now), _day(date(year + 1, 1, 1), now)


def _past_month(month: int, now: datetime) -> int:
    """Year of the most recent `month` that has begun (a bare "November" means the last one)."""
    return now.year if month <= now.month else now.year - 1


def _festival(year: int, now: datetime, which: str) -> tuple[datetime, datetime] | None:
    if which == "spring":
        if year not in SPRING_FESTIVAL:
            return None
        day = date(year, *SPRING_FESTIVAL[year])
        return _day(day - timedelta(days=7), now), _day(day + timedelta(days=8), now)
    if which == "national":
        return _day(date(year, 10, 1), now), _day(date(year, 10, 8), now)
    if which == "christmas":
        return _day(date(year, 12, 20), now), _day(date(year, 12, 27), now)
    return _day(date(year - 1, 12, 31), now), _day(date(year, 1, 2), now)  # new year


_FESTIVALS = [(re.compile(r"春节|过年|chinese new year|lunar new year|spring festival", re.I), "spring"),
              (re.compile(r"国庆|national day", re.I), "national"),
              (re.compile(r"圣诞|christmas", re.I), "christmas"),
              (re.compile(r"元旦|new year'?s? (?:day|eve)", re.I), "newyear")]


class _Impossible(Exception):
    """A phrase shaped like a date that names none ("2024-02-30", "2024年13月", "sept 0000")."""

    def __init__(self, phrase: str):
        self.phrase = phrase


def parse_time_range(text: str, now: datetime, day_slack: int = DAY_SLACK) -> TimeRange | None:
    """The first time phrase in `text`; a phrase naming an impossible date is ignored (blanked
    out) and the search goes on, so such a question searches as if it named no time. A named
    calendar day covers `day_slack` days each side."""
    while True:
        try:
            return _first_range(text, now, timedelta(days=day_slack))
        except _Impossible as exc:
            blanked = re.sub(re.escape(exc.phrase), lambda m: " " * len(m.group(0)), text, flags=re.IGNORECASE)
            if blanked == text:  # cannot happen unless lower() changed the phrase's length
                return None
            text = blanked


def _first_range(text: str, now: datetime, slack: timedelta) -> TimeRange | None:
    lowered = text.lower()
    today = now.date()

    def found(bounds, phrase: str) -> TimeRange | None:
        return TimeRange(bounds[0], bounds[1], phrase) if bounds else None

    def checked(build, *args, phrase: str):
        try:
            return build(*args)
        except (ValueError, OverflowError):  # month 13, day 32, year 0 or 10000
            raise _Impossible(phrase) from None

    def one_day(y: int, mo: int, d: int, phrase: str) -> TimeRange:
        day = checked(date, y, mo, d, phrase=phrase)
        start, end = checked(lambda: (day - slack, day + slack + timedelta(days=1)), phrase=phrase)
        return TimeRange(_day(start, now), _day(end, now), phrase)

    if m := _NUMERIC_DAY.search(text):
        y, mo, d = (int(g) for g in (m.groups()[:3] if m.group(1) else m.groups()[3:]))
        return one_day(y, mo, d, m.group(0))
    if m := _MONTH_DAY_YEAR.search(lowered):
        return one_day(int(m.group(3)), MONTHS[m.group(1)], int(m.group(2)), m.group(0))
    if m := _DAY_MONTH_YEAR.search(lowered):
        return one_day(int(m.group(3)), MONTHS[m.group(2)], int(m.group(1)), m.group(0))
    if m := re.search(r"(去年|今年|前年)?(\d{1,2})月(\d{1,2})[日号]", text):  # a day without its year
        offset = {"去年": 1, "前年": 2, "今年": 0}.get(m.group(1) or "", None)
        month, day = int(m.group(2)), int(m.group(3))
        if offset is None:  # the most recent such day that has begun
            offset = 0 if (month, day) <= (today.month, today.day) else 1
        return one_day(now.year - offset, month, day, m.group(0))
    if m := re.search(r"(\d{4})年(\d{1,2})月", text):
        return found(checked(_month, int(m.group(1)), int(m.group(2)), now, phrase=m.group(0)), m.group(0))
    if m := re.search(rf"\b({_MONTH_RE})\.?,?\s+(\d{{4}})\b", lowered):
        return found(checked(_month, int(m.group(2)), MONTHS[m.group(1)], now, phrase=m.group(0)), m.group(0))
    if m := re.search(rf"\blast\s+({_MONTH_RE})\b", lowered):
        month = MONTHS[m.group(1)]
        year = now.year if month < now.month else now.year - 1
        return found(_month(year, month, now), m.group(0))
    if m := re.search(r"(去年|今年|前年)?(\d{1,2})月(?!\d)", text):
        offset = {"去年": 1, "前年": 2, "今年": 0}.get(m.group(1) or "", None)
        month = int(m.group(2))
        if 1 <= month <= 12:
            year = now.year - offset if offset is not None else _past_month(month, now)
            return found(_month(year, month, now), m.group(0))
    for pattern, which in _FESTIVALS:
        if m := pattern.search(text):
            year = now.year - 1 if re.search(r"去年|last", text[:m.start()] + lowered[:m.start()]) else now.year
            bounds = _festival(year, now, which)
            if which == "spring" and bounds and bounds[0] > now and "去年" not in text:
                bounds = _festival(year - 1, now, which)  # this year's has not come yet
            return found(bounds, m.group(0))
    if m := re.search(r"\b(?:in\s+)?((?:19|20)\d{2})\b|((?:19|20)\d{2})年", text):
        return found(_year(int(m.group(1) or m.group(2)), now), m.group(0))
    relative = [
        (r"\byesterday\b|昨天|昨晚", today - timedelta(days=1), 1),
        (r"前天", today - timedelta(days=2), 1),
        (r"\btoday\b|今天|今晚", today, 1),
        (r"\blast week\b|上周|上个星期|上星期", today - timedelta(days=today.weekday() + 7), 7),
        (r"\bthis week\b|这周|本周", today - timedelta(days=today.weekday()), 7),
    ]
    for pattern, start_day, days in relative:
        if m := re.search(pattern, lowered):
            start = _day(start_day, now)
            return TimeRange(start, start + timedelta(days=days), m.group(0))
    if m := re.search(r"\blast month\b|上个月|上月", lowered):
        year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
        return found(_month(year, month, now), m.group(0))
    if m := re.search(r"\bthis month\b|这个月|本月", lowered):
        return found(_month(now.year, now.month, now), m.group(0))
    if m := re.search(r"\blast year\b|去年", lowered):
        return found(_year(now.year - 1, now), m.group(0))
    if m := re.search(r"\bthis year\b|今年", lowered):
        return found(_year(now.year, now), m.group(0))
    return None
