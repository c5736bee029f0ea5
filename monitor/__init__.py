"""news-monitor: a live news-monitor daemon (feeds and Telegram in, matched alerts out)."""

__version__ = "0.1.0"
