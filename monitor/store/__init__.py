"""Storage: the only SQL in news-monitor (SQLAlchemy 2 Core; SQLite by default, PostgreSQL too).

``schema`` holds the tables, ``engine`` builds engines and migrates, ``sources``, ``stories`` and
``alerts`` hold the synchronous queries the orchestrators run in a worker thread.
"""
