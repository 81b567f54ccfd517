"""Query understanding without a language model: which words carry the question, which
are names, which phrases must match as written, and which time it is about.

`understand("What did Caroline say about the picnic last March?", now)` keeps `caroline`,
`picnic` (and drops `what`, `did`, `say`, `about`, `the`), marks `Caroline` a name, and
turns `last March` into a window of time that ranks memories of that March higher. A
query with nothing left to look for (empty, or only stop words) is refused: any answer
to it would be arbitrary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from neurocache.errors import InvalidInput

WORD = re.compile(r"\w+(?:['\u2019]\w+)?", re.UNICODE)
QUOTED = re.compile(r'"([^"]{1,500})"|“([^”]{1,500})”')
# Words that say nothing about which memory answers (English; other languages keep all):
# function words, question words, and the verbs of asking.
STOP_TEXT = (
    "a about above after again against all am an and any are aren't as at be because been before "
    "being below between both but by can can't cannot could couldn't did didn't do does doesn't "
    "doing don't down during each few for from further had hadn't has hasn't have haven't having "
    "he he'd he'll he's her here here's hers herself him himself his how how's i i'd i'll i'm "
    "i've if in into is isn't it it's its itself let's me more most mustn't my myself no nor not "
    "of off on once only or other ought our ours ourselves out over own same shan't she she'd "
    "she'll she's should shouldn't so some such than that that's the their theirs them themselves "
    "then there there's these they they'd they'll they're they've this those through to too under "
    "until up very was wasn't we we'd we'll we're we've were weren't what what's when when's "
    "where where's which while who who's whom why why's will with won't would wouldn't you you'd "
    "you'll you're you've your yours yourself yourselves tell told say said says ask asked know "
    "knew remember recall mention mentioned talk talked think thought please also just ever "
    "anything may might must shall something really"
)
STOPWORDS = frozenset(STOP_TEXT.split())
MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "couple": 2,
    "few": 3,
}
UNITS = {"day": 1, "week": 7, "month": 30, "year": 365}
MONTH = (
    r"(january|february|march|april|may|june|july|august|september|october|november|"
    r"december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)"
)


@dataclass(frozen=True)
class Window:
    """A span of time a query is about: [start, end)."""

    start: datetime
    end: datetime
    said: str  # the words that said it


@dataclass(frozen=True)
class Query:
    text: str
    words: list[str]  # the words to match, lower case, stop words and time words gone
    phrases: list[str] = field(default_factory=list)  # quoted: to match as written
    names: list[str] = field(default_factory=list)  # lower case: capitalized in the query
    window: Window | None = None


def understand(text: str, now: datetime | None = None) -> Query:
    """What a search asks for; InvalidInput (422) when it asks for nothing."""
    now = now or datetime.now(UTC)
    phrases = [a or b for a, b in QUOTED.findall(text)]
    window = time_window(text, now)
    rest = re.sub(re.escape(window.said), " ", text, flags=re.IGNORECASE) if window else text
    tokens = WORD.findall(rest)
    words = [t.lower() for t in tokens if t.lower() not in STOPWORDS]
    if not words and not phrases:
        raise InvalidInput(
            "the query has nothing to look for (only common words like "
            "'what', 'the', 'about'): say what you want to find",
            details={"field": "query"},
        )
    return Query(text, _unique(words), phrases, _names(tokens), window)


def _names(tokens: list[str]) -> list[str]:
    """Capitalized words that are not stop words, month or day names: people, places."""
    found = [
        t.lower()
        for t in tokens
        if t[:1].isupper()
        and t.lower() not in STOPWORDS
        and t.lower() not in MONTHS
        and t.lower() not in WEEKDAYS
    ]
    return _unique(found)


WEEKDAYS = frozenset({"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"})


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def time_window(text: str, now: datetime) -> Window | None:
    """The first time expression of `text`, as a window, relative to `now`."""
    lowered = text.lower()
    for finder in (
        _iso_date,
        _day_month_year,
        _month_year,
        _relative_month,
        _ago,
        _named_span,
        _year,
    ):
        window = finder(lowered, now)
        if window is not None:
            return window
    return None


def _day(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _iso_date(text: str, now: datetime) -> Window | None:
    found = re.search(r"\b(\d{4})-(\d{2})-(\d{2})\b", text)
    if not found:
        return None
    try:
        day = datetime(int(found[1]), int(found[2]), int(found[3]), tzinfo=UTC)
    except ValueError:
        return None
    return Window(day, day + timedelta(days=1), found[0])


def _day_month_year(text: str, now: datetime) -> Window | None:
    """`8 may 2023`, `may 8, 2023`, `8th of may`: one day (this year when none is said)."""
    found = re.search(
        rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{MONTH}\b,?\s*(\d{{4}})?", text
    ) or re.search(rf"\b{MONTH}\s+(\d{{1,2}})(?:st|nd|rd|th)?\b,?\s*(\d{{4}})?", text)
    if not found:
        return None
    parts = found.groups()
    day, month = (parts[0], parts[1]) if parts[0].isdigit() else (parts[1], parts[0])
    year = int(parts[2]) if parts[2] else now.year
    try:
        start = datetime(year, MONTHS[month], int(day), tzinfo=UTC)
    except ValueError:
        return None
    return Window(start, start + timedelta(days=1), found[0])


def _month_year(text: str, now: datetime) -> Window | None:
    found = re.search(rf"\b{MONTH}\s+(?:of\s+)?(\d{{4}})\b", text)
    if not found:
        return None
    return _month_window(int(found[2]), MONTHS[found[1]], found[0])


def _relative_month(text: str, now: datetime) -> Window | None:
    """`last march`, `this may`, `in june`: the most recent such month (this one counts for
    `this`; `last` means the one before the current)."""
    found = re.search(rf"\b(last|this|in|during|since)\s+{MONTH}\b", text)
    if not found or (found[2] == "may" and found[1] in ("in", "since")):
        return None  # `in may` is too often the verb ("... in may not ...")
    month, year = MONTHS[found[2]], now.year
    if month > now.month or (found[1] == "last" and month == now.month):
        year -= 1
    return _month_window(year, month, found[0])


def _month_window(year: int, month: int, said: str) -> Window:
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return Window(start, end, said)


def _ago(text: str, now: datetime) -> Window | None:
    """`two weeks ago`, `3 days ago`: the span of that unit around then."""
    found = re.search(
        r"\b(\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|"
        r"eleven|twelve|couple|few)\s+(?:of\s+)?(day|week|month|year)s?\s+ago\b",
        text,
    )
    if not found:
        return None
    count = int(found[1]) if found[1].isdigit() else NUMBERS[found[1]]
    span = timedelta(days=UNITS[found[2]])
    middle = _day(now) - span * count
    return Window(middle - span / 2, middle + span / 2 + timedelta(days=1), found[0])


def _named_span(text: str, now: datetime) -> Window | None:
    today = _day(now)
    week = today - timedelta(days=today.weekday())
    spans = {
        "today": (today, today + timedelta(days=1)),
        "yesterday": (today - timedelta(days=1), today),
        "last night": (today - timedelta(hours=12), today + timedelta(hours=6)),
        "this week": (week, today + timedelta(days=1)),
        "last week": (week - timedelta(days=7), week),
        "this month": (today.replace(day=1), today + timedelta(days=1)),
        "this year": (today.replace(month=1, day=1), today + timedelta(days=1)),
        "last year": (
            datetime(today.year - 1, 1, 1, tzinfo=UTC),
            datetime(today.year, 1, 1, tzinfo=UTC),
        ),
    }
    for said, (start, end) in spans.items():
        if re.search(rf"\b{said}\b", text):
            return Window(start, end, said)
    if re.search(r"\blast month\b", text):
        return _month_window(
            today.year - (today.month == 1), (today.month - 2) % 12 + 1, "last month"
        )
    return None


def _year(text: str, now: datetime) -> Window | None:
    found = re.search(r"\b(?:in|during|since|of)\s+((?:19|20)\d{2})\b", text)
    if not found:
        return None
    year = int(found[1])
    return Window(datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC), found[0])
