"""PNG screenshots of an HTML alert email and an HTML digest, taken in headless Chromium (``make screenshots``).

Renders both with ``monitor.render`` (exactly the HTML that goes out as the email's text/html part), writes
them to a temporary directory and shoots them with Debian's Chromium into docs/email-alert.png and
docs/email-digest.png. Installs Chromium with apt-get when /usr/bin/chromium is missing (needs root).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))

from monitor.models import Alert  # noqa: E402
from monitor.render import render, render_digest  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
WIDTH = 900  # pixels; each shot has its own height so that the page fills it
STORY = "https://news.example.org/2022/09/11/ukraine-furthers-gains-in-kharkiv-region"
EXCERPT = (
    "Ukrainian forces have continued their advance into the Kharkiv region, pushing into the region’s northern, "
    "southern and eastern flanks, Ukraine’s military chief Gen. Valeriy Zaluzhnyi wrote in a Telegram post on "
    "Sunday.\n\n"
    "Russia also removed troops from the regions Balakleya and Izyum, and Ukrainian forces reached the major "
    "railway city of Kupiansk, potentially cutting supplies for Russian forces."
)


def update_alert() -> Alert:
    """The seed story's second version: Chkalovske recaptured, Izyum entered."""
    return Alert(
        alert_id="nm-7f3a9c21e4b0",
        channel="desk-email",
        kind="update",
        title="Ukraine furthers gains in Kharkiv region following major breakthrough",
        link=STORY,
        sources=("world-wire", "tg/ua-front"),
        watch="kharkiv-front",
        terms=("recaptured", "withdrew"),
        places=("Chkalovske", "Izyum", "Kupiansk", "Balakliia"),
        excerpt=EXCERPT,
        added=(
            "Ukraine’s Defense Ministry tweeted Sunday that Ukrainian forces had also recaptured the village of "
            "Chkalovske, which lies between Izyum and Kharkiv.",
            "Ukrainian forces entered the city of Izyum on Saturday, CNN reported.",
        ),
        removed=("Ukrainian forces were approaching Izyum on Saturday, officials said.",),
        severity="critical",
    )


def digest_alerts() -> list[Alert]:
    """Six alerts of one morning, of every severity."""
    items = [
        ("critical", "update", "Ukraine furthers gains in Kharkiv region following major breakthrough", STORY,
         "Ukraine’s Defense Ministry said Ukrainian forces had also recaptured the village of Chkalovske."),
        ("critical", "new", "Russian forces withdraw from areas around Izyum and Balakliia",
         "https://news.example.org/2022/09/10/russian-forces-withdraw-izyum",
         "Russian forces on Saturday withdrew from the areas surrounding Kharkiv in light of the Ukrainian advance."),
        ("high", "new", "Ukrainian troops reach railway hub of Kupiansk",
         "https://news.example.org/2022/09/10/kupiansk-railway-hub",
         "Kupiansk is crucial to the supply and logistics of Russian forces in the Donbas, Politico reported."),
        ("high", "update", "“More than 3,000 square kilometres returned”, Zaluzhnyi says",
         "https://news.example.org/2022/09/11/zaluzhnyi-3000-square-kilometres",
         "Ukrainian forces are now about 50 kilometres from the Russian border, he added."),
        ("high", "new", "UK intelligence: significant Ukrainian gains in the last 24 hours",
         "https://news.example.org/2022/09/11/uk-intelligence-update",
         "Fighting continued on Sunday in some of the surrounding areas, the U.K. Ministry of Defence noted."),
        ("info", "new", "Zelensky: winter could be “a turning point” in the war",
         "https://news.example.org/2022/09/11/zelensky-winter-turning-point",
         "The president told a forum the winter could see a “rapid de-occupation of Ukraine”."),
    ]
    return [
        Alert(alert_id=f"nm-{hashlib.sha1(title.encode()).hexdigest()[:12]}", channel="desk-email", kind=kind,
              title=title, link=link, sources=("world-wire",) if n % 2 else ("world-wire", "tg/ua-front"),
              watch="kharkiv-front", terms=("withdrew",), places=("Izyum",), excerpt=excerpt, severity=severity)
        for n, (severity, kind, title, link, excerpt) in enumerate(items)
    ]


def chromium() -> Path:
    """Debian's Chromium, installed with apt-get on first use."""
    if not CHROMIUM.exists():
        apt = shutil.which("apt-get") or "apt-get"
        if subprocess.run([apt, "install", "-y", "chromium"], check=False).returncode != 0:  # noqa: S603
            subprocess.run([apt, "update"], check=True)  # noqa: S603
            subprocess.run([apt, "install", "-y", "chromium"], check=True)  # noqa: S603
    return CHROMIUM


def shoot(browser: Path, html: str, png: Path, scratch: Path, height: int) -> None:
    page = scratch / png.with_suffix(".html").name
    page.write_text(html, encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
             f"--user-data-dir={scratch / 'profile'}", f"--window-size={WIDTH},{height}", f"--screenshot={png}"]
    subprocess.run([str(browser), *flags, page.as_uri()], check=True, capture_output=True, timeout=120)  # noqa: S603
    print(f"wrote {png.relative_to(DOCS.parent)}")


def main() -> None:
    browser = chromium()
    alert_html = render(update_alert(), style="email").html
    digest_html = render_digest(digest_alerts(), style="email", digest_id="digest-2022-09-11-0800").html
    assert alert_html and digest_html
    with tempfile.TemporaryDirectory(prefix="nm-shots-") as tmp:
        shoot(browser, alert_html, DOCS / "email-alert.png", Path(tmp), 780)
        shoot(browser, digest_html, DOCS / "email-digest.png", Path(tmp), 1100)


if __name__ == "__main__":
    main()
