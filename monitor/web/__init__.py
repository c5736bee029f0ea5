"""The read-only status pages: alerts, stories with their diffs, sources, watches and a map (Starlette + Jinja2,
server-rendered, no JavaScript needed)."""
