"""Watch matching: terms, phrases, wildcards, places in Latin and Cyrillic (case endings), config errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from monitor.errors import ConfigError
from monitor.gazetteer import Gazetteer
from monitor.match import CompiledWatchlist, compile_watches, match, term_regex
from monitor.presets import PRESETS

KHARKIV_PLACES = ["Kharkiv", "Izium", "Balakliia", "Kupiansk", "Chkalovske"]


@dataclass
class Watch:
    name: str = "kharkiv"
    preset: str | None = None
    any: list[str] = field(default_factory=list)
    all: list[str] = field(default_factory=list)
    none: list[str] = field(default_factory=list)
    places: list[Any] = field(default_factory=list)
    notify: list[str] = field(default_factory=lambda: ["desk"])
    severity: str = "high"
    area: dict[str, object] | None = None
    near: int | str | None = None
    scope: str = "title+text"
    sources: list[str] | None = None
    source_tags: list[str] | None = None


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer.load()


@pytest.fixture(scope="module")
def kharkiv(gazetteer: Gazetteer) -> CompiledWatchlist:
    return compile_watches([Watch(preset="territorial-gain", places=KHARKIV_PLACES)], gazetteer)


def compiled(gazetteer: Gazetteer, **watch: object) -> CompiledWatchlist:
    return compile_watches([Watch(**watch)], gazetteer)  # type: ignore[arg-type]


def test_seed_story_matches_with_places_and_terms(kharkiv: CompiledWatchlist, seed_text: str) -> None:
    title, _, body = seed_text.strip().partition("\n")
    (found,) = match(kharkiv, title, body)
    assert found.watch == "kharkiv" and found.notify == ("desk",)
    # the text writes Izyum and Balakleya; places are reported by the watch's own spelling
    assert {"Izium", "Kupiansk", "Kharkiv", "Chkalovske", "Balakliia"} <= set(found.places)
    assert {"withdrew", "square kilometers", "recaptur*", "entered", "forces reached"} <= set(found.terms)
    assert list(found.terms) == sorted(found.terms) and list(found.places) == sorted(found.places)


@pytest.mark.parametrize(
    ("text", "terms", "places"),
    [
        ("Police in Ohio recaptured an escaped prisoner", None, None),
        ("Southgate wants to recapture happy-ship energy", None, None),
        ("Kharkiv hosts a book fair", None, None),
        ("Сили оборони звільнили Чкаловське на Харківщині", ("звільн*",), ("Chkalovske",)),
        ("ВСУ вошли в Изюм, российские войска отступили из Балаклеи", ("вошли в", "отступ*"),
         ("Balakliia", "Izium")),
        ("Ukrainian forces retook Izyum", ("retook",), ("Izium",)),
        ("Russian troops withdrawn from Kupiansk district", ("withdrawn",), ("Kupiansk",)),
        ("Kharkiv's defenders recaptured Kup’yansk", ("recaptur*",), ("Kharkiv", "Kupiansk")),
        ("Over 3,000 sq km around Izium were retaken", ("retake*", "sq. km"), ("Izium",)),
        ("Понад 3000 кв.км повернуто, у т.ч. біля Ізюма", ("кв. км", "повернуто"), ("Izium",)),
        ("ЗСУ увійшли в Куп'янськ", ("увійшли в",), ("Kupiansk",)),
        ("Rapid de-occupation of Balakliia", ("de-occup*",), ("Balakliia",)),
        ("The deoccupation of Balakliia", ("de-occup*",), ("Balakliia",)),
    ],
    ids=["no-place-ohio", "no-place-football", "place-without-term", "ukrainian", "russian-inflected",
         "english-retook", "phrase", "possessive-and-latin-apostrophe", "wildcard-and-sq-km",
         "kv-km-no-space", "ukrainian-entered", "hyphenated", "hyphen-optional"],
)  # fmt: skip
def test_preset_with_places(
    kharkiv: CompiledWatchlist, text: str, terms: tuple[str, ...] | None, places: tuple[str, ...] | None
) -> None:
    found = match(kharkiv, text, "")
    if terms is None:
        assert found == []
    else:
        assert [(m.terms, m.places) for m in found] == [(terms, places)]


@pytest.mark.parametrize(
    ("text", "place"),
    [
        ("Бої за Куп'янськ", "Kupiansk"),
        ("Бої за Куп’янськ", "Kupiansk"),
        ("Бої за Купʼянськ", "Kupiansk"),
        ("Бої за Куп`янськ", "Kupiansk"),
        ("Бої за Купянськ", "Kupiansk"),
        ("поблизу Куп'янська", "Kupiansk"),
        ("у Куп'янську", "Kupiansk"),
        ("у Харкові", "Kharkiv"),
        ("до Харкова", "Kharkiv"),
        ("под Харьковом", "Kharkiv"),
        ("в Ізюмі", "Izium"),
        ("из Изюма", "Izium"),
        ("з Балаклії", "Balakliia"),
        ("Чкаловського", "Chkalovske"),
        ("у Харкiв (Latin i)", "Kharkiv"),
        ("KHARKIV", "Kharkiv"),
        ("Izyum", "Izium"),
        ("Izium's", "Izium"),
        ("Iziumske", None),
        ("Izyumka", None),
        ("ізюм у тісті", None),
        ("kharkiv", None),
        ("Ізюмський", None),
    ],
    ids=["apostrophe-ascii", "apostrophe-right-quote", "apostrophe-modifier", "apostrophe-backtick",
         "apostrophe-none", "genitive", "locative", "locative-i-to-o", "genitive-i-to-o",
         "russian-instrumental", "locative-izium", "russian-genitive", "ukrainian-genitive",
         "adjectival-genitive", "latin-i-in-cyrillic", "all-caps", "latin-variant", "latin-possessive",
         "latin-derivative-no", "latin-suffix-no", "lower-case-word-no", "lower-case-latin-no",
         "long-derivative-no"],
)  # fmt: skip
def test_place_spellings(gazetteer: Gazetteer, text: str, place: str | None) -> None:
    places_only = compiled(gazetteer, places=KHARKIV_PLACES)
    found = match(places_only, text, "")
    assert [m.places for m in found] == ([(place,)] if place else [])


@pytest.mark.parametrize(
    ("terms", "text", "expected"),
    [
        (["recaptur*"], "they recaptured it", ("recaptur*",)),
        (["recaptur*"], "recapturing", ("recaptur*",)),
        (["recaptur*"], "the unrecaptured town", None),  # a prefix wildcard only extends the end
        (["Recaptur*"], "RECAPTURE", ("recaptur*",)),  # canonical: lower case
        (["retook"], "retooked", None),  # whole words
        (["withdrew"], "withdrewal", None),
        (["entered the city"], "entered\n the  city", ("entered the city",)),
        (['"entered the city"'], "entered — “the city”", ("entered the city",)),
        (["entered the city"], "entered the cityscape", None),
        (["звільн*"], "ЗВІЛЬНЕНО", ("звільн*",)),
        (["звільн*"], "незвільнений", None),
        (["вошли в"], "вошли во", None),
        (["withdrew", "retook"], "withdrew and retook", ("retook", "withdrew")),
        (["taken control", "control"], "taken control", ("control", "taken control")),  # nested terms
    ],
    ids=["wildcard", "wildcard-ing", "wildcard-not-inside", "case", "whole-word", "whole-word-2",
         "phrase-gap", "quoted-phrase-punctuation", "phrase-whole-word", "cyrillic-case",
         "cyrillic-not-inside", "cyrillic-word-boundary", "several-sorted", "nested-terms-both"],
)  # fmt: skip
def test_any_terms(
    gazetteer: Gazetteer, terms: list[str], text: str, expected: tuple[str, ...] | None
) -> None:
    found = match(compiled(gazetteer, any=terms), text, "")
    assert [m.terms for m in found] == ([expected] if expected else [])


@pytest.mark.parametrize(
    ("text", "matched"),
    [
        ("Ukrainian forces recaptured Izium", True),
        ("Ukrainian forces recaptured Izium in a drill", False),
        ("Exercise: forces recaptured Izium", False),
        ("Forces recaptured Izium in exercises", True),  # none-terms are whole words too
    ],
    ids=["plain", "none-drill", "none-exercise", "none-whole-word"],
)
def test_none_terms_suppress(gazetteer: Gazetteer, text: str, matched: bool) -> None:
    watches = compiled(gazetteer, preset="territorial-gain", none=["exercise", "drill"], places=["Izium"])
    assert bool(match(watches, text, "")) is matched


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("Ukrainian forces recaptured Izium", ("izium", "recaptur*", "ukrainian forces")),
        ("Ukrainian forces recaptured Kupiansk", None),
        ("Forces recaptured Izium", None),
        ("Ukrainian forces in Izium", None),  # all terms present, but none of ``any``
    ],
    ids=["all-present", "one-all-missing", "other-all-missing", "any-missing"],
)
def test_all_terms_required(gazetteer: Gazetteer, text: str, terms: tuple[str, ...] | None) -> None:
    watches = compiled(gazetteer, any=["recaptur*"], all=["ukrainian forces", "Izium"])
    assert [m.terms for m in match(watches, text, "")] == ([terms] if terms else [])


def test_title_and_text_are_searched_together(gazetteer: Gazetteer) -> None:
    watches = compiled(gazetteer, preset="territorial-gain", places=["Izium"])
    found = match(watches, "Izium update", "Russian forces withdrew overnight.")
    assert [(m.terms, m.places) for m in found] == [(("withdrew",), ("Izium",))]


def test_several_watches_in_order_with_their_notify(gazetteer: Gazetteer) -> None:
    watches = compile_watches(
        [
            Watch(name="kupiansk", preset="territorial-gain", places=["Kupiansk"], notify=["a"]),
            Watch(name="izium", preset="territorial-gain", places=["Izium"], notify=["b", "c"]),
            Watch(name="anything-recaptured", any=["recaptur*"]),
        ],
        gazetteer,
    )
    found = match(watches, "Izium recaptured", "")
    assert [(m.watch, m.notify) for m in found] == [("izium", ("b", "c")), ("anything-recaptured", ("desk",))]


def test_place_with_oblast_picks_one_of_several(gazetteer: Gazetteer) -> None:
    watches = compiled(gazetteer, places=["Kamianka, Cherkasy"])
    assert [m.places for m in match(watches, "Shelling near Kamianka", "")] == [("Kamianka, Cherkasy",)]
    assert [m.places for m in match(watches, "Обстріл у Кам'янці", "")] == [("Kamianka, Cherkasy",)]


def test_preset_terms_are_all_valid_and_unique() -> None:
    for name, terms in PRESETS.items():
        canonical = [term_regex(t)[0] for t in terms]
        assert len(set(canonical)) == len(canonical), name
        assert not any(t in {"advance", "attack", "control", "forces"} for t in canonical)


def test_errors_are_all_reported_with_paths(gazetteer: Gazetteer) -> None:
    watches = [
        Watch(preset="x", any=["recaptur*", "*", "re*cap", "re*"], places=["Izium", "", "Kharkov-on-Sea"]),
        Watch(all=[""], none=["  "], places=["Kamianka, Narnia"]),
        Watch(),
    ]
    with pytest.raises(ConfigError) as caught:
        compile_watches(watches, gazetteer)
    assert caught.value.problems == [
        "watches.0.preset: unknown preset 'x' (known: territorial-gain)",
        "watches.0.any.1: invalid term '*': a wildcard needs at least 3 letters before '*'",
        "watches.0.any.2: invalid term 're*cap': '*' is only allowed at the end of a word",
        "watches.0.any.3: invalid term 're*': a wildcard needs at least 3 letters before '*'",
        "watches.0.places.1: unknown place ''",
        "watches.0.places.2: unknown place 'Kharkov-on-Sea'",
        "watches.1.all.0: invalid term '': empty term",
        "watches.1.none.0: invalid term '  ': empty term",
        "watches.1.places.0: unknown place 'Kamianka, Narnia'",
        "watches.2: a watch needs a preset, terms or places (it would match every story)",
    ]


# --- rule language: proximity, scope, sources, areas, long-form places -------------------------------------

FAR = ("Kupiansk residents queued for water on Monday. Officials counted the damaged houses in every single "
       "district. Weeks later an army withdrew from positions.")


@pytest.mark.parametrize(
    ("near", "text", "matched"),
    [
        (None, "Russian troops withdrew from Kupiansk.", True),
        (None, FAR, False),  # default: one sentence or 12 words
        (None, "Kupiansk, a railway hub. Russian troops withdrew overnight.", True),  # within 12 words
        ("story", FAR, True),
        ("sentence", "Kupiansk is quiet. Troops withdrew.", False),
        ("sentence", "Troops withdrew from the outskirts of the town of Kupiansk, said the governor.", True),
        (3, "Troops withdrew from the outskirts of Kupiansk", False),
        (3, "Troops withdrew from central Kupiansk", True),
    ],
    ids=["same-sentence", "far-apart", "next-sentence-close", "story", "sentence-only-apart",
         "sentence-only-long", "three-words-no", "three-words-yes"],
)
def test_near_between_terms_and_places(gazetteer: Gazetteer, near: object, text: str, matched: bool) -> None:
    watches = compiled(gazetteer, preset="territorial-gain", places=["Kupiansk"], near=near)
    assert bool(match(watches, "Update", text)) is matched


def test_near_slash_n_form() -> None:
    from monitor.config.models import Watch as ConfigWatch

    assert ConfigWatch(name="w", any=["x"], near="NEAR/7").near == 7
    assert ConfigWatch(name="w", any=["x"], near="sentence").near == "sentence"


def test_title_counts_with_the_lead_sentence(gazetteer: Gazetteer) -> None:
    watches = compiled(gazetteer, preset="territorial-gain", places=["Kupiansk"])
    assert match(watches, "Kupiansk", "Russian troops withdrew overnight. Other news.")
    assert not match(watches, "Kupiansk", "Residents queued for water in long lines on Monday morning and "
                                          "again on Tuesday. Elsewhere, in a distant land, an army withdrew.")


def test_scope_title(gazetteer: Gazetteer) -> None:
    watches = compiled(gazetteer, preset="territorial-gain", places=["Izium"], scope="title")
    assert match(watches, "Ukraine retook Izium", "")
    assert not match(watches, "Weekly roundup", "Ukraine retook Izium")


def test_sources_and_source_tags_scope(gazetteer: Gazetteer) -> None:
    by_source = compiled(gazetteer, any=["retook"], sources=["genstaff"])
    assert match(by_source, "Ukraine retook it", "", source="genstaff")
    assert not match(by_source, "Ukraine retook it", "", source="bbc")
    assert match(by_source, "Ukraine retook it", "")  # no source given (ad-hoc text): in scope
    by_tag = compiled(gazetteer, any=["retook"], source_tags=["official"])
    assert match(by_tag, "Ukraine retook it", "", source="genstaff", tags=["official", "uk"])
    assert not match(by_tag, "Ukraine retook it", "", source="bbc", tags=["media"])


@pytest.mark.parametrize(
    ("area", "text", "places"),
    [
        ({"near": "Kupiansk", "km": 30}, "Ukrainian forces liberated Petropavlivka", ("Petropavlivka",)),
        ({"near": "Kupiansk", "km": 30}, "ЗСУ звільнили Ківшарівку", ("Kivsharivka",)),
        ({"near": "Kupiansk", "km": 30}, "Ukrainian forces liberated Izium", None),  # ~80 km away
        ({"oblast": "Kharkiv"}, "Ukrainian forces liberated Balakliia and Izium", ("Balakliia", "Izium")),
        ({"oblast": "Kharkiv"}, "Russian forces captured Pokrovsk", None),  # Donetsk oblast
    ],
    ids=["near-latin", "near-cyrillic-inflected", "near-outside", "oblast", "oblast-outside"],
)
def test_area_watches(gazetteer: Gazetteer, area: dict[str, object], text: str,
                      places: tuple[str, ...] | None) -> None:
    watches = compiled(gazetteer, preset="territorial-gain", area=area)
    names = tuple(sorted(gazetteer.resolve(p)[0].name for p in places or ()))  # labels: the gazetteer's names
    assert [m.places for m in match(watches, text, "")] == ([names] if places else [])


def test_long_form_place(gazetteer: Gazetteer) -> None:
    watches = compiled(gazetteer, places=[{"name": "Kamianka", "oblast": "Cherkasy"}])
    assert [m.places for m in match(watches, "Shelling near Kamianka", "")] == [("Kamianka, Cherkasy",)]


def test_matching_reports_every_watch_from_one_scan(gazetteer: Gazetteer) -> None:
    watches = compile_watches([Watch(name=f"w{i}", preset="territorial-gain", places=[p])
                               for i, p in enumerate(KHARKIV_PLACES)], gazetteer)
    found = match(watches, "Ukraine retook Izium and Balakliia", "")
    assert [m.watch for m in found] == ["w1", "w2"]


CONFIG = """\
sources:
  - name: genstaff
    url: https://example.org/rss
    tags: [official]
watches:
  - name: a
    any: ["re*cap"]
    places: [{name: Kamianka, oblast: Narnia}]
    area: {near: Atlantis, km: 30}
    sources: [genstaf]
    source_tags: [offical]
  - name: b
    near: often
    scope: body
    area: {km: 5}
"""


def test_rule_errors_have_file_line_col(gazetteer: Gazetteer) -> None:
    from monitor.config import loader

    with pytest.raises(ConfigError) as caught:
        loader.parse_text(CONFIG, "w.yaml", environ={}, check=lambda c: compile_watches(c.watches, gazetteer))
    assert caught.value.problems == [
        "w.yaml:10:15: watches.0.sources.0: unknown source 'genstaf'",
        "w.yaml:11:19: watches.0.source_tags.0: unknown source tag 'offical'",
        "w.yaml:13:11: watches.1.near: expected a number of words (0-200), sentence or story (got 'often')",
        "w.yaml:14:12: watches.1.scope: Input should be 'title' or 'title+text' (got 'body')",
        "w.yaml:15:11: watches.1.area: an area needs either near: (a place, with km:) or oblast:",
    ]
    good = CONFIG.replace("genstaf]", "genstaff]").replace("offical", "official").split("  - name: b")[0]
    with pytest.raises(ConfigError) as caught:
        loader.parse_text(good, "w.yaml", environ={}, check=lambda c: compile_watches(c.watches, gazetteer))
    assert caught.value.problems == [
        "w.yaml:7:11: watches.0.any.0: invalid term 're*cap': '*' is only allowed at the end of a word",
        "w.yaml:8:14: watches.0.places.0: unknown place 'Kamianka' in Narnia oblast",
        "w.yaml:9:11: watches.0.area: unknown place 'Atlantis'",
    ]


def test_quick_anchors_agree_with_the_regex_parser(gazetteer: Gazetteer) -> None:
    """Every automaton anchor read without parsing is a prefix of what the stdlib parser says a match starts with."""
    import re._parser as sre

    from monitor.match_anchors import _prefixes, _quick_prefix

    watches = compiled(gazetteer, preset="territorial-gain", places=KHARKIV_PLACES, area={"oblast": "Kharkiv"})
    assert len(watches.patterns) > 1000
    for pattern in watches.patterns:
        quick = _quick_prefix(pattern.source)
        parsed, _ = _prefixes(sre.parse(pattern.source), {""})
        assert all(p.startswith(quick) for p in parsed), pattern.source
    assert not watches.unanchored


def test_matching_agrees_with_plain_regex_search(gazetteer: Gazetteer) -> None:
    """The automaton finds exactly the pattern occurrences a regex search from every position finds."""
    from monitor.match import scan

    watches = compiled(gazetteer, preset="territorial-gain", places=KHARKIV_PLACES)
    text = ("Ukrainian forces recaptured Kup'yansk and entered Izyum; 3,000 sq.km returned. ЗСУ звільнили Балаклію, "
            "увійшли в Ізюм; ВСУ отошли из Харькова? Понад 3000 кв. км повернуто. Rosjanie wycofali się z Izium. "
            "KHARKIV, kharkiv, (Izium), «Ізюм», 'Kupiansk', x-Izium, Izium_, ІЗЮМ RECAPTURED Recaptured.")
    found = scan(watches, "Title", text)
    for pid, pattern in enumerate(watches.patterns):
        subject = found.folded if pattern.on_folded else found.lowered
        expected = {i: m.end() for i in range(len(subject)) if (m := pattern.regex.match(subject, i))}
        assert found.hits.get(pid, {}) == expected, pattern.source
