"""No full card number, track data or CVV is kept anywhere after a simulated day: not in the
database, not in the logs, not in the files it exported (statements, pain.001, keys, sandboxes')."""

from __future__ import annotations

from sqlalchemy import create_engine

from juhe.safety.security_cards import luhn_valid, scan, scan_text


def test_the_scanner_finds_card_numbers_track_data_and_cvvs_and_nothing_else():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert scan_text("paid with 4111111111111111 today") == (1, 0, 0)
    assert scan_text("card 4111 1111 1111 1111 / 6212-3456-7890-1236") == (1, 0, 0)  # the second fails Luhn
    assert scan_text("card 6212-3456-7890-1232") == (1, 0, 0)
    assert scan_text("bin 411111******1111, last4 1111, token tok_4111") == (0, 0, 0)
    assert scan_text("at 1733561234567 ms, trade 2026120722001449511234567890") == (0, 0, 0)
    assert scan_text("track2 4111111111111111=25121010000012300000")[1] == 1
    assert scan_text("field35 4111111111111111D2512101")[1] == 1
    assert scan_text("%B4111111111111111^ZHANG/SAN^2512101000")[1] == 1
    assert scan_text('{"cvv": "123"} cvc2=4567 security_code: 999') == (0, 0, 3)
    assert scan_text("cvv_present: true, amount 123") == (0, 0, 0)


def test_a_simulated_day_leaves_no_card_data_in_the_database_logs_or_files(simulated, tmp_path):
    engine = create_engine(f"sqlite:///{simulated}/juhe.db")
    try:
        result = scan(engine, [simulated / "data", simulated / "simulate.log"])
    finally:
        engine.dispose()
    assert result.found == []
    assert (result.card_numbers, result.track_data, result.cvvs) == (0, 0, 0)
    assert result.rows >= 300 and result.files >= 5


def test_a_planted_card_number_is_found_in_the_database_and_in_a_file(simulated, tmp_path):
    """The scan above would pass on a scanner that reads nothing."""
    import shutil
    shutil.copyfile(simulated / "juhe.db", tmp_path / "juhe.db")
    engine = create_engine(f"sqlite:///{tmp_path}/juhe.db")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE payments SET subject = 'card 4111111111111111' WHERE rowid = (SELECT min(rowid) FROM payments)")
        (tmp_path / "export.csv").write_text("id,pan\n1,5555555555554444\n")
        result = scan(engine, [tmp_path / "export.csv"])
    finally:
        engine.dispose()
    assert result.card_numbers == 2 and result.found[0].startswith("table payments")
