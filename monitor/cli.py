"""Command line: run, once, check, explain, backtest, db upgrade, test-notify, status, alerts, story, web, demo,
sources (OPML).

Exit codes: 0 ok, 1 configuration or database error (a failing source is reported, not fatal).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from monitor import __version__
from monitor import config as config_mod
from monitor.errors import MonitorError

log = logging.getLogger("monitor")


def _setup_logging(verbose: bool) -> None:
    under_systemd = bool(os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"))
    fmt = "%(levelname)s %(name)s: %(message)s" if under_systemd else \
        "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=fmt, stream=sys.stderr)
    for noisy in ("apprise", "urllib3", "httpx", "httpcore", "apscheduler", "alembic", "uvicorn"):
        logging.getLogger(noisy).setLevel(logging.WARNING)  # DEBUG there can carry webhook secrets


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="news-monitor", description=__doc__.splitlines()[0])
    p.add_argument("-c", "--config", type=Path, help="watchlist YAML (default: $NEWS_MONITOR_CONFIG "
                   "or config/watchlist.yaml)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("--version", action="version", version=f"news-monitor {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the daemon in the foreground (SIGTERM stops, SIGHUP reloads)")
    sub.add_parser("once", help="poll every source once, deliver, exit")
    sub.add_parser("check", help="validate and lint the config: errors exit 1, warnings are printed")
    db = sub.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=["upgrade"])
    tn = sub.add_parser("test-notify", help="send a test alert to a channel")
    tn.add_argument("channel")
    sub.add_parser("status", help="sources and outbox summary")
    _alerts_parser(sub)
    _sources_parser(sub)
    _story_parser(sub)
    _author_parsers(sub)
    web = sub.add_parser("web", help="serve the read-only status pages on the configured database (no polling)")
    web.add_argument("--listen", metavar="HOST:PORT", help="listen here instead of settings.web.listen "
                     "(default 127.0.0.1:8787)")
    demo = sub.add_parser("demo", help="run the golden scenario offline and print its alerts")
    demo.add_argument("--keep", type=Path, help="keep the demo database and files in this folder")
    return p


def _alerts_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    al = sub.add_parser("alerts", help="recent alerts, newest first ('alerts retry' requeues)")
    al.add_argument("--status", help="only this status: pending, sending, sent, dead, digest or held")
    al.add_argument("--channel", help="only this channel")
    al.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    actions = al.add_subparsers(dest="alerts_action")
    retry = actions.add_parser("retry", help="requeue a dead or held alert, or a broken channel's held alerts")
    retry.add_argument("id", nargs="?", help="the alert's id (first column of 'alerts') or its alert id")
    retry.add_argument("--channel", dest="retry_channel", metavar="NAME",
                       help="close the channel's circuit and requeue its held alerts")


def _sources_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    src = sub.add_parser("sources", help="import sources from an OPML file, or export them as OPML")
    actions = src.add_subparsers(dest="sources_action", required=True)
    imp = actions.add_parser("import", help="append the OPML file's new feeds to the watchlist's sources:")
    imp.add_argument("file", type=Path, help="an OPML export (Feedly, Inoreader, Miniflux, NetNewsWire...)")
    imp.add_argument("--dry-run", action="store_true", help="print what would be added; change nothing")
    exp = actions.add_parser("export", help="print the configured sources as OPML 2.0")
    exp.add_argument("-o", "--output", type=Path, help="write to this file instead of standard output")


def _story_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    st = sub.add_parser("story", help="a story's versions with their diffs, its cluster and the alerts sent")
    st.add_argument("id", help="a story id (as in /stories/ID on the status pages), an alert id (nm-...) or a link")


def _author_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ex = sub.add_parser("explain", help="which watch matches a story (or a text), with what, and why the others "
                        "do not")
    ex.add_argument("id", nargs="?", help="a story id, an alert id (nm-...) or a link")
    ex.add_argument("--text", help="explain this text instead of a stored story")
    ex.add_argument("--title", default="", help="with --text: its title")
    ex.add_argument("--source", help="with --text: the source it comes from (for watches scoped to sources)")
    bt = sub.add_parser("backtest", help="replay stored stories through the current watchlist: the alerts it "
                        "would have sent")
    bt.add_argument("--since", default="7d", help="stories first seen since: 7d, 12h, 2w or a date (default 7d)")
    bt.add_argument("--watch", help="only this watch")
    bt.add_argument("--sample", type=int, default=3, help="titles listed per watch and channel (default 3)")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _setup_logging(args.verbose)
    path = args.config or config_mod.default_path()
    try:
        handler = {"sources": _sources, "story": _story, "explain": _author, "backtest": _author}
        return handler.get(args.command, _dispatch)(args, path)
    except MonitorError as exc:
        print(f"news-monitor: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _sources(args: argparse.Namespace, path: Path) -> int:
    from monitor import sources_cmd

    if args.sources_action == "import":
        return sources_cmd.import_opml(path, args.file, dry_run=args.dry_run)
    return sources_cmd.export_opml(path, args.output)


def _story(args: argparse.Namespace, path: Path) -> int:
    from monitor import commands

    return commands.story(path, args.id)


def _author(args: argparse.Namespace, path: Path) -> int:
    from monitor import author_cmd

    if args.command == "backtest":
        return author_cmd.backtest_cmd(path, since=args.since, watch=args.watch, sample=args.sample)
    if (args.id is None) == (args.text is None):
        raise MonitorError("explain: give a story id, alert id or link, or --text (one of them)")
    if args.text is not None:
        return author_cmd.explain_text_cmd(path, args.text, title=args.title, source=args.source)
    return author_cmd.explain_story(path, args.id)


def _dispatch(args: argparse.Namespace, path: Path) -> int:
    from monitor import commands, daemon

    if args.command == "run":
        asyncio.run(daemon.serve(path))
        return 0
    if args.command == "once":
        asyncio.run(daemon.once(path))
        return 0
    if args.command == "check":
        return commands.check(path)
    if args.command == "db":
        return commands.db_upgrade(path)
    if args.command == "test-notify":
        return asyncio.run(commands.test_notify(path, args.channel))
    if args.command == "status":
        return commands.status(path)
    if args.command == "alerts":
        if args.alerts_action == "retry":
            return commands.alerts_retry(path, ref=args.id, channel=args.retry_channel)
        return commands.alerts_list(path, status=args.status, channel=args.channel, limit=args.limit)
    if args.command == "web":
        return asyncio.run(commands.web(path, listen=args.listen))
    from monitor import demo

    return asyncio.run(demo.run(keep=args.keep))


if __name__ == "__main__":
    raise SystemExit(main())
