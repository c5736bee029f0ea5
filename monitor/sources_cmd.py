"""``sources import FILE`` and ``sources export``: OPML in and out of the watchlist file.

Import appends the new sources as YAML text at the end of the ``sources:`` block, leaving every other
line (comments included) as it was; the new text must validate, keep every other setting the same and
end with exactly the new sources before it replaces the file (temp file + ``os.replace``, same mode).
``${VAR}`` references are never expanded here, so no secret reaches the OPML or the printed lines.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from monitor import config as config_mod
from monitor import opml
from monitor.config import Config, Source
from monitor.errors import ConfigError

MAX_OPML_BYTES = 10_000_000
_SOURCES_KEY = re.compile(r"^sources[ \t]*:[ \t]*(?P<rest>[^#\s][^#]*?)?[ \t]*(#.*)?$")
_TOP_LEVEL_END = re.compile(r"^(?:[^\s#-]|---|\.\.\.)")
_ITEM = re.compile(r"^(?P<indent>[ ]*)-[ \t]")
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9._~:/?\[\]@!$&()*+,;=%-]*[A-Za-z0-9._~/?\[\]@!$&()*+;=%-]")
_PLAIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
_YAML11_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


class _Unexpanded(Mapping[str, str]):
    """An environment in which every ``${VAR}`` stays as written."""

    def __getitem__(self, key: str) -> str:
        return "${" + key + "}"

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _read(path: Path, limit: int) -> bytes:
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise ConfigError(f"{path}: larger than {limit // 1_000_000} MB")
    return data


def _parse(text: str, filename: str) -> Config:
    return config_mod.parse_text(text, filename, environ=_Unexpanded())


def _load_watchlist(path: Path) -> tuple[bytes, str, Config]:
    raw = _read(path, config_mod.MAX_FILE_BYTES)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    return raw, text, _parse(text, str(path))


def export_opml(path: Path, out: Path | None) -> int:
    """Print (or write to ``out``) the configured sources as OPML 2.0."""
    _, _, cfg = _load_watchlist(path)
    data = opml.emit(cfg.sources, title=f"news-monitor sources ({path.name})")
    if out is None:
        print(data.decode("utf-8"), end="")
        return 0
    if out.exists() and out.resolve() == path.resolve():
        raise ConfigError(f"{out}: is the watchlist itself; choose another file")
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise ConfigError(f"{out}: cannot write: {exc.strerror or exc}") from None
    print(f"{out}: {len(cfg.sources)} sources")
    return 0


def import_opml(path: Path, opml_file: Path, *, dry_run: bool) -> int:
    """Append the OPML file's new feeds to the watchlist's ``sources:`` (or, dry run, show them)."""
    target = path.resolve()  # a symlinked watchlist is edited where it lives
    raw, text, cfg = _load_watchlist(target)
    feeds, ignored = opml.parse(_read(opml_file, MAX_OPML_BYTES), filename=str(opml_file))
    added, skipped = _plan(feeds, cfg)
    for line in ignored:
        print(f"{opml_file}: {line}")
    for line in skipped:
        print(f"{opml_file}: {line}")
    if added:
        new_text, block = _append(text, [_entry(source, category) for source, category in added], str(path))
        _check(new_text, str(path), cfg, [source for source, _ in added])
        print(("would append to" if dry_run else "appending to") + f" {path}:")
        print(block.rstrip())
        if not dry_run:
            _write_atomic(target, new_text, raw)
    verb = "would add" if dry_run else "added"
    print(f"{verb} {len(added)}, skipped {len(skipped)} (already present), ignored {len(ignored)} (not http(s))")
    return 0


def _plan(feeds: list[opml.OpmlFeed], cfg: Config) -> tuple[list[tuple[Source, str]], list[str]]:
    """The sources to add (with their OPML folder) and one line per feed already in the watchlist."""
    present = {opml.same_url_key(opml.feed_url(s)): s.name for s in cfg.sources}
    taken = {s.name.lower() for s in cfg.sources}
    added: list[tuple[Source, str]] = []
    skipped: list[str] = []
    new_names: set[str] = set()
    for feed in feeds:
        key = opml.same_url_key(feed.xml_url)
        if key in present:
            where = "listed twice in the OPML, added" if present[key] in new_names else "already present"
            skipped.append(f"skipped {feed.xml_url}: {where} as {present[key]!r}")
            continue
        source = opml.to_source(feed, taken)
        taken.add(source.name.lower())
        new_names.add(source.name)
        present[key] = source.name
        added.append((source, feed.category))
    return added, skipped


def _scalar(value: str, plain: re.Pattern[str]) -> str:
    if plain.fullmatch(value) and value.lower() not in _YAML11_WORDS:
        return value
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def _entry(source: Source, category: str) -> list[str]:
    """The YAML lines of one source (keys relative to the item's ``- ``), its OPML folder as a comment."""
    folder = "".join(ch for ch in category if ch.isprintable())[:80].strip()
    lines = [f"name: {_scalar(source.name, _PLAIN_WORD)}" + (f"  # {folder}" if folder else "")]
    if source.channel:
        lines += ["type: telegram", f"channel: {_scalar(source.channel, _PLAIN_WORD)}"]
    else:
        lines.append(f"url: {_scalar(source.fetch_url, _PLAIN_URL)}")
    return lines


def _append(text: str, entries: list[list[str]], filename: str) -> tuple[str, str]:
    """``text`` with ``entries`` appended to its block ``sources:`` list (created if there is none), and
    the appended lines."""
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += newline
    key = next((i for i, line in enumerate(lines) if _SOURCES_KEY.match(line.rstrip("\r\n"))), None)
    if key is None:
        lines += [newline, "sources:" + newline]
        key = len(lines) - 1
    rest = _SOURCES_KEY.match(lines[key].rstrip("\r\n"))
    if rest and rest["rest"] is not None:
        if rest["rest"].replace(" ", "") not in ("[]", "null", "~"):
            raise ConfigError(f"{filename}:{key + 1}: sources: is written inline; make it a block list "
                              "(one '  - name: ...' item per line) to import into it")
        lines[key] = "sources:" + newline
    end = next((i for i in range(key + 1, len(lines)) if _TOP_LEVEL_END.match(lines[i])), len(lines))
    last = max((i for i in range(key, end) if lines[i].strip() and not lines[i].startswith("#")), default=key)
    indent = next((m["indent"] for line in lines[key + 1:end] if (m := _ITEM.match(line))), "  ")
    block = [f"{indent}{'- ' if j == 0 else '  '}{line}{newline}" for entry in entries for j, line in enumerate(entry)]
    return "".join(lines[: last + 1] + block + lines[last + 1:]), "".join(block)


def _check(new_text: str, filename: str, old: Config, added: list[Source]) -> None:
    """The edited text validates, ends its sources with ``added`` and changes nothing else."""
    new = _parse(new_text, filename)
    kept = new.sources[: len(old.sources)]
    if kept != old.sources or new.sources[len(old.sources):] != added or \
            new.model_copy(update={"sources": old.sources}) != old:
        raise ConfigError(f"{filename}: could not find where the sources: list ends; nothing was written "
                          "(add the sources by hand, or run with --dry-run to see them)")


def _write_atomic(path: Path, text: str, original: bytes) -> None:
    """Replace ``path`` with ``text`` (same mode) unless someone changed it since it was read."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        if path.read_bytes() != original:
            raise ConfigError(f"{path}: changed while importing; nothing was written, run the import again")
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc.strerror or exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
