"""Signed tree heads and `juhe trace verify`: a head is a C2SP signed note that only the log's
key signs; proof documents verify offline from the file and the public key alone; an edited
record, an edited tree node or a forged head is found by `juhe trace verify --database`."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import structlog.testing
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import update
from typer.testing import CliRunner

from juhe.cli import app
from juhe.config import get_settings
from juhe.db.engine import Database
from juhe.db.types import utcnow
from juhe.trace import heads, log, merkle, proofs, publisher
from juhe.trace.models import TraceEntry, TraceNode, TreeHead

NOW = utcnow()


@pytest.fixture(params=["sqlite_url", pytest.param("pg_url", marks=pytest.mark.postgres)], ids=["sqlite", "postgres"])
def env(request, tmp_path, monkeypatch):
    """A log of 21 records with heads at 8 and 21 leaves, and the CLI pointed at it."""
    url = request.getfixturevalue(request.param)
    monkeypatch.setenv("JUHE_DATABASE_URL", url)
    monkeypatch.setenv("JUHE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    db = Database(url)
    key = heads.load_or_create_key(publisher.key_path(tmp_path / "data"))
    for start, n in ((0, 8), (8, 13)):
        with db.session() as session, session.begin():
            log.append(session, [log.Event(kind="payment", object_id=f"pay_{i}", event="succeeded", at=NOW + timedelta(seconds=i),
                                           facts={"amount_minor": 500 + i, "currency": "CNY"}) for i in range(start, start + n)])
        publisher.publish_head(db, key)
    yield db, key, tmp_path
    db.dispose()
    get_settings.cache_clear()


def run_cli(*args: str):
    return CliRunner().invoke(app, list(args))


def write(tmp_path, name: str, document: dict):
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_a_head_is_a_signed_note_only_the_logs_key_opens(env):
    db, key, _ = env
    with db.reader() as session:
        head = heads.latest(session)
        text = heads.note(head)
    assert text.startswith(f"{heads.ORIGIN}\n21\n") and "\n\n\u2014 juhe.trace " in text
    checkpoint = heads.open_note(text, key.public_key())
    assert (checkpoint.tree_size, checkpoint.root_hash) == (21, bytes(head.root_hash))
    with pytest.raises(heads.HeadError):
        heads.open_note(text, Ed25519PrivateKey.generate().public_key())
    with pytest.raises(heads.HeadError):
        heads.open_note(text.replace("\n21\n", "\n22\n"), key.public_key())


def test_proof_documents_verify_offline_and_an_edited_one_does_not(env):
    db, key, tmp_path = env
    pem = tmp_path / "log.pub"
    pem.write_text(heads.public_key_text(key))
    with db.reader() as session:
        old, new = heads.at_size(session, 8), heads.at_size(session, 21)
        inclusion = proofs.inclusion_document(session, 5, new)
        consistency = proofs.consistency_document(session, old, new)
    ok = run_cli("trace", "verify", str(write(tmp_path, "inc.json", inclusion)), "--public-key", str(pem), "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output) == {"ok": True, "proves": "record 5 is in the signed tree of 21 leaves"}
    ok = run_cli("trace", "verify", str(write(tmp_path, "con.json", consistency)), "--public-key", str(pem))
    assert ok.exit_code == 0 and "extends the one of 8" in ok.output
    forged = {**inclusion, "record": inclusion["record"].replace('"amount_minor":505', '"amount_minor":50500')}
    bad = run_cli("trace", "verify", str(write(tmp_path, "forged.json", forged)), "--public-key", str(pem), "--json")
    assert bad.exit_code == 1 and json.loads(bad.output)["ok"] is False
    swapped = {**consistency, "path": consistency["path"][::-1]}
    assert run_cli("trace", "verify", str(write(tmp_path, "swapped.json", swapped)), "--public-key", str(pem)).exit_code == 1
    assert run_cli("trace", "verify", str(write(tmp_path, "junk.json", {"type": "inclusion"})), "--public-key", str(pem)).exit_code == 1
    assert run_cli("trace", "verify", str(tmp_path / "missing.json")).exit_code == 2


def test_verify_database_finds_the_first_edited_record(env):
    db, _, _ = env
    ok = run_cli("trace", "verify", "--database", "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output) == {"ok": True, "leaves": 21, "first_bad_leaf": None, "problems": []}
    with db.session() as session, session.begin():
        for index in (13, 4):
            session.execute(update(TraceEntry).where(TraceEntry.leaf_index == index)
                            .values(data=TraceEntry.data + " "))
    bad = run_cli("trace", "verify", "--database", "--json")
    assert bad.exit_code == 1
    report = json.loads(bad.output)
    assert report["first_bad_leaf"] == 4
    assert any(p.startswith("leaf 13:") for p in report["problems"])


def test_verify_database_finds_an_edited_node_and_a_rewritten_history(env, monkeypatch):
    db, key, _ = env
    monkeypatch.setattr(proofs, "VERIFY_CHUNK", 4)  # the log is walked a few leaves at a time
    with db.reader() as session:
        assert proofs.verify_database(session, key.public_key()).problems == []
    with db.session() as session, session.begin():
        # A rewrite that keeps every leaf consistent with its record: the signed head of 8 leaves no longer matches.
        session.execute(update(TraceEntry).where(TraceEntry.leaf_index == 2).values(
            data='{"forged":true}', leaf_hash=merkle.leaf_hash(b'{"forged":true}')))
        session.execute(update(TraceNode).where(TraceNode.level == 1, TraceNode.index == 6).values(hash=b"\x00" * 32))
    with db.reader() as session:
        check = proofs.verify_database(session, key.public_key())
    assert any("tree node (1, 6)" in p for p in check.problems)
    assert any("does not sign the log's root" in p for p in check.problems)
    assert any("stored tree" in p for p in check.problems)


def test_the_publisher_ingests_then_signs_once_a_minute(env):
    db, _, tmp_path = env
    clock = [1_000.0]
    worker = publisher.TracePublisher(db, publisher.key_path(tmp_path / "data"), clock=lambda: clock[0])
    worker.run_if_due()
    clock[0] += 30
    worker.run_if_due()
    clock[0] += 31
    worker.run_if_due()
    with db.reader() as session:
        assert session.query(TreeHead).count() == 2 + 2  # the fixture's two, then at 0 s and 61 s


def test_trace_head_signs_now_and_prints_a_note_its_public_key_opens(env):
    from cryptography.hazmat.primitives import serialization

    result = run_cli("trace", "head", "--json")
    assert result.exit_code == 0, result.output
    signed = json.loads(result.output)
    key = serialization.load_pem_public_key(signed["public_key"].encode())
    assert heads.open_note(signed["note"], key).tree_size == signed["tree_size"] == 21


def test_heads_go_to_a_witness_and_a_rewritten_log_no_longer_matches_it(env, monkeypatch):
    import http.server
    import threading as threads

    db, _, tmp_path = env
    received: list[bytes] = []

    class Witness(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # the name http.server calls
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Witness)
    threads.Thread(target=server.serve_forever, daemon=True).start()
    witness_file = tmp_path / "witness" / "heads.txt"
    clock = [0.0]
    key_file = publisher.key_path(tmp_path / "data")
    for target in (str(witness_file), f"http://127.0.0.1:{server.server_port}/checkpoints"):
        publisher.TracePublisher(db, key_file, witness_to=target, clock=lambda: clock[0]).run_if_due()
    server.shutdown()
    assert len(received) == 1 and received[0].decode().startswith(f"{heads.ORIGIN}\n21\n")
    with structlog.testing.capture_logs() as logs:  # a directory is no witness: logged, the head still signed
        publisher.TracePublisher(db, key_file, witness_to=str(tmp_path / "witness"), clock=lambda: clock[0]).run_if_due()
    assert [entry["event"] for entry in logs] == ["trace.witness_unreachable"]

    ok = run_cli("trace", "verify", "--database", "--witness", str(witness_file), "--json")
    assert ok.exit_code == 0, ok.output
    with db.session() as session, session.begin():  # a rewrite that also re-signs nothing: heads and leaves deleted
        session.query(TreeHead).delete()
        session.execute(update(TraceEntry).where(TraceEntry.leaf_index == 3).values(
            data='{"rewritten":true}', leaf_hash=merkle.leaf_hash(b'{"rewritten":true}')))
    bad = run_cli("trace", "verify", "--database", "--witness", str(witness_file), "--json")
    assert bad.exit_code == 1
    assert any(p.startswith("witnessed head 1 (21 leaves) does not sign") for p in json.loads(bad.output)["problems"])
    forged = tmp_path / "forged.txt"
    forged.write_text(witness_file.read_text().replace("\n21\n", "\n20\n"))
    assert run_cli("trace", "verify", "--database", "--witness", str(forged)).exit_code == 1
