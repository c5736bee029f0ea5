"""The rule author's tools: ``backtest`` on a small stored corpus (built with the store functions) and on the
golden scenario's database (it must count exactly the "new" alerts the real pipeline sent), ``check``'s lint
(dead terms, redundant terms, ambiguous and unknown places, overlapping watches; errors exit 1, warnings 0)
and ``explain`` (a stored story by id, alert id or link, and ad-hoc text)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor import author_cmd, demo
from monitor import config as config_mod
from monitor.backtest import StoredStory, backtest
from monitor.cli import main
from monitor.context import load_gazetteer
from monitor.daemon import load_config
from monitor.dedupe import signature
from monitor.explain import Verdict
from monitor.gazetteer import Gazetteer
from monitor.lint import lint, sample, suggest
from monitor.models import Story
from monitor.normalize import fingerprint
from monitor.store import sources as store_sources
from monitor.store import stories as store_stories
from monitor.store.engine import make_engine, upgrade
from monitor.store.schema import alerts
from tests.loglevels import levels_kept

T = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
CORPUS_CONFIG = """\
database: sqlite:///{dir}/corpus.db
settings: {{max_age: 72h}}
channels:
  desk: "json://127.0.0.1:9/desk"
watches:
  - {{name: gains, preset: territorial-gain, places: [Izium, Kupiansk], notify: [log, desk]}}
  - {{name: bakhmut, any: [liberated, recaptured], places: [Bakhmut], notify: [desk]}}
  - {{name: corroborated, any: [encircled], min_sources: 2}}
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("NEWS_MONITOR_DATABASE_URL", raising=False)
    with levels_kept():
        yield


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return load_gazetteer()


def story(title: str, text: str, *, key: str, published: datetime | None = None) -> Story:
    return Story(key=key, url=f"https://news.example/{key}", title=title, text=text, published=published,
                 fingerprint=fingerprint(title, text))


class Corpus:
    """A database filled through the store functions the pipeline uses (no alerts planned: only stories)."""

    def __init__(self, folder: Path) -> None:
        self.config = folder / "watchlist.yaml"
        self.config.write_text(CORPUS_CONFIG.format(dir=folder), encoding="utf-8")
        self.engine = make_engine(f"sqlite:///{folder / 'corpus.db'}")
        upgrade(self.engine)
        self.ids: dict[str, int] = {}

    def add(self, source: str, s: Story, seen: datetime, cluster: str | None = None) -> int:
        """Store ``s`` from ``source`` first seen at ``seen``, in the cluster of story ``cluster`` (a key)."""
        src = store_sources.ensure(self.engine, source, f"https://{source}.example/feed")
        cluster_id = self.cluster(cluster) if cluster else None
        stored = store_stories.insert_new(self.engine, src.id, s, signature(s.title, s.text).to_bytes(),
                                          cluster_id, [], seen)
        assert stored is not None
        self.ids[s.key] = stored[0]
        return stored[1]

    def cluster(self, key: str) -> int:
        with self.engine.connect() as conn:
            from monitor.store.schema import stories

            return int(conn.execute(select(stories.c.cluster_id).where(stories.c.key == key)).scalar_one())

    def edit(self, source: str, s: Story, seen: datetime) -> None:
        src = store_sources.ensure(self.engine, source, f"https://{source}.example/feed")
        known = store_stories.find(self.engine, src.id, s.key)
        assert known is not None
        store_stories.insert_version(self.engine, known, s, [], seen)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    c = Corpus(tmp_path_factory.mktemp("corpus"))
    h = timedelta(hours=1)
    c.add("a", story("Ukrainian forces liberated Izium", "The city was liberated after months.", key="izium-a",
                     published=T - h), T)
    c.add("b", story("Izium liberated, officials say", "Officials confirm Izium was liberated.", key="izium-b"),
          T + h, cluster="izium-a")
    c.add("a", story("Kupiansk recaptured by Ukraine", "Troops recaptured Kupiansk last week.", key="kup-a",
                     published=T - timedelta(days=5)), T + h)  # a backlog entry: never alerts
    c.add("c", story("Forces recaptured Kupiansk", "Ukrainian forces recaptured Kupiansk.", key="kup-c"),
          T + 2 * h, cluster="kup-a")  # a later copy of it does
    c.add("a", story("Bakhmut: troops recaptured a district", "They recaptured a district of Bakhmut.",
                     key="bakh-1"), T + 3 * h)
    c.add("a", story("Weather in Bakhmut", "Rain all week in Bakhmut.", key="bakh-2"), T + 4 * h)
    c.edit("a", story("Villages near Bakhmut liberated", "Ukraine liberated villages near Bakhmut.",
                      key="bakh-2"), T + 5 * h)  # its latest version matches
    c.add("a", story("Izium liberated", "Old news: Izium was liberated.", key="old"), T - timedelta(days=10))
    c.add("a", story("Troops encircled the town", "The town was encircled overnight.", key="enc-a"), T + 6 * h)
    c.add("b", story("Town encircled", "Reports say the town was encircled.", key="enc-b"), T + 7 * h,
          cluster="enc-a")
    c.add("c", story("Southgate wants to recapture happy-ship energy", "England prepares.", key="sport"), T + 8 * h)
    return c


# -- backtest --------------------------------------------------------------------------------------------------

def table(out: str) -> dict[tuple[str, str], list[int]]:
    rows = re.findall(r"^(\S+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$", out, re.MULTILINE)
    return {(w, ch): [int(n) for n in nums] for w, ch, *nums in rows}


def test_backtest_counts_after_dedup_backlog_and_corroboration(
    corpus: Corpus, capsys: pytest.CaptureFixture[str]
) -> None:
    code = author_cmd.backtest_cmd(corpus.config, since="7d", now=T + timedelta(days=1))
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("9 stories first seen 2025-05-26 12:00 - 2025-06-02 12:00 UTC")  # not the 10-day old
    #                         alerts matched same-cluster backlog few-sources
    assert table(out) == {("gains", "log"): [2, 4, 1, 1, 0], ("gains", "desk"): [2, 4, 1, 1, 0],
                          ("bakhmut", "desk"): [2, 2, 0, 0, 0], ("corroborated", "log"): [1, 2, 0, 0, 1]}
    sample_of = out[out.index("gains -> log: first 2 of 2"):]
    assert sample_of.splitlines()[1:5] == [
        "  2025-06-01 12:00  a  Ukrainian forces liberated Izium", "      https://news.example/izium-a",
        "  2025-06-01 14:00  c  Forces recaptured Kupiansk", "      https://news.example/kup-c"]
    assert "bakhmut -> desk: first 2 of 2" in out and "Villages near Bakhmut liberated" in out
    assert "Weather in Bakhmut" not in out and "Southgate" not in out


def test_backtest_cli_one_watch_a_date_and_a_smaller_sample(
    corpus: Corpus, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-c", str(corpus.config), "backtest", "--since", "2025-06-01", "--watch", "bakhmut",
                 "--sample", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("9 stories first seen 2025-06-01 00:00 - ")
    assert table(out) == {("bakhmut", "desk"): [2, 2, 0, 0, 0]}
    assert "bakhmut -> desk: first 1 of 2" in out and out.count("https://news.example/") == 1


@pytest.mark.parametrize(("args", "message"), [
    (["--watch", "nope"], "no watch 'nope'"), (["--since", "yesterday"], "--since 'yesterday': expected"),
    (["--sample", "-1"], "--sample must be 0 or more")])
def test_backtest_refuses_bad_arguments(corpus: Corpus, capsys: pytest.CaptureFixture[str], args: list[str],
                                        message: str) -> None:
    assert main(["-c", str(corpus.config), "backtest", *args]) == 1
    assert message in capsys.readouterr().err


def test_backtest_core_is_pure(gazetteer: Gazetteer, tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text("watches:\n  - {name: w, any: [encircled], notify: [log, x]}\nchannels: {x: 'json://h/x'}\n",
                    encoding="utf-8")
    _, compiled = load_config(path, gazetteer)
    s = StoredStory(1, 1, "a", "Town encircled", "", None, None, T)
    report = backtest([s, s], compiled, max_age=timedelta(hours=72), sample=0)
    assert report.stories == 2
    assert [(t.channel, t.alerts, t.same_cluster, t.sample) for t in report.tallies] == [
        ("log", 1, 1, []), ("x", 1, 1, [])]


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The database ``news-monitor demo --keep`` leaves, with the demo's own watchlist."""
    folder = tmp_path_factory.mktemp("demo")
    with levels_kept():
        asyncio.run(demo.run(keep=folder))
    config = folder / "watchlist.yaml"
    config.write_text(demo.demo_config("http://127.0.0.1:9", folder), encoding="utf-8")
    return config


def test_backtest_agrees_with_the_pipeline(golden: Path, capsys: pytest.CaptureFixture[str]) -> None:
    engine = make_engine(f"sqlite:///{golden.parent / 'demo.db'}")
    with engine.connect() as conn:
        sent = conn.execute(select(alerts.c.watch, alerts.c.channel).where(alerts.c.kind == "new")).all()
    engine.dispose()
    assert main(["-c", str(golden), "backtest", "--since", "2022-09-01"]) == 0
    out = capsys.readouterr().out
    assert table(out) == {("kharkiv-gains", "log"): [len(sent), len(sent) + 1, 1, 0, 0]}  # + the scraper copy
    assert {tuple(r) for r in sent} == {("kharkiv-gains", "log")}


# -- check (lint) ----------------------------------------------------------------------------------------------

LINTED = """\
watches:
  - name: a
    preset: territorial-gain
    any: [liberated, "fake news", "<b>", counteroffens*, counteroffensive]
    none: [fake]
    places: [Izium, Kamianka]
  - name: b
    preset: territorial-gain
    none: [fake, drill, "&shy;"]
    places: [Izium]
  - name: c
    any: [hoax]
    all: [hoax]
    none: [hoax]
    notify: [x]
  - name: d
    any: [hoax]
    all: [hoax]
    none: [hoax]
    notify: [x]
channels: {x: "json://127.0.0.1:9/x"}
"""


def findings(text: str, gazetteer: Gazetteer) -> list[str]:
    return [f.line() for f in lint(config_mod.parse_text(text, "w.yaml").watches, gazetteer)]


def test_lint_finds_dead_redundant_ambiguous_and_overlapping(gazetteer: Gazetteer) -> None:
    lines = findings(LINTED, gazetteer)
    assert lines[:4] == [
        "watches.0.any.0: warning: 'liberated' is redundant: the preset 'territorial-gain' already finds it",
        "watches.0.any.1: error: 'fake news' can never match: a story with it also has the `none` term 'fake'",
        "watches.0.any.2: error: '<b>' can never match: nothing is left of it once the text is normalised",
        "watches.0.any.4: warning: 'counteroffensive' is redundant: 'counteroffens*' already finds it",
    ]
    assert re.fullmatch(r"watches\.0\.places\.1: warning: 'Kamianka' names \d+ settlements in (\d+) oblasts: "
                        r"Cherkasy \(pop\. 11,501\), Chernivtsi \(pop\. 6,847\), [^;]+; all of them match\. "
                        r"Write 'Kamianka, Cherkasy' \(or \{name: Kamianka, oblast: \.\.\.\}\) to keep one", lines[4])
    assert "watches.1.none.2: warning: '&shy;' can never match: nothing is left of it once the text is " \
           "normalised" in lines
    rest = "\n".join(lines)
    assert "watches.2.all.0: error: 'hoax' can never match: a story with it also has the `none` term 'hoax' " \
           "(so the watch can never alert)" in rest
    assert "watches.1: warning: watch 'b' alerts only on stories watch 'a' alerts on too, to log" in rest
    assert "watches.3: warning: watch 'd' has the same rules as watch 'c', to x" in rest
    assert not any(line.startswith("watches.0.places.0") for line in lines)  # Izium is one town


def test_no_findings_on_distinct_watches(gazetteer: Gazetteer) -> None:
    text = ("watches:\n  - {name: a, preset: territorial-gain, places: [Izium]}\n"
            "  - {name: b, preset: territorial-gain, places: [Kupiansk]}\n"
            "  - {name: c, any: [encircled], places: [Izium], notify: [x]}\nchannels: {x: 'json://h/x'}\n")
    assert findings(text, gazetteer) == []


def test_term_samples_are_what_a_story_would_say() -> None:
    assert sample('"recaptur* the town"') == "recaptur the town"
    assert sample("AT&amp;T") == "AT&T" and sample("<b>") == ""


def test_suggestions_for_unknown_places(gazetteer: Gazetteer) -> None:
    assert suggest("Bahmutt", gazetteer)[0] == "Bakhmut (Donetsk)"
    assert suggest("Kupyansk-Vuzlovy", gazetteer)[0] == "Kupiansk-Vuzlovyi (Kharkiv)"
    assert suggest("Atlantis-on-Sea", gazetteer) == [] and suggest("", gazetteer) == []


def test_check_prints_lint_at_its_position(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(LINTED, encoding="utf-8")
    assert main(["-c", str(path), "check"]) == 1  # errors fail
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{path}: lint failed (0 sources, 4 watches, channels: log, x); 6 errors, 6 warnings"
    assert f"{path}:4:22: watches.0.any.1: error: 'fake news' can never match" in "\n".join(lines)
    positions = [tuple(map(int, re.match(r"[^:]+:(\d+):(\d+):", line).groups())) for line in lines[1:]]  # type: ignore[union-attr]
    assert positions == sorted(positions) and len(positions) == 12

    path.write_text("watches:\n  - {name: a, any: [encircled], places: [Kamianka]}\n", encoding="utf-8")
    assert main(["-c", str(path), "check"]) == 0  # warnings only: the check passes
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{path}: ok (0 sources, 1 watches, channels: log); 1 warning"
    assert out[1].startswith(f"{path}:2:42: watches.0.places.0: warning: 'Kamianka' names ")


def test_check_suggests_places_under_the_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "w.yaml"
    path.write_text("watches:\n  - {name: a, places: [Bahmutt, Atlantis-on-Sea]}\n", encoding="utf-8")
    assert main(["-c", str(path), "check"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{path}:2:24: watches.0.places.0: unknown place 'Bahmutt'",
        "    did you mean: Bakhmut (Donetsk)?",
        f"{path}:2:33: watches.0.places.1: unknown place 'Atlantis-on-Sea'"]


# -- explain ---------------------------------------------------------------------------------------------------

AXIOS = "Ukraine furthers gains in Kharkiv region following major breakthrough"
AXIOS_LINK = "https://www.axios.com/2022/09/11/ukraine-gains-kharkiv-region-breakthrough"


def axios_ref(golden: Path) -> tuple[int, str]:
    engine = make_engine(f"sqlite:///{golden.parent / 'demo.db'}")
    with engine.connect() as conn:
        story_id, uid = conn.execute(select(alerts.c.story_id, alerts.c.alert_uid).where(
            alerts.c.kind == "new").order_by(alerts.c.id)).first()  # type: ignore[misc]
    engine.dispose()
    return int(story_id), str(uid)


def test_explain_a_stored_story(golden: Path, capsys: pytest.CaptureFixture[str]) -> None:
    story_id, uid = axios_ref(golden)
    outs = []
    for ref in (str(story_id), uid, AXIOS_LINK + "?utm_source=x"):
        assert main(["-c", str(golden), "explain", ref]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1] == outs[2]
    out = outs[0]
    assert out.startswith(f"Story {story_id}: {AXIOS}\n  Source: axios, first seen 2022-09-11 16:10 UTC\n"
                          f"  Link:   {AXIOS_LINK}\n\n1 of 1 watches match:\n  MATCH  kharkiv-gains  (severity ")
    assert re.search(r"^ +terms: +.*recaptur\*", out, re.MULTILINE)
    assert re.search(r"^ +places: +.*Chkalovske.*Izium", out, re.MULTILINE)
    assert re.search(r'^ +sentence: +".*recaptured the village of Chkalovske.*"$', out, re.MULTILINE)


def test_explain_text_says_why_not(golden: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-c", str(golden), "explain", "--title", "Southgate wants to recapture happy-ship energy",
                 "--text", "England look ahead to the World Cup."]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Text: Southgate wants to recapture happy-ship energy\n\n0 of 1 watches match.\n")
    assert "No match:\n  -      kharkiv-gains\n           why:       " in out
    assert re.search(r"^ +terms: +recaptur\*$", out, re.MULTILINE)  # the evidence that was found


@pytest.mark.parametrize("args", [["explain"], ["explain", "1", "--text", "x"]])
def test_explain_needs_one_reference(golden: Path, capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    assert main(["-c", str(golden), *args]) == 1
    assert "give a story id, alert id or link, or --text" in capsys.readouterr().err


def test_explain_unknown_story(golden: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-c", str(golden), "explain", "99999"]) == 1
    assert "no story 99999" in capsys.readouterr().err


def test_explain_output_is_clean_of_terminal_escapes() -> None:
    v = Verdict("w\x1b[31m", True, "high", ("t\u202e",), ("Izium",), ("a\x1b]8;;x\x07 sentence",), ("note",))
    out = author_cmd.explain_text([v], ["Text: x"])
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
    assert "  MATCH  w[31m  (severity high)" in out and "note:      note" in out


def test_explain_and_backtest_use_the_source_and_its_tags(golden: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = golden.with_name("scoped.yaml")
    config.write_text(f"database: sqlite:///{golden.parent / 'demo.db'}\nsources:\n"
                      '  - {name: axios, url: "http://127.0.0.1:9/a.xml", tags: [wire]}\nwatches:\n'
                      "  - {name: scoped, any: [recaptur*], sources: [axios]}\n"
                      "  - {name: tagged, any: [recaptur*], source_tags: [wire]}\n", encoding="utf-8")
    assert main(["-c", str(config), "explain", "https://ohio-local.example/sport/southgate"]) == 0
    out = capsys.readouterr().out
    assert "0 of 2 watches match." in out and "why:       source 'ohio-local' out of scope" in out
    assert main(["-c", str(config), "explain", "--text", "Troops recaptured the town", "--source", "axios"]) == 0
    assert "2 of 2 watches match:" in capsys.readouterr().out
    assert main(["-c", str(config), "backtest", "--since", "2022-09-01", "--sample", "0"]) == 0
    out = capsys.readouterr().out
    assert table(out) == {("scoped", "log"): [1, 1, 0, 0, 0], ("tagged", "log"): [1, 1, 0, 0, 0]}  # axios only
    assert "->" not in out  # no sample
