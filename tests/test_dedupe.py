"""Tests of monitor.dedupe: the seed story's copies cluster together; other stories and short posts don't."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from monitor.dedupe import ClusterIndex, Signature, signature
from monitor.normalize import html_to_text, strip_boilerplate

T0 = datetime(2022, 9, 11, 12, 0, tzinfo=UTC)
WINDOW = timedelta(hours=48)
SEED_TITLE = "Ukraine furthers gains in Kharkiv region following major breakthrough"
SEED_ID = 1
BOILERPLATE = (
    "Go deeper:\nRead More\nRelated Articles\nLeave a Reply\nYour email address will not be published.\n"
    "Back to top button\nAdblock Detected\nPlease consider supporting us by disabling your ad blocker"
)
ADDED = "Officials in Kyiv said the counteroffensive would continue through the autumn despite heavy rain."

# Same topic, same places, different stories (must not match the seed or each other).
OTHER_STORIES = {
    "power grid strikes": (
        "Russian missiles hit power plants in Kharkiv",
        "Russian missile strikes knocked out electricity and water supplies across much of Kharkiv on Sunday "
        "evening, hours after Ukraine announced fresh gains in the surrounding region.\n"
        "Kharkiv's mayor Ihor Terekhov said a thermal power plant on the city's outskirts was hit twice and "
        "that crews were working through the night to restore power to hospitals and the metro.\n"
        "President Volodymyr Zelensky called the attacks deliberate and cynical, saying Moscow was punishing "
        "civilians for the defeats its army had suffered on the battlefield.\n"
        "Outages were also reported in the Poltava, Dnipropetrovsk and Sumy regions, according to the "
        "national grid operator, which said the situation had stabilised by Monday morning."
    ),
    "kupiansk evacuation": (
        "Ukraine orders evacuation of villages near Kupiansk",
        "Regional authorities ordered the mandatory evacuation of families with children from more than "
        "two dozen villages around Kupiansk on Wednesday as Russian artillery fire on the railway hub "
        "intensified.\n"
        "Oleh Syniehubov, the head of the Kharkiv regional military administration, said buses would run "
        "twice a day to Kharkiv and that residents who refused to leave would have to sign a waiver.\n"
        "Ukrainian forces recaptured Kupiansk last September, but the front line has since moved back to "
        "within a few kilometres of the Oskil river, and shelling now hits the town almost every day.\n"
        "Volunteers said many elderly residents were reluctant to abandon their homes and livestock before "
        "winter, despite the damage to gas and power lines in the district."
    ),
    "izyum burial site": (
        "Investigators exhume bodies at mass burial site in Izyum",
        "Ukrainian investigators began exhuming bodies from a mass burial site in a pine forest outside "
        "Izyum on Friday, days after the city was retaken from Russian forces.\n"
        "Officials said more than 440 graves had been found at the site, most marked with simple wooden "
        "crosses and numbers, and that some of the bodies showed signs of torture.\n"
        "The regional prosecutor said forensic teams would examine each body and collect DNA samples so "
        "that relatives could identify the dead, a process expected to take several weeks.\n"
        "The United Nations human rights office said it planned to send monitors to Izyum to look into "
        "reports of killings and other abuses during the six months of occupation."
    ),
    "analysis same lede": (
        "Ukrainian forces continue advance as Russian lines crumble",
        "Ukrainian forces have continued their advance into the Kharkiv region, and Western analysts now say "
        "the speed of the operation surprised even officials in Kyiv.\n"
        "The Institute for the Study of War said Russian commanders appeared to have been caught off guard, "
        "leaving behind tanks, artillery and ammunition as they pulled back across the Oskil river.\n"
        "Analysts cautioned that holding the recaptured territory would be harder than taking it, with "
        "supply lines stretched and autumn rains about to turn fields and dirt roads to mud.\n"
        "The Kremlin has not acknowledged the scale of the retreat, describing the withdrawal from Izyum and "
        "Balakliia as a planned regrouping of troops to strengthen positions in Donetsk."
    ),
    "ohio escaped prisoner": (
        "Ohio police recapture escaped prisoner after two-day manhunt",
        "Police in central Ohio recaptured an escaped prisoner on Saturday after a two-day manhunt that "
        "closed schools and kept residents of two counties indoors.\n"
        "The 34-year-old man had slipped away from deputies while being taken from the county jail to a "
        "hospital appointment on Thursday, the sheriff's office said in a statement.\n"
        "He was found hiding in a barn about 10 miles from the hospital after a farmer reported seeing a man "
        "in an orange jumpsuit cross a field, officials said. No one was hurt during the arrest.\n"
        "The sheriff said an internal review would look at how the transport was handled and whether "
        "deputies had followed procedures for restraining prisoners outside the jail."
    ),
}
TELEGRAM_POSTS = [
    "⚡️ Explosions in Kharkiv. Stay in shelters!",
    "Air raid alert in Kharkiv region. Proceed to the nearest shelter.",
    "Air raid alert in Kyiv region. Proceed to the nearest shelter.",
    "Russian forces shelled Kupiansk district overnight, one person wounded, regional governor says.",
    "Ukrainian forces entered Izyum, CNN reports.",
    "The air raid alert in Kharkiv region is over.",
]


@pytest.fixture
def seed_body(seed_text: str) -> str:
    """The seed article as the pipeline sees it: clean text, title line and boilerplate removed."""
    return "\n".join(strip_boilerplate(html_to_text(seed_text)).split("\n")[1:])


@pytest.fixture
def index(seed_body: str) -> ClusterIndex:
    idx = ClusterIndex(window=WINDOW)
    idx.add(SEED_ID, SEED_ID, signature(SEED_TITLE, seed_body), T0)
    return idx


def _variant(body: str, kind: str) -> tuple[str, str]:
    paragraphs = body.split("\n")
    variants = {
        "boilerplate appended": (SEED_TITLE, body + "\n" + BOILERPLATE),
        "title suffix": (SEED_TITLE + " - Scraper News", body),
        "truncated to two paragraphs": (SEED_TITLE, "\n".join(paragraphs[:2])),
        "one sentence added": (SEED_TITLE, "\n".join([paragraphs[0], ADDED, *paragraphs[1:]])),
        "curly apostrophes straightened": (SEED_TITLE, body.replace("’", "'")),
    }
    return variants[kind]


@pytest.mark.parametrize(
    "kind",
    [
        "boilerplate appended",
        "title suffix",
        "truncated to two paragraphs",
        "one sentence added",
        "curly apostrophes straightened",
    ],
)
def test_copy_finds_seed_cluster(index: ClusterIndex, seed_body: str, kind: str) -> None:
    assert index.find(signature(*_variant(seed_body, kind)), T0 + timedelta(hours=1)) == SEED_ID


def test_full_article_finds_earlier_summary(seed_body: str) -> None:
    idx = ClusterIndex(window=WINDOW)
    idx.add(7, 7, signature(*_variant(seed_body, "truncated to two paragraphs")), T0)
    assert idx.find(signature(SEED_TITLE, seed_body), T0) == 7


@pytest.mark.parametrize(("title", "text"), OTHER_STORIES.values(), ids=OTHER_STORIES.keys())
def test_other_story_does_not_match(index: ClusterIndex, title: str, text: str) -> None:
    assert index.find(signature(title, text), T0) is None


def test_other_stories_do_not_match_each_other() -> None:
    idx = ClusterIndex(window=WINDOW)
    for member_id, (title, text) in enumerate(OTHER_STORIES.values(), start=10):
        assert idx.find(signature(title, text), T0) is None
        idx.add(member_id, member_id, signature(title, text), T0)


@pytest.mark.parametrize("post", TELEGRAM_POSTS)
def test_short_post_does_not_match_seed(index: ClusterIndex, post: str) -> None:
    assert index.find(signature("", post), T0) is None


def test_short_posts_do_not_match_each_other() -> None:
    idx = ClusterIndex(window=WINDOW)
    for member_id, post in enumerate(TELEGRAM_POSTS, start=100):
        assert idx.find(signature("", post), T0) is None, post
        idx.add(member_id, member_id, signature("", post), T0)


def test_identical_short_post_matches() -> None:
    idx = ClusterIndex(window=WINDOW)
    idx.add(1, 1, signature("", TELEGRAM_POSTS[1]), T0)
    assert idx.find(signature("", TELEGRAM_POSTS[1]), T0) == 1


def test_copy_after_window_does_not_match(index: ClusterIndex, seed_body: str) -> None:
    assert index.find(signature(SEED_TITLE, seed_body), T0 + WINDOW) == SEED_ID
    assert index.find(signature(SEED_TITLE, seed_body), T0 + WINDOW + timedelta(seconds=1)) is None


def test_evict(index: ClusterIndex, seed_body: str) -> None:
    later = T0 + timedelta(hours=1)
    index.add(2, SEED_ID, signature(SEED_TITLE + " - Scraper News", seed_body), later)
    assert len(index) == 2
    assert index.evict(T0) == 0
    assert index.evict(T0 + timedelta(minutes=1)) == 1
    assert len(index) == 1 and index.find(signature(SEED_TITLE, seed_body), later) == SEED_ID
    assert index.evict(later + timedelta(seconds=1)) == 1
    assert len(index) == 0 and index.find(signature(SEED_TITLE, seed_body), later) is None


def test_readd_moves_member(index: ClusterIndex, seed_body: str) -> None:
    index.add(SEED_ID, 99, signature(SEED_TITLE, seed_body), T0 + timedelta(hours=2))
    assert len(index) == 1 and index.evict(T0 + timedelta(hours=1)) == 0
    assert index.find(signature(SEED_TITLE, seed_body), T0 + timedelta(hours=2)) == 99


def test_empty_text_never_indexed_nor_matched() -> None:
    idx = ClusterIndex(window=WINDOW)
    idx.add(1, 1, signature("", ""), T0)
    assert len(idx) == 0 and idx.find(signature("", "..."), T0) is None


def test_num_perm_mismatch_rejected() -> None:
    idx = ClusterIndex(window=WINDOW, num_perm=64)
    with pytest.raises(ValueError, match="permutations"):
        idx.add(1, 1, signature("", "some words here"), T0)


def test_signature_round_trip(seed_body: str) -> None:
    sig = signature(SEED_TITLE, seed_body)
    data = sig.to_bytes()
    assert Signature.from_bytes(data) == sig
    assert len(sig.hashvalues) == len(sig.lede) == 128 * 8 and len(data) < 1100
    with pytest.raises(ValueError):
        Signature.from_bytes(b"\x02" + data[1:])
    with pytest.raises(ValueError):
        Signature.from_bytes(data[:-4])


def test_signature_is_stable() -> None:
    """Stored signatures must stay comparable across processes, restarts and datasketch upgrades."""
    sig = signature("", "Ukrainian forces entered the city of Izyum on Saturday, CNN reported.")
    assert sig.size == 7
    assert hashlib.sha256(sig.to_bytes()).hexdigest()[:16] == STABLE_DIGEST


def test_signature_uses_title_only_for_short_text() -> None:
    long_text = " ".join(f"word{i}" for i in range(30))
    assert signature("A title", long_text) == signature("Another title", long_text)
    assert signature("A title", "short text") != signature("Another title", "short text")


STABLE_DIGEST = "c9c2edb845895fc6"  # sha256 prefix of to_bytes(), datasketch 2.0 affine32, seed 1


@pytest.mark.parametrize(
    "text",
    [
        "",
        "one",
        "four short words here",
        "Ukrainian forces entered the city of Izyum on Saturday, CNN reported.",
        " ".join(f"w{i % 37}" for i in range(200)),  # repeated shingles, a lede shorter than the text
    ],
)
def test_signature_is_datasketch_minhash(text: str) -> None:
    """The numpy signature gives datasketch's MinHash(128, seed 1, affine32) values, full and lede."""
    from datasketch import MinHash

    from monitor.dedupe import _shingles, _tokens

    tokens = _tokens(text)
    sig = signature("", text)

    def reference(words: list[str]) -> bytes:
        mh = MinHash(num_perm=128, seed=1, scheme="affine32")
        mh.update_batch(set(_shingles(words)))
        return bytes(np.asarray(mh.hashvalues).astype("<u8").tobytes())

    assert sig.hashvalues == reference(tokens) and sig.lede == reference(tokens[:60])
    assert sig.size == len(set(_shingles(tokens)))
