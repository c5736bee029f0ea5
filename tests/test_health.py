"""health.evaluate: which sources turned failing, silent, gone or recovered, and the one notice that says so."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from monitor.health import Plan, Policy, SourceHealth, evaluate, usual_gap

NOW = datetime(2022, 9, 11, 16, 0, tzinfo=UTC)
POLICY = Policy(failures=5, silence_factor=4.0, silence_min=timedelta(hours=6))


def src(n: int, **kw: object) -> SourceHealth:
    base = SourceHealth(id=n, name=f"s{n}", health="ok", health_since=None, error_count=0, last_error_kind=None,
                        last_error=None, disabled=False, last_success_at=NOW - timedelta(minutes=5),
                        last_new_at=NOW - timedelta(minutes=30), posts_week=168)
    return replace(base, **kw)  # type: ignore[arg-type]


def run(sources: list[SourceHealth], outage: bool = False) -> Plan:
    return evaluate(sources, outage=outage, now=NOW, policy=POLICY)


def failing(n: int, count: int = 5, kind: str = "connect_error") -> SourceHealth:
    return src(n, error_count=count, last_error_kind=kind, last_error=f"{kind} fetching http://x/{n}: refused")


def test_all_well_says_nothing() -> None:
    assert run([src(1), src(2), src(3)]) == Plan(changes={}, lines=(), outage=False, title="")


def test_the_fifth_failure_in_a_row_is_told_once() -> None:
    healthy = [src(n) for n in range(2, 10)]
    assert run([failing(1, count=4), *healthy]).changes == {}
    plan = run([failing(1), *healthy])
    assert plan.changes == {1: "failing"}
    [line] = plan.lines
    assert line.startswith("s1: failing, 5 failures in a row, last success 5 min ago: connect_error")
    assert "Still retried" in line and plan.title == "news-monitor: sources 1 failing"
    # Told: the stored state is "failing" now, so more failures say nothing more.
    assert run([replace(failing(1, count=9), health="failing"), *healthy]).lines == ()


def test_recovery_is_told_once() -> None:
    plan = run([src(1, health="failing"), src(2)])
    assert plan.changes == {1: "ok"} and plan.lines == ("s1: recovered, fetching again.",)
    # A failing source that has failed once again since is not recovered.
    assert run([src(1, health="failing", error_count=1), src(2)]).changes == {}


def test_a_gone_source_is_told_with_what_to_do() -> None:
    plan = run([src(1, disabled=True, error_count=1, last_error_kind="http_status", last_error="HTTP 410"), src(2)])
    assert plan.changes == {1: "gone"}
    assert plan.lines[0].startswith("s1: gone (http_status: HTTP 410); no longer polled.")


def test_silence_is_measured_against_the_usual_gap() -> None:
    assert usual_gap(168) == timedelta(hours=1) and usual_gap(2) is None
    # Posts hourly: silent after max(4 x 1 h, 6 h) = 6 h.
    assert run([src(1, last_new_at=NOW - timedelta(hours=5))]).changes == {}
    plan = run([src(1, last_new_at=NOW - timedelta(hours=7))])
    assert plan.changes == {1: "silent"}
    assert plan.lines == ("s1: silent, no new story for 7 h, though it usually posts every 60 min.",)
    # Posts every 4 h: silent only after 16 h.
    assert run([src(1, posts_week=42, last_new_at=NOW - timedelta(hours=15))]).changes == {}
    assert run([src(1, posts_week=42, last_new_at=NOW - timedelta(hours=17))]).changes == {1: "silent"}


def test_a_rare_poster_or_a_failing_source_is_never_silent() -> None:
    assert run([src(1, posts_week=2, last_new_at=NOW - timedelta(days=5))]).changes == {}
    assert run([src(1, error_count=2, last_new_at=NOW - timedelta(days=2))]).changes == {}


def test_silence_lasts_until_a_new_story_even_when_the_week_count_drops() -> None:
    since = NOW - timedelta(days=6)
    quiet = src(1, health="silent", health_since=since, posts_week=0, last_new_at=since - timedelta(hours=8))
    assert run([quiet]).changes == {}  # no usual gap any more, but nothing new either
    plan = run([replace(quiet, last_new_at=NOW - timedelta(minutes=1))])
    assert plan.changes == {1: "ok"} and plan.lines == ("s1: posting again.",)


def test_network_down_gives_one_outage_notice_and_one_when_it_is_over() -> None:
    sources = [failing(n, count=2, kind="connect_error" if n % 4 else "timeout") for n in range(1, 41)]
    start = run(sources)
    assert start.outage and len(start.lines) == 1
    assert start.lines[0].startswith("Outage: 40 of 40 sources are failing (connect_error 30, timeout 10).")
    # Hours later every source crossed the threshold: states change, nothing is said.
    later = run([failing(n, count=6) for n in range(1, 41)], outage=True)
    assert later.outage and later.lines == () and set(later.changes.values()) == {"failing"}
    # Back: one line, naming the source still down.
    back = [src(n, health="failing") for n in range(1, 40)] + [failing(40, count=9)]
    back[-1] = replace(back[-1], health="failing")
    over = run(back, outage=True)
    assert not over.outage and over.lines == ("Outage over: 39 of 40 sources are fetching again. Still failing: s40.",)
    assert over.title == "news-monitor: outage over"


def test_one_blip_everywhere_is_no_outage() -> None:
    plan = run([failing(n, count=1) for n in range(1, 11)])
    assert not plan.outage and plan.lines == ()


def test_many_changes_in_one_evaluation_are_one_notice_with_a_bounded_list() -> None:
    sources = [failing(n) for n in range(1, 41)] + [src(n) for n in range(41, 141)]
    plan = run(sources)
    assert not plan.outage and len(plan.changes) == 40
    assert len(plan.lines) == 25 and plan.lines[-1] == "… and 16 more changes"
