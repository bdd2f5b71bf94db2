import psycopg
from sqlalchemy.engine import make_url

from juhe.db.temp_postgres import TempPostgres


def _connect(url: str) -> psycopg.Connection:
    u = make_url(url)
    return psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database)


def test_pg_url_is_a_fresh_working_database(pg_url):
    u = make_url(pg_url)
    assert u.drivername == "postgresql+psycopg"
    assert u.host == "127.0.0.1"
    with _connect(pg_url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        assert int(version.split(".")[0]) >= 13, version
        assert conn.execute("SHOW server_encoding").fetchone()[0] == "UTF8"
        # fresh: no user tables yet
        assert conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()[0] == 0
        conn.execute("CREATE TABLE t (id bigint PRIMARY KEY, note text NOT NULL)")
        conn.execute("INSERT INTO t VALUES (1, '聚合'), (2, 'juhe')")
        conn.commit()
    with _connect(pg_url) as conn:
        assert conn.execute("SELECT id, note FROM t ORDER BY id").fetchall() == [
            (1, "聚合"), (2, "juhe")
        ]


def test_each_test_gets_its_own_database(pg_url, pg_server: TempPostgres):
    # the table from the other test must not be visible here
    with _connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('public.t')").fetchone()[0] is None
    assert make_url(pg_url).database != make_url(pg_server.url).database


def test_server_settings(pg_server: TempPostgres):
    with _connect(pg_server.url) as conn:
        show = lambda name: conn.execute(f"SHOW {name}").fetchone()[0]  # noqa: E731
        assert show("max_connections") == "200"
        assert show("fsync") == "off"  # the suite runs with fast=True
        assert show("listen_addresses") == "127.0.0.1"


def test_sqlite_url(sqlite_url, tmp_path):
    assert sqlite_url == f"sqlite:///{tmp_path}/juhe.db"
