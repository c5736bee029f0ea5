"""explain(): one Verdict per watch, agreeing with match(), with the evidence sentence and the reasons."""

from __future__ import annotations

import pytest

from monitor.config.models import Watch
from monitor.explain import Verdict, explain
from monitor.gazetteer import Gazetteer
from monitor.match import CompiledWatchlist, compile_watches, match


@pytest.fixture(scope="module")
def watchlist() -> CompiledWatchlist:
    watches = [
        Watch(name="kharkiv", preset="territorial-gain", places=["Izium", "Kupiansk"], severity="critical"),
        Watch(name="drills", any=["exercise*"], none=["fake"]),
        Watch(name="genstaff-only", preset="territorial-gain", places=["Izium"], sources=["genstaff"]),
        Watch(name="needs-all", any=["recaptur*"], all=["ukrainian forces"]),
        Watch(name="title-only", preset="territorial-gain", places=["Kupiansk"], scope="title"),
    ]
    return compile_watches(watches, Gazetteer.load())


def by_name(verdicts: list[Verdict]) -> dict[str, Verdict]:
    return {v.watch: v for v in verdicts}


STORIES = [
    ("Ukrainian forces recaptured Izium", "Fighting continues."),
    ("Update", "Russian troops withdrew from Kupiansk. Separately, drills and exercises went on."),
    ("Exercises near Kharkiv were fake", ""),
    ("Kupiansk", "The city was shelled overnight. Weeks later the army withdrew from the area, officials said."),
    ("Russia claims its troops entered Kupiansk", "Ukraine denied it."),
    ("", ""),
]


@pytest.mark.parametrize(("title", "text"), STORIES)
@pytest.mark.parametrize("source", [None, "genstaff", "bbc"])
def test_matched_verdicts_agree_with_match(watchlist: CompiledWatchlist, title: str, text: str,
                                           source: str | None) -> None:
    verdicts = explain(watchlist, title, text, source=source)
    assert [v.watch for v in verdicts] == [w.name for w in watchlist.watches]
    matched = [(v.watch, v.terms, v.places, v.severity) for v in verdicts if v.matched]
    assert matched == [(m.watch, m.terms, m.places, m.severity) for m in match(watchlist, title, text, source=source)]
    assert all(v.reasons for v in verdicts if not v.matched)


def test_evidence_sentence_and_reasons(watchlist: CompiledWatchlist) -> None:
    verdicts = by_name(explain(watchlist, "Update", "Shelling in Izium. Russian troops withdrew from Kupiansk. "
                                                    "Exercises went on.", source="bbc"))
    kharkiv = verdicts["kharkiv"]
    assert kharkiv.matched and kharkiv.severity == "critical"
    assert kharkiv.sentences == ("Russian troops withdrew from Kupiansk.",)
    assert kharkiv.places == ("Izium", "Kupiansk") and kharkiv.terms == ("withdrew",)
    assert verdicts["drills"].matched
    assert verdicts["genstaff-only"].reasons == ("source 'bbc' out of scope (sources: genstaff)",)
    assert verdicts["needs-all"].reasons == ("`all` term 'ukrainian forces' missing",)
    assert verdicts["title-only"].reasons == ("no term of the preset or `any` found in the title",)


def test_none_term_and_missing_place_reasons(watchlist: CompiledWatchlist) -> None:
    verdicts = by_name(explain(watchlist, "Exercises were fake", "Troops recaptured a village."))
    assert verdicts["drills"].reasons == ("`none` term 'fake' present",)
    assert verdicts["kharkiv"].reasons == ("no place of `places`/`area` found",)


def test_proximity_reason(watchlist: CompiledWatchlist) -> None:
    text = ("Kupiansk residents queued for water on Monday. Officials counted damaged houses in every district "
            "of the region. Weeks later, far from there, an army withdrew from its positions in another country.")
    verdict = by_name(explain(watchlist, "Life goes on", text))["kharkiv"]
    assert not verdict.matched
    assert verdict.reasons == ("terms and places not within 12 words nor in one sentence",)


def test_attribution_cue_lowers_severity_with_a_reason(watchlist: CompiledWatchlist) -> None:
    verdict = by_name(explain(watchlist, "Russia claims its troops entered Kupiansk", ""))["kharkiv"]
    assert verdict.matched and verdict.severity == "high"
    assert verdict.reasons == ("severity lowered: attribution or negation cue 'claims'",)
    (found,) = [m for m in match(watchlist, "Russia claims its troops entered Kupiansk", "") if m.watch == "kharkiv"]
    assert found.severity == "high"
