"""Headline edits: trivial classes (case, punctuation, a typo, an outlet suffix, a byline, an update marker, a time
stamp) never alert; each class that changes the meaning (an actor swapped, a negation, a figure, a watched place new
in the headline) alerts exactly once, through the pipeline on loopback feeds."""

from __future__ import annotations

import pytest

from monitor import headline
from tests.cluster_env import STORY, feeds, make_env, publish, rows, story  # noqa: F401  (fixtures)
from tests.test_pipeline import Item

BASE = "Ukraine recaptures Izium"


@pytest.mark.parametrize(("before", "after"), [
    pytest.param(BASE, "UKRAINE RECAPTURES IZIUM", id="case"),
    pytest.param(BASE, "Ukraine recaptures Izium!", id="punctuation"),
    pytest.param("Ukrane recaptures Izium", BASE, id="typo"),
    pytest.param(BASE, BASE + " - Reuters", id="outlet suffix"),
    pytest.param(BASE + " | Kyiv Independent", BASE + " — BBC News", id="outlet changed"),
    pytest.param(BASE, BASE + ", by John Smith", id="byline"),
    pytest.param(BASE, "UPDATE 1-" + BASE, id="update marker"),
    pytest.param(BASE + " (14:05 GMT)", BASE + " (15:30 GMT)", id="time stamp"),
])
async def test_a_trivial_headline_edit_never_alerts(make_env, before: str, after: str) -> None:  # noqa: F811
    env = await make_env()
    assert (await publish(env, "wire", story(STORY, "w-1", before))).alerts == 1
    report = await publish(env, "wire", story(STORY, "w-1", after))
    assert report.alerts == 0 and rows(env, "update") == []
    assert headline.classes(before, after) == frozenset()


@pytest.mark.parametrize(("before", "after", "kind"), [
    pytest.param(BASE, "Russia recaptures Izium", "actor", id="actor swapped"),
    pytest.param("Ukraine pushes Russia out of Izium", "Russia pushes Ukraine out of Izium", "actor",
                 id="actors reversed"),
    pytest.param(BASE, "Ukraine denies recapture of Izium", "negation", id="denial"),
    pytest.param("Ukraine has recaptured Izium", "Ukraine has not recaptured Izium", "negation", id="negation"),
    pytest.param("Ukraine retakes 2,000 square kilometers near Izium",
                 "Ukraine retakes 3,000 square kilometers near Izium", "figure", id="figure"),
    pytest.param(BASE, BASE + " and Lyman", None, id="a watched place new in the headline"),
])
async def test_a_headline_that_changes_meaning_alerts_once(make_env, before: str, after: str,  # noqa: F811
                                                           kind: str | None) -> None:
    env = await make_env()
    assert (await publish(env, "wire", story(STORY, "w-1", before))).alerts == 1
    assert (await publish(env, "wire", story(STORY, "w-1", after))).alerts == 1
    [update] = rows(env, "update")
    assert update["payload"]["title"] == after and after in update["payload"]["added"]
    assert before in update["payload"]["removed"]
    assert (await publish(env, "wire", story(STORY + " Read more", "w-1", after))).alerts == 0  # once
    if kind is not None:
        assert kind in headline.classes(before, after)


async def test_a_headline_change_of_an_unwatched_story_is_silent(make_env) -> None:  # noqa: F811
    env = await make_env()
    text = "Sunny skies over the Carpathians all week long, forecasters said on Monday morning."
    await publish(env, "wire", Item("Forecast: sunny week", text, guid="x-1"))
    assert (await publish(env, "wire", Item("Forecast: not a sunny week", text, guid="x-1"))).alerts == 0
    assert rows(env) == []


def test_core_strips_suffixes_and_keeps_meaningful_endings() -> None:
    assert headline.core("UPDATE 2-Ukraine recaptures Lyman | Kyiv Independent") == "Ukraine recaptures Lyman"
    assert headline.core("Kupiansk - Russia claims capture") == "Kupiansk - Russia claims capture"
    assert headline.core("Ukraine: Russia recaptures Lyman") == "Ukraine: Russia recaptures Lyman"
