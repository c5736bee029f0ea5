"""Alert planning: one "new" per watch and channel, "update" only for added watched facts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from monitor import alerting
from monitor.alerting import excerpt, plan_new, plan_update
from monitor.models import Change, Match, Story

STORY = Story(key="guid:1", url="https://example.org/a", title="Ukraine furthers gains", text="Body.",
              published=None, fingerprint="f")
CHANGE = Change(added=("Ukrainian forces recaptured the village of Chkalovske.",), removed=())


def m(terms: tuple[str, ...] = ("withdrew",), places: tuple[str, ...] = ("Izium",),
      notify: tuple[str, ...] = ("slack", "email")) -> Match:
    return Match(watch="kharkiv", terms=terms, places=places, notify=notify)


def test_new_story_gives_one_draft_per_channel() -> None:
    drafts = plan_new(STORY, [m()], ["axios"])
    assert [(d.alert.channel, d.alert.kind) for d in drafts] == [("slack", "new"), ("email", "new")]
    assert drafts[0].hits == ("place:Izium", "withdrew")
    assert drafts[0].alert.sources == ("axios",)


@pytest.mark.parametrize(
    ("now", "before", "alerted", "change", "expected"),
    [
        pytest.param(m(places=("Izium", "Chkalovske")), [m()], {"kharkiv": m().hits}, CHANGE, ["update"] * 2,
                     id="added place alerts as update"),
        pytest.param(m(), [m()], {"kharkiv": m().hits}, CHANGE, [], id="nothing watched added: stored only"),
        pytest.param(m(places=("Izium", "Chkalovske")), [m()], {"kharkiv": m().hits}, None, [],
                     id="cosmetic change never alerts"),
        pytest.param(m(places=("Izium", "Chkalovske")), [m()],
                     {"kharkiv": m(places=("Izium", "Chkalovske")).hits}, CHANGE, [],
                     id="fact already alerted in the cluster"),
        pytest.param(m(), [], {}, CHANGE, ["new"] * 2, id="first match of a watch is a new alert"),
        pytest.param(m(places=("Izium", "Chkalovske")), [m()], {"kharkiv": m().hits},
                     Change(added=(), removed=("x",)), [], id="removal only never alerts"),
    ],
)
def test_update_planning(now: Match, before: list[Match], alerted: dict[str, frozenset[str]],
                         change: Change | None, expected: list[str]) -> None:
    drafts = plan_update(STORY, change, [now], before, alerted, ["axios"])
    assert [d.alert.kind for d in drafts] == expected


def test_update_carries_change_lines() -> None:
    drafts = plan_update(STORY, CHANGE, [m(places=("Izium", "Chkalovske"))], [m()], {"kharkiv": m().hits}, ["a"])
    assert drafts[0].alert.added == CHANGE.added
    assert "place:Chkalovske" in drafts[0].hits


@pytest.mark.parametrize(("text", "limit", "expected"), [
    ("short text", 50, "short text"),
    ("one two three four five", 12, "one two …"),
    ("  spaced\n\nlines  ", 50, "spaced lines"),
])
def test_excerpt(text: str, limit: int, expected: str) -> None:
    assert excerpt(text, limit) == expected


@pytest.mark.parametrize(("age_hours", "published", "expected"), [
    pytest.param(1, True, 2, id="fresh story alerts"),
    pytest.param(100, True, 0, id="backlog older than max_age is stored silently"),
    pytest.param(100, False, 2, id="no date: treated as fresh"),
])
def test_stale_entries_never_alert(age_hours: int, published: bool, expected: int) -> None:
    now = datetime(2022, 9, 11, 16, 0, tzinfo=UTC)
    story = replace(STORY, published=now - timedelta(hours=age_hours) if published else None)
    assert len(plan_new(story, [m()], ["a"], now=now, max_age=timedelta(hours=72))) == expected


def _term_hits(sentence: str) -> dict[str, frozenset[str]]:
    """A stand-in for match.hits: watch w's term is "square kilometers", its place Izium."""
    found = {"square kilometers"} if "square kilometers" in sentence or "кв. км" in sentence else set()
    found |= {"place:Izium"} if "Izium" in sentence else set()
    return {"w": frozenset(found)}


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Forces retook more than 3,000 square kilometers.", {"figure:3000"}),
        ("Forces retook more than 3 000 square kilometers.", {"figure:3000"}),
        ("Forces retook more than 3000 square kilometers.", {"figure:3000"}),
        ("понад 3000 кв. км повернуто", {"figure:3000"}),
        ("Forces retook 2.5 thousand square kilometers.", {"figure:2.5"}),
        ("Forces entered Izium on 10 September.", set()),  # a place alone is no watched term
        ("The weather was 12 degrees.", set()),
    ],
)
def test_figures_are_numbers_beside_a_watched_term(sentence: str, expected: set[str]) -> None:
    assert alerting.figures([sentence], _term_hits).get("w", frozenset()) == expected
