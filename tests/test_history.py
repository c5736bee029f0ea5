"""``news-monitor story ID`` (monitor.history, commands.story): the golden scenario's Axios story with its three
versions, its cluster and its alerts; an alert id and a link resolve to their story; unknown ids and an
unmigrated database fail; hostile feed text (ANSI escapes, bidi overrides) reaches the terminal clean."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from monitor import demo
from monitor.cli import main
from monitor.history import story_text
from monitor.store.engine import make_engine, upgrade
from monitor.store.schema import alerts, clusters, sources, stories, story_versions
from monitor.store.views import AlertItem, ChannelRow, Member, StoryPage, Version
from tests.loglevels import levels_kept

AXIOS = "Ukraine furthers gains in Kharkiv region following major breakthrough"
AXIOS_LINK = "https://www.axios.com/2022/09/11/ukraine-gains-kharkiv-region-breakthrough"
ESC = "\x1b[31mRED\x1b[0m"
BIDI = "\u202eevil\u202c"
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("NEWS_MONITOR_DATABASE_URL", raising=False)
    with levels_kept():
        yield


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config on the database ``news-monitor demo --keep`` leaves (the golden scenario's three phases)."""
    folder = tmp_path_factory.mktemp("demo")
    with levels_kept():
        asyncio.run(demo.run(keep=folder))
    config = folder / "watchlist.yaml"
    config.write_text(f"database: sqlite:///{folder / 'demo.db'}\n", encoding="utf-8")
    return config


def run(capsys: pytest.CaptureFixture[str], config: Path, ref: str) -> tuple[int, str, str]:
    code = main(["-c", str(config), "story", ref])
    out, err = capsys.readouterr()
    return code, out, err


def axios_id(config: Path) -> int:
    engine = make_engine(config.read_text(encoding="utf-8").split(": ", 1)[1].strip())
    query = (select(stories.c.id).join(sources, sources.c.id == stories.c.source_id)
             .where(stories.c.title == AXIOS, sources.c.name == "axios"))
    with engine.connect() as conn:
        found = int(conn.execute(query).scalar_one())
    engine.dispose()
    return found


def test_the_axios_story(golden: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, golden, str(axios_id(golden)))
    assert code == 0 and not err
    assert out.startswith(f"Story {axios_id(golden)}: {AXIOS}\n")
    assert "  Source:     axios\n" in out and f"  Link:       {AXIOS_LINK}\n" in out
    assert "  First seen: 2022-09-11 16:10:00 UTC" in out and "  Published:  2022-09-11" in out
    assert "Cluster: 2 stories from 2 sources" in out
    assert re.search(r"^\* 2022-09-11 16:10  axios  .*" + AXIOS + "$", out, re.MULTILINE)
    assert re.search(r"^  2022-09-11 16:20  newsbreak-today  .*Newsbreak Today$", out, re.MULTILINE)
    versions = out[out.index("Versions: 3\n"):out.index("Alerts:")]
    v1, v2, v3 = re.split(r"^  v\d  seen ", versions, flags=re.MULTILINE)[1:]
    assert "first version" in v1
    assert "      + Ukraine’s Defense Ministry tweeted Sunday" in v2 and "(alerted)" in v2
    assert "      + Ukrainian forces entered the city of Izyum on Saturday, CNN reported." in v2
    assert "cosmetic edit only" in v3 and "+" not in v3  # the typo fix of phase 3
    alerts_part = out[out.index("Alerts: 2\n"):]
    assert re.search(r"^  2022-09-11 16:10  kharkiv-gains  log  +new  +high  +sent  +1  -$", alerts_part, re.M)
    assert re.search(r"^  2022-09-11 16:20  kharkiv-gains  log  +update  +high  +sent  +1  -$", alerts_part, re.M)


def test_an_alert_id_and_a_link_resolve(golden: Path, capsys: pytest.CaptureFixture[str]) -> None:
    engine = make_engine(golden.read_text(encoding="utf-8").split(": ", 1)[1].strip())
    with engine.connect() as conn:
        uid = conn.execute(select(alerts.c.alert_uid).where(alerts.c.kind == "update")).scalar_one()
    engine.dispose()
    header = f"Story {axios_id(golden)}: {AXIOS}\n"
    assert run(capsys, golden, uid)[:2] == (0, run(capsys, golden, str(axios_id(golden)))[1])
    for link in (AXIOS_LINK, "HTTPS://WWW.Axios.com:443/2022/09/11/ukraine-gains-kharkiv-region-breakthrough"
                 "?utm_source=twitter#top"):
        code, out, _ = run(capsys, golden, link)
        assert code == 0 and out.startswith(header), link


@pytest.mark.parametrize("ref", ["999999", "nm-0000000000", "https://nowhere.example/x", "not a link", "0"])
def test_unknown_ids_exit_1(golden: Path, capsys: pytest.CaptureFixture[str], ref: str) -> None:
    code, out, err = run(capsys, golden, ref)
    assert (code, out) == (1, "") and err == f"news-monitor: no story {ref}\n"


def test_unmigrated_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "w.yaml"
    config.write_text(f"database: sqlite:///{tmp_path / 'empty.db'}\n", encoding="utf-8")
    code, _, err = run(capsys, config, "1")
    assert code == 1 and "the database is not migrated; run: news-monitor db upgrade" in err
    assert main(["-c", str(config), "status"]) == 1
    assert capsys.readouterr().err == err  # the message status gives


def hostile(path: Path) -> Path:
    """A story whose every feed string carries ANSI escapes, bidi overrides and line breaks."""
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    t = datetime(2022, 9, 11, 16, 0)
    with engine.begin() as conn:
        conn.execute(insert(sources).values(id=1, name=f"src{ESC}", url="https://ok.example/feed", health="ok",
                                            error_count=0))
        conn.execute(insert(clusters).values(id=1, first_seen_at=t, last_seen_at=t, member_count=1))
        conn.execute(insert(stories).values(
            id=1, source_id=1, key="k1", cluster_id=1, url=f"https://ok.example/{ESC}", title=f"Title {ESC} {BIDI}",
            first_seen_at=t, updated_at=t, version=2, fingerprint="f", signature=b"s"))
        conn.execute(insert(story_versions), [
            {"story_id": 1, "version": 1, "title": f"Title {ESC}", "text": "Calm day.", "fingerprint": "a",
             "seen_at": t, "alerted": False},
            {"story_id": 1, "version": 2, "title": f"Title {ESC}", "text": f"Calm day.\nThen \x1b]0;pwned\x07 {BIDI}"
             " came\rback.", "fingerprint": "b", "seen_at": t + timedelta(minutes=5), "alerted": True}])
        conn.execute(insert(alerts).values(
            alert_uid="nm-1", cluster_id=1, story_id=1, watch=f"w{ESC}", channel=f"c{BIDI}", kind="new",
            version_ref=0, payload=json.dumps({"title": "x", "severity": f"high{ESC}"}), hits="[]", status="dead",
            attempts=3, next_attempt_at=t, last_error=f"boom\n{ESC}", created_at=t))
    engine.dispose()
    config = path.with_suffix(".yaml")
    config.write_text(f"database: sqlite:///{path}\n", encoding="utf-8")
    return config


def test_hostile_feed_text_prints_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, hostile(tmp_path / "h.db"), "nm-1")
    assert code == 0 and not err
    assert not UNSAFE.search(out), repr(out)
    assert "Story 1: Title [31mRED[0m evil" in out and "src[31mRED[0m" in out
    assert "      + Then ]0;pwned evil came back." in out
    assert "boom [31mRED[0m" in out and "high[31mRED[0m" in out
    code, out, err = run(capsys, tmp_path / "h.yaml", f"1{ESC}")  # the unknown id is echoed clean too
    assert code == 1 and not UNSAFE.search(err)


def test_story_text_is_pure() -> None:
    t = datetime(2022, 9, 11, 16, 0, tzinfo=UTC)
    page = StoryPage(id=7, title="T", url=None, source="s", cluster_id=1, first_seen_at=t, published_at=None,
                     versions=[Version(1, "T", "A.", t, True), Version(2, "T", "A.  ", t, False),
                               Version(3, "T", "B.", t, True)],
                     members=[Member(7, "s", "T", None, t)], alerts=[])
    row = ChannelRow(id=1, channel="desk", status="pending", attempts=0, last_error=None, created_at=t,
                     sent_at=None)
    item = AlertItem(created_at=t, kind="new", watch="w", severity="critical", title="T", link=None, story_id=7,
                     sources=("s",), channels=(row, row))
    out = story_text(page, [item])
    assert "  Link:       -\n  First seen: 2022-09-11 16:00:00 UTC\n  Published:  unknown\n" in out
    assert "Cluster: 1 story from 1 source, 1 independent\n" in out
    assert "cosmetic edit only" in out and "      + B.\n      - A.\n" in out
    assert "Alerts: 1 (2 deliveries)" in out and out.count("critical") == 2
    assert story_text(page, []).endswith("Alerts: 0\n  none\n")
