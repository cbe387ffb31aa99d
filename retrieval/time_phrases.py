"""Find the time a question names: "March 16, 2022", "2024年9月", "last November", "春节", "yesterday",
"last weekend", "上周五", "上上周", "前几天", "9月初", "three weeks ago", "两个月前", "summer 2021", "去年夏天", "暑假".

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
_MONTH_DAY_YEAR = re.compile(rf"\b({_MONTH_RE})\.?\s+{_DAY_RE}(?:,\s*|\s+)(\d{{4}})\b")
_DAY_MONTH_YEAR = re.compile(rf"\b{_DAY_RE}\s+(?:of\s+)?({_MONTH_RE})\.?(?:,\s*|\s+)(\d{{4}})\b")
# The same without a year ("on March 16", "the 3rd of May"): the most recent such day
_MONTH_DAY = re.compile(rf"\b({_MONTH_RE})\.?\s+{_DAY_RE}\b")
_DAY_MONTH = re.compile(rf"\b{_DAY_RE}\s+(?:of\s+)?({_MONTH_RE})\b")
# Part of a month: "the last week of October 2023", "the first weekend of August", "the beginning of
# January 2023", "the first half of September 2022"
_PART_OF_MONTH = re.compile(
    r"\b(?:(?P<rank>first|second|third|fourth|last)\s+(?:(?P<two>two|2)\s+)?(?P<unit>weekend|weeks?)\s+of"
    r"|(?P<part>beginning|start|middle|end|first half|second half)\s+of|(?P<loose>early|mid|late)(?:\s+of)?[\s-])"
    rf"\s*(?P<month>{_MONTH_RE})\.?(?:,?\s+(?P<year>\d{{4}}))?\b")
_ORDINALS = {"first": 0, "second": 1, "third": 2, "fourth": 3}
_MONTH_PARTS = {"beginning": (1, 10), "start": (1, 10), "early": (1, 10), "middle": (11, 20), "mid": (11, 20),
                "end": (21, 31), "late": (21, 31), "first half": (1, 15), "second half": (16, 31)}
# A month without a year needs "in"/"during" before it ("may" alone is mostly a verb): the last one
_IN_MONTH = re.compile(rf"\b(?:in|during)\s+(?:the\s+)?({_MONTH_RE})\b")

WEEKDAYS = {name: i for i, names in enumerate(
    [("monday", "mon"), ("tuesday", "tue", "tues"), ("wednesday", "wed"), ("thursday", "thu", "thur", "thurs"),
     ("friday", "fri"), ("saturday", "sat"), ("sunday", "sun")]) for name in names}
_WEEKDAY_RE = "|".join(sorted(WEEKDAYS, key=len, reverse=True))
_ZH_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}

# "3 days ago", "a couple of weeks ago", "三天前", "两个月前"
_COUNT_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                "eight": 8, "nine": 9, "ten": 10, "a couple of": 2, "couple of": 2, "a few": 3, "few": 3}
_COUNT_RE = r"\d{1,3}|" + "|".join(sorted(_COUNT_WORDS, key=len, reverse=True))
_AGO = re.compile(rf"\b({_COUNT_RE})\s+(day|week|month|year)s?\s+ago\b")
_ZH_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_ZH_AGO = re.compile(r"(\d{1,3}|[一二两三四五六七八九十]{1,3}|几)\s*(天|日|个?星期|周|个?礼拜|个月|年)(?:以)?前")

# Seasons (northern hemisphere) and school holidays, as (first month, months): "summer 2021", "last
# winter", "去年夏天", "暑假". Winter runs from December into the next year.
SEASONS = {"spring": (3, 3), "summer": (6, 3), "autumn": (9, 3), "fall": (9, 3), "winter": (12, 3),
           "春": (3, 3), "夏": (6, 3), "秋": (9, 3), "冬": (12, 3), "暑假": (7, 2), "寒假": (1, 2)}
_EN_SEASON = r"spring|summer|autumn|fall|winter"
_SEASON_YEAR = re.compile(rf"\b({_EN_SEASON})(?:\s+of)?,?\s+((?:19|20)\d{{2}})\b|((?:19|20)\d{{2}})年的?([春夏秋冬])[天季]|((?:19|20)\d{{2}})年的?(暑假|寒假)")
# "fall" alone is mostly a verb: a season without a year needs "last", "this" or "in the" before it
_SEASON_REL = re.compile(rf"\b(last|this|in the|during the|over the)\s+({_EN_SEASON})\b|(去年|今年|前年)?的?(?:([春夏秋冬])[天季]|(暑假|寒假))")

# Part of a month or a year in Chinese: "9月初" (early September), "12月底", "2023年年底", "去年年初"
ZH_YEARS_BACK = {"今年": 0, "去年": 1, "前年": 2}
_ZH_PART = re.compile(r"(?:(?P<year>(?:19|20)\d{2})年的?|(?P<rel>去年|今年|前年)的?)?"
                      r"(?:(?P<month>\d{1,2})月(?P<part>初|上旬|中旬|下旬|中|底|末)|年(?P<ypart>初|底|末))")
_ZH_MONTH_PARTS = {"初": (1, 10), "上旬": (1, 10), "中": (11, 20), "中旬": (11, 20), "下旬": (21, 31), "底": (21, 31),
                   "末": (21, 31)}
_ZH_YEAR_PARTS = {"初": (1, 2), "底": (12, 1), "末": (12, 1)}  # (first month, months): 年初 Jan-Feb, 年底 December

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


def _month_days(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year + (month == 12), month % 12 + 1, 1)


def _month(year: int, month: int, now: datetime) -> tuple[datetime, datetime]:
    start, end = _month_days(year, month)
    return _day(start, now), _day(end, now)


def _months_back(today: date, count: int) -> tuple[int, int]:
    """(year, month) of the calendar month `count` months before today's."""
    year, index = divmod(today.year * 12 + today.month - 1 - count, 12)
    return year, index + 1


def _year(year: int, now: datetime) -> tuple[datetime, datetime]:
    return _day(date(year, 1, 1), now), _day(date(year + 1, 1, 1), now)


def _days_of_month(part: tuple[int, int], days: int) -> tuple[int, int]:
    """A part of a month given as (first day, last day), e.g. (21, 31) for its end, as [start, end)
    day offsets from the 1st of a month of `days` days."""
    low, high = part
    return low - 1, min(high, days)


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
    # a day without its year: in a year the question names elsewhere, else the most recent one
    named_year = re.search(r"(?<!\d)((?:19|20)\d{2})(?!\d)", text)

    def year_of(month: int, day: int, offset: int | None = None) -> int:
        if offset is not None:
            return now.year - offset
        if named_year:
            return int(named_year.group(1))
        return now.year - ((month, day) > (today.month, today.day))

    if m := re.search(r"(去年|今年|前年)?(\d{1,2})月(\d{1,2})[日号]", text):
        month, day = int(m.group(2)), int(m.group(3))
        offset = ZH_YEARS_BACK.get(m.group(1) or "")
        return one_day(year_of(month, day, offset), month, day, m.group(0))
    if m := _first_date_like(_MONTH_DAY, lowered, month_group=1):
        month, day = MONTHS[m.group(1)], int(m.group(2))
        return one_day(year_of(month, day), month, day, m.group(0))
    if m := _first_date_like(_DAY_MONTH, lowered, month_group=2):
        month, day = MONTHS[m.group(2)], int(m.group(1))
        return one_day(year_of(month, day), month, day, m.group(0))
    if m := _PART_OF_MONTH.search(lowered):
        month = MONTHS[m["month"]]
        year = int(m["year"]) if m["year"] else int(named_year.group(1)) if named_year else _past_month(month, now)
        first, after = checked(_month, year, month, now, phrase=m.group(0))
        days = (after - first).days
        if rank := m["rank"]:  # a week, two weeks or a weekend by its rank in the month
            weeks = 2 if m["two"] else 1
            if m["unit"] == "weekend":
                saturdays = [d for d in range(days) if (first + timedelta(days=d)).weekday() == 5]
                start = saturdays[-1] if rank == "last" else saturdays[min(_ORDINALS[rank], len(saturdays) - 1)]
                end = start + 2
            elif rank == "last":
                start, end = days - 7 * weeks, days
            else:
                start = 7 * _ORDINALS[rank]
                end = min(days, start + 7 * weeks)
        else:
            start, end = _days_of_month(_MONTH_PARTS[m["part"] or m["loose"]], days)
        return TimeRange(first + timedelta(days=start) - slack, first + timedelta(days=end) + slack, m.group(0))
    if m := re.search(r"(\d{4})年(\d{1,2})月", text):
        return found(checked(_month, int(m.group(1)), int(m.group(2)), now, phrase=m.group(0)), m.group(0))
    if m := re.search(rf"\b({_MONTH_RE})\.?,?\s+(\d{{4}})\b", lowered):
        return found(checked(_month, int(m.group(2)), MONTHS[m.group(1)], now, phrase=m.group(0)), m.group(0))
    if m := re.search(rf"\blast\s+({_MONTH_RE})\b", lowered):
        month = MONTHS[m.group(1)]
        year = now.year if month < now.month else now.year - 1
        return found(_month(year, month, now), m.group(0))
    if m := _IN_MONTH.search(lowered):
        month = MONTHS[m.group(1)]
        return found(_month(_past_month(month, now), month, now), m.group(0))
    if m := _ZH_PART.search(text):  # "9月初", "去年12月底", "2023年年底", "年初"
        year = int(m["year"]) if m["year"] else now.year - ZH_YEARS_BACK.get(m["rel"] or "", 0)
        if m["month"]:
            if not (m["year"] or m["rel"]) and 1 <= int(m["month"]) <= 12:  # the last such month that has begun
                year = _past_month(int(m["month"]), now)
            first, after = checked(_month, year, int(m["month"]), now, phrase=m.group(0))
            offsets = _days_of_month(_ZH_MONTH_PARTS[m["part"]], (after - first).days)
            start, end = (first + timedelta(days=d) for d in offsets)
        else:
            first_month, months = _ZH_YEAR_PARTS[m["ypart"]]
            start, end = _months_span(year, first_month, months, now)
        return TimeRange(start - slack, end + slack, m.group(0))
    if m := re.search(r"(去年|今年|前年)?(\d{1,2})月(?!\d)", text):
        offset = ZH_YEARS_BACK.get(m.group(1) or "")
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
    if bounds := _season(lowered, now):
        return bounds
    if m := re.search(r"\b(?:in\s+)?((?:19|20)\d{2})\b|((?:19|20)\d{2})年", text):
        return found(_year(int(m.group(1) or m.group(2)), now), m.group(0))
    if bounds := _relative(lowered, today):
        (start_day, end_day), phrase = bounds
        return TimeRange(_day(start_day, now), _day(end_day, now), phrase)
    relative = [
        (r"\byesterday\b|昨天|昨晚", today - timedelta(days=1), 1),
        (r"大前天", today - timedelta(days=3), 1),
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
        return found(_month(*_months_back(today, 1), now), m.group(0))
    if m := re.search(r"\bthis month\b|这个月|本月", lowered):
        return found(_month(now.year, now.month, now), m.group(0))
    if m := re.search(r"\blast year\b|去年", lowered):
        return found(_year(now.year - 1, now), m.group(0))
    if m := re.search(r"\bthis year\b|今年", lowered):
        return found(_year(now.year, now), m.group(0))
    return None


_DATE_CUE = re.compile(r"(?:\b(?:on|by|since|until|till|before|after|from|of|around|early|late|mid)\s+(?:the\s+)?)$")


def _first_date_like(pattern: re.Pattern, lowered: str, month_group: int) -> re.Match | None:
    """The first match that reads as a date: "may 5" only with an ordinal ("may 5th") or a
    word like "on" before it, since "may" is mostly a verb ("we may 2x it")."""
    for m in pattern.finditer(lowered):
        if m.group(month_group) != "may" or re.search(r"\d(?:st|nd|rd|th)", m.group(0)) \
                or _DATE_CUE.search(lowered[:m.start()]):
            return m
    return None


def _count(word: str) -> int | None:
    """3, "three", "a couple of", "三", "十二", "两"; None for "几" (a few: the caller decides)."""
    if word.isdigit():
        return int(word)
    if word in _COUNT_WORDS:
        return _COUNT_WORDS[word]
    if word == "几":
        return None
    if "十" in word:  # 十 10, 十二 12, 二十 20, 二十三 23
        tens, _, ones = word.partition("十")
        return _ZH_DIGITS.get(tens, 1) * 10 + _ZH_DIGITS.get(ones, 0)
    return _ZH_DIGITS.get(word)


def _relative(lowered: str, today: date) -> tuple[tuple[date, date], str] | None:
    """Weekends, weekdays and "N days/weeks/months/years ago", relative to `today`, as [start, end)
    days. `lowered`: the question in lower case (Chinese is unchanged by that)."""
    try:
        return _relative_days(lowered, today)
    except (ValueError, OverflowError):  # "900 years ago" from a year near 1000
        return None


def _relative_days(lowered: str, today: date) -> tuple[tuple[date, date], str] | None:
    monday = today - timedelta(days=today.weekday())
    if m := re.search(r"\bthe week before last\b|上上个?(?:星期|周|礼拜)(?![一二三四五六日天末])", lowered):
        return (monday - timedelta(days=14), monday - timedelta(days=7)), m.group(0)
    if m := re.search(r"\bthe month before last\b|上上个?月", lowered):
        return _month_days(*_months_back(today, 2)), m.group(0)
    if m := re.search(r"前几天|\bthe other day\b", lowered):  # a few days ago, not today
        return (today - timedelta(days=6), today), m.group(0)
    if m := re.search(r"\bearlier this week\b", lowered):
        return (monday, today + timedelta(days=1)), m.group(0)
    if m := re.search(r"\b(?:the weekend before last|last weekend)\b|(?:上上|上)个?(?:星期的?)?周末", lowered):
        back = timedelta(weeks=2 if m.group(0).startswith(("上上", "the weekend before")) else 1)
        return (monday - back + timedelta(days=5), monday - back + timedelta(days=7)), m.group(0)
    if m := re.search(r"\bthis weekend\b|这个?周末|本周末", lowered):
        return (monday + timedelta(days=5), monday + timedelta(days=7)), m.group(0)
    if m := re.search(rf"\blast\s+({_WEEKDAY_RE})\b", lowered):  # the most recent one before today
        back = (today.weekday() - WEEKDAYS[m.group(1)]) % 7 or 7
        day = today - timedelta(days=back)
        return (day, day + timedelta(days=1)), m.group(0)
    if m := re.search(r"(上上|上)个?(?:星期|周|礼拜)([一二三四五六日天])", lowered):  # that day a week or two back
        day = monday - timedelta(weeks=len(m.group(1))) + timedelta(days=_ZH_WEEKDAYS[m.group(2)])
        return (day, day + timedelta(days=1)), m.group(0)
    if m := _AGO.search(lowered):
        count, unit, phrase = _count(m.group(1)), m.group(2), m.group(0)
    elif m := _ZH_AGO.search(lowered):
        count, phrase = _count(m.group(1)), m.group(0)
        unit = {"天": "day", "日": "day", "个月": "month", "年": "year"}.get(m.group(2), "week")
    else:
        return None
    if count is None:  # 几天前, "a few": about three
        count = 3
    if unit == "day":  # people round: a day either side
        day = today - timedelta(days=count)
        return (day - timedelta(days=1), day + timedelta(days=2)), phrase
    if unit == "week":  # the seven days around that point
        day = today - timedelta(weeks=count)
        return (day - timedelta(days=3), day + timedelta(days=4)), phrase
    if unit == "month":  # that calendar month
        return _month_days(*_months_back(today, count)), phrase
    return (date(today.year - count, 1, 1), date(today.year - count + 1, 1, 1)), phrase


def _months_span(year: int, first_month: int, months: int, now: datetime) -> tuple[datetime, datetime]:
    """`months` calendar months from the first of `first_month` in `year` (a winter runs into the
    next year)."""
    end_year, end_index = divmod(year * 12 + first_month - 1 + months, 12)
    return _day(date(year, first_month, 1), now), _day(date(end_year, end_index + 1, 1), now)


def _season_range(name: str, year: int, now: datetime) -> tuple[datetime, datetime]:
    return _months_span(year, *SEASONS[name], now)


def _season(lowered: str, now: datetime) -> TimeRange | None:
    """A season or school holiday: with its year, or "last" (the latest that has ended), "this" /
    "今年", "去年" / "前年", and "in the" or bare Chinese (the latest that has begun)."""
    if m := _SEASON_YEAR.search(lowered):
        name = m.group(1) or m.group(4) or m.group(6)
        year = int(m.group(2) or m.group(3) or m.group(5))
        return TimeRange(*_season_range(name, year, now), m.group(0))
    if not (m := _SEASON_REL.search(lowered)):
        return None
    name = m.group(2) or m.group(4) or m.group(5)
    if not name:
        return None
    which = m.group(1) or m.group(3) or ""
    if which in ("this", "今年"):  # this year's; a winter that began last December is still this one
        year = now.year - 1 if SEASONS[name][0] == 12 and now.month <= 2 else now.year
    elif which in ("去年", "前年"):
        year = now.year - ZH_YEARS_BACK[which]
    else:  # the latest that has begun ("in the summer", "暑假"), or for "last" the latest that has ended
        year = now.year + 1
        while _season_range(name, year, now)[0 if which != "last" else 1] > now:
            year -= 1
    return TimeRange(*_season_range(name, year, now), m.group(0))
