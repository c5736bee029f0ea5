"""OPML import/export of sources: monitor.opml (parse, names, emit) and ``news-monitor sources import|export``
on a copy of config/watchlist.yaml, with a Feedly-style export of real feeds and hostile files."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor import config as config_mod
from monitor import opml
from monitor.cli import main
from monitor.config import Source
from monitor.errors import ConfigError
from tests.loglevels import levels_kept

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "opml"
FEEDLY = DATA / "feedly-export.opml"
NEW_URLS = {  # the feeds of feedly-export.opml that config/watchlist.yaml does not have yet
    "https://www.pravda.com.ua/rss/", "https://t.me/s/ukrpravda_news",
    "https://feeds.bbci.co.uk/news/world/europe/rss.xml", "https://meduza.io/rss/all",
    "https://meduza.io/rss/en/all", "https://www.understandingwar.org/rss.xml",
}


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("NEWS_MONITOR_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    with levels_kept():
        yield


@pytest.fixture
def watchlist(tmp_path: Path) -> Path:
    return Path(shutil.copy(ROOT / "config" / "watchlist.yaml", tmp_path / "watchlist.yaml"))


def urls(sources: list[Source]) -> set[str]:
    return {opml.feed_url(s) for s in sources}


# -- parse ------------------------------------------------------------------------------------------------


def test_a_feedly_export_gives_every_http_feed_with_its_folder() -> None:
    feeds, warnings = opml.parse(FEEDLY.read_bytes(), filename=str(FEEDLY))
    assert len(feeds) == 11
    by_url = {f.xml_url: f for f in feeds}
    assert by_url["https://www.pravda.com.ua/rss/"] == opml.OpmlFeed(
        "Українська правда", "https://www.pravda.com.ua/rss/", "https://www.pravda.com.ua/", "Ukraine")
    assert by_url["https://meduza.io/rss/all"].category == "World news / Russia"
    assert by_url["https://www.pravda.com.ua/eng/rss/"].title == "Ukrainska Pravda & Ekonomichna Pravda (EN)"
    assert len(warnings) == 2
    assert "not http(s)" in warnings[0] and "file:///etc/passwd" in warnings[0]
    assert "not http(s)" in warnings[1] and "javascript:" in warnings[1]


def test_lower_case_attributes_namespaces_and_odd_urls() -> None:
    data = b"""<opml xmlns="http://opml.org/spec2" version="2.0"><body>
      <outline text="a" xmlurl=" https://example.org/a.xml "/>
      <outline text="folder only"><outline text="b" xmlUrl="https://example.org/b?k=${SLACK_HOOK}"/></outline>
      <outline text="c" xmlUrl="HTTPS://example.org/c.xml"/><outline text="d" xmlUrl="https://exa mple.org/"/>
      <outline text="no feed" htmlUrl="https://example.org/"/></body></opml>"""
    feeds, warnings = opml.parse(data)
    assert [f.xml_url for f in feeds] == ["https://example.org/a.xml"]
    assert [w.split(": ")[1] for w in warnings] == ["contains ${...}", "not http(s)", "not a usable URL"]


@pytest.mark.parametrize(("name", "message"), [
    ("billion-laughs.opml", "refused: the file declares XML entities"),
    ("external-entity.opml", "refused: the file declares XML entities"),
    ("not-opml.opml", "not an OPML file (root element <rss>"),
])
def test_hostile_and_wrong_files_are_refused_naming_the_file(name: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        opml.parse((DATA / name).read_bytes(), filename=str(DATA / name))
    assert str(exc.value).startswith(f"{DATA / name}: ")
    assert message in str(exc.value)
    assert "root:" not in str(exc.value)  # nothing from /etc/passwd


def test_broken_xml_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^feeds\.opml: not well-formed XML \(.*line 1"):
        opml.parse(b"<opml><body><outline", filename="feeds.opml")


# -- names and sources ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("title", "name"), [
    ("Українська правда", "ukrainska-pravda"),
    ("BBC News - Europe", "bbc-news-europe"),
    ("Le Monde.fr — À la une", "le-monde.fr-a-la-une"),
    ("  --Щоденник війни!-- ", "shchodennyk-viiny"),
    ("東京新聞", ""),
])
def test_slug(title: str, name: str) -> None:
    assert opml.slug(title) == name


def test_names_are_unique_and_fit() -> None:
    long = "a" * 64
    assert opml.unique_name("bbc", {"bbc", "bbc-2"}) == "bbc-3"
    assert opml.unique_name(long, {long}) == "a" * 62 + "-2"
    feed = opml.OpmlFeed("東京新聞", "https://www.tokyo-np.co.jp/rss", "", "")
    assert opml.to_source(feed, set()).name == "tokyo-np.co.jp"
    assert opml.to_source(feed, {"tokyo-np.co.jp"}).name == "tokyo-np.co.jp-2"


def test_a_telegram_preview_page_becomes_a_telegram_source() -> None:
    feed = opml.OpmlFeed("DeepState", "https://t.me/s/DeepStateUA/", "", "")
    assert opml.to_source(feed, set()) == Source(name="deepstate", type="telegram", channel="DeepStateUA")
    assert opml.same_url_key("https://t.me/s/deepstateua") == opml.same_url_key("https://t.me/s/DeepStateUA")


# -- emit -------------------------------------------------------------------------------------------------


def test_emit_escapes_and_parses_back() -> None:
    sources = [Source(name="odd", url='https://example.org/f?a=1&b=<2>"x"'),
               Source(name="genstaff", type="telegram", channel="GeneralStaffZSU"),
               Source(name="mirror", type="telegram", channel="DeepStateUA", url="http://127.0.0.1:1200/tg/x")]
    data = opml.emit(sources, title="Desk & <co>")
    assert data.startswith(b"<?xml") and b'<opml version="2.0">' in data
    assert b"<title>Desk &amp; &lt;co&gt;</title>" in data
    feeds, warnings = opml.parse(data)
    assert warnings == []
    assert [f.xml_url for f in feeds] == ['https://example.org/f?a=1&b=<2>"x"', "https://t.me/s/GeneralStaffZSU",
                                         "https://t.me/s/DeepStateUA"]
    assert [f.title for f in feeds] == ["odd", "genstaff", "mirror"]
    assert feeds[1].html_url == "https://t.me/GeneralStaffZSU"


# -- sources import / export ------------------------------------------------------------------------------


def test_round_trip_keeps_comments_and_adds_the_new_feeds(
    watchlist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = watchlist.read_text(encoding="utf-8")
    old = config_mod.load(watchlist)
    assert main(["-c", str(watchlist), "sources", "import", str(FEEDLY)]) == 0
    out = capsys.readouterr().out
    assert "added 6, skipped 5 (already present), ignored 2 (not http(s))" in out
    after = watchlist.read_text(encoding="utf-8")
    assert [line for line in before.splitlines() if line.lstrip().startswith("#")] == \
        [line for line in after.splitlines() if line.lstrip().startswith("#")]
    assert after.startswith(before.split("\n# Where alerts go")[0])
    assert after.endswith("\n# Where alerts go" + before.split("\n# Where alerts go")[1])
    assert len(after.splitlines()) == len(before.splitlines()) + 13  # 6 sources, the Telegram one 3 lines
    new = config_mod.load(watchlist)
    assert new.sources[: len(old.sources)] == old.sources and new.watches == old.watches
    assert urls(new.sources) == urls(old.sources) | NEW_URLS
    assert Source(name="ukrainska-pravda-telegram", type="telegram", channel="ukrpravda_news") in new.sources
    assert main(["-c", str(watchlist), "check"]) == 0

    exported = tmp_path / "out.opml"
    assert main(["-c", str(watchlist), "sources", "export", "-o", str(exported)]) == 0
    feeds, _ = opml.parse(exported.read_bytes())
    assert {f.xml_url for f in feeds} == urls(new.sources)

    capsys.readouterr()
    assert main(["-c", str(watchlist), "sources", "import", str(exported)]) == 0  # nothing new the second time
    assert "added 0, skipped 14" in capsys.readouterr().out
    assert watchlist.read_text(encoding="utf-8") == after


def test_dry_run_prints_the_entries_and_writes_nothing(
    watchlist: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = watchlist.read_bytes()
    assert main(["-c", str(watchlist), "sources", "import", "--dry-run", str(FEEDLY)]) == 0
    out = capsys.readouterr().out
    assert watchlist.read_bytes() == before
    assert "would add 6, skipped 5 (already present), ignored 2 (not http(s))" in out
    assert "  - name: ukrainska-pravda  # Ukraine\n    url: https://www.pravda.com.ua/rss/\n" in out
    assert "skipped https://kyivindependent.com/news-archive/rss/: already present as 'kyiv-independent'" in out
    assert list(watchlist.parent.glob(".watchlist.yaml.*")) == []


def test_export_to_stdout(watchlist: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-c", str(watchlist), "sources", "export"]) == 0
    feeds, _ = opml.parse(capsys.readouterr().out.encode("utf-8"))
    assert {f.xml_url for f in feeds} == urls(config_mod.load(watchlist).sources)
    assert main(["-c", str(watchlist), "sources", "export", "-o", str(watchlist)]) == 1
    assert "is the watchlist itself" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["billion-laughs.opml", "external-entity.opml", "not-opml.opml", "missing.opml"])
def test_import_of_a_bad_file_fails_and_changes_nothing(
    watchlist: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = watchlist.read_bytes()
    assert main(["-c", str(watchlist), "sources", "import", str(DATA / name)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"news-monitor: {DATA / name}: ")
    assert watchlist.read_bytes() == before


def run_import(tmp_path: Path, text: str, opml_text: str) -> tuple[int, str]:
    path = tmp_path / "w.yaml"
    path.write_bytes(text.encode("utf-8"))
    feeds = tmp_path / "f.opml"
    feeds.write_text(f"<opml version='2.0'><body>{opml_text}</body></opml>", encoding="utf-8")
    rc = main(["-c", str(path), "sources", "import", str(feeds)])
    return rc, path.read_bytes().decode("utf-8")


ONE = "<outline text='True' xmlUrl='https://example.org/a.xml'/><outline text='Null' xmlUrl='https://e.org/#x'/>"


@pytest.mark.parametrize(("text", "expected"), [
    ("watches: []\n", "watches: []\n\nsources:\n  - name: \"true\"\n    url: https://example.org/a.xml\n"
                      "  - name: \"null\"\n    url: \"https://e.org/#x\"\n"),
    ("sources: []  # none yet\nwatches: []", "sources:\n  - name: \"true\"\n    url: https://example.org/a.xml\n"
                                             "  - name: \"null\"\n    url: \"https://e.org/#x\"\nwatches: []\n"),
    ("sources:\n- name: a  # first\n  url: http://x.org/\n# end\nwatches: []\n",
     "sources:\n- name: a  # first\n  url: http://x.org/\n- name: \"true\"\n  url: https://example.org/a.xml\n"
     "- name: \"null\"\n  url: \"https://e.org/#x\"\n# end\nwatches: []\n"),
    ("sources:\r\n    - name: a\r\n      url: http://x.org/\r\n",
     "sources:\r\n    - name: a\r\n      url: http://x.org/\r\n    - name: \"true\"\r\n"
     "      url: https://example.org/a.xml\r\n    - name: \"null\"\r\n      url: \"https://e.org/#x\"\r\n"),
], ids=["no-sources-key", "empty-flow-list", "column-0-items", "crlf-and-deep-indent"])
def test_import_edits_only_the_sources_block(tmp_path: Path, text: str, expected: str) -> None:
    rc, after = run_import(tmp_path, text, ONE)
    assert rc == 0
    assert after == expected
    assert [s.name for s in config_mod.parse_text(after, "w.yaml").sources][-2:] == ["true", "null"]


def test_an_inline_sources_list_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = "sources: [{name: a, url: 'http://x.org/'}]\n"
    assert run_import(tmp_path, text, ONE) == (1, text)
    assert "sources: is written inline" in capsys.readouterr().err


def test_mode_and_symlink_are_kept(watchlist: Path, tmp_path: Path) -> None:
    watchlist.chmod(0o640)
    link = tmp_path / "link.yaml"
    link.symlink_to(watchlist)
    assert main(["-c", str(link), "sources", "import", str(FEEDLY)]) == 0
    assert link.is_symlink() and watchlist.stat().st_mode & 0o777 == 0o640
    assert "meduza-in-english" in watchlist.read_text(encoding="utf-8")


def test_secrets_in_the_watchlist_are_neither_needed_nor_exported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RSSHUB_KEY", "s3cret")
    path = tmp_path / "w.yaml"
    path.write_text("channels:\n  desk: ${SLACK_URL}\nsources:\n  - name: hub\n"
                    "    url: http://127.0.0.1:1200/x?key=${RSSHUB_KEY}\n", encoding="utf-8")
    assert main(["-c", str(path), "sources", "export"]) == 0
    out = capsys.readouterr().out
    assert "key=${RSSHUB_KEY}" in out and "s3cret" not in out
