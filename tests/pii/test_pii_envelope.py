"""The sealed value: opens only in its place, under a version the keyring holds, and survives re-wrapping."""

from __future__ import annotations

import os
import stat

import pytest

from juhe.pii import envelope, keyring, values
from juhe.pii.envelope import SealError


def test_a_value_opens_in_the_place_it_was_sealed_for():
    blob = values.seal("张三", "transfer_items", "creditor_name", "row-1")
    assert "张三".encode() not in blob
    assert values.open_text(blob, "transfer_items", "creditor_name", "row-1") == "张三"


@pytest.mark.parametrize("place", [("transfer_items", "creditor_name", "row-2"), ("transfer_items", "remittance", "row-1"),
                                   ("settlement_batches", "creditor_name", "row-1")])
def test_a_value_copied_to_another_row_column_or_table_does_not_open(place):
    blob = values.seal("6222020200112233445", "transfer_items", "creditor_name", "row-1")
    with pytest.raises(SealError, match="copied from another place"):
        values.open_text(blob, *place)


def test_each_value_has_its_own_data_key():
    first, second = (values.seal("same", "t", "c", "r") for _ in range(2))
    assert first != second
    header = envelope.read_header(first)
    assert first[header.length:header.length + envelope.WRAPPED_BYTES] != second[header.length:header.length + envelope.WRAPPED_BYTES]


def test_an_edited_header_or_body_is_refused(keyring_file):
    keyring.save(keyring_file, keyring.active().with_new_version())
    blob = bytearray(values.seal("13800138000", "t", "phone", "r"))
    header = envelope.read_header(bytes(blob))
    edited_version = bytearray(blob)
    edited_version[header.length - 1] = 1  # claims v1, a version the keyring holds
    with pytest.raises(SealError):
        values.open_bytes(bytes(edited_version), "t", "phone", "r")
    blob[-1] ^= 1
    with pytest.raises(SealError):
        values.open_bytes(bytes(blob), "t", "phone", "r")
    with pytest.raises(SealError, match="not a sealed value"):
        values.open_bytes(b"13800138000", "t", "phone", "r")


def test_rewrap_changes_the_version_not_the_data_and_the_old_master_no_longer_matters():
    ring = keyring.active()
    blob = values.seal("李四", "t", "c", "r")
    newer = ring.with_new_version()
    moved = envelope.rewrap(blob, ring.master(1), newer.primary, newer.master(newer.primary))
    assert envelope.read_header(moved).version == 2
    body_at = envelope.read_header(blob).length + envelope.WRAPPED_BYTES
    assert moved[body_at:] == blob[body_at:]  # the data ciphertext is the same bytes
    assert envelope.open_sealed(moved, newer.master(2), envelope.context("t", "c", "r")) == "李四".encode()
    with pytest.raises(SealError, match="does not unwrap"):
        envelope.open_sealed(moved, ring.master(1), envelope.context("t", "c", "r"))


def test_the_keyring_file_is_created_private_and_reread_when_another_process_rotates(keyring_file):
    first = keyring.active()
    assert stat.S_IMODE(os.stat(keyring_file).st_mode) == 0o600
    keyring.save(keyring_file, first.with_new_version())  # as `juhe keys rotate` in another process
    assert keyring.active().primary == 2 and keyring.active().master(1) == first.master(1)
    sealed_now = values.seal("x", "t", "c", "r")
    assert envelope.read_header(sealed_now).version == 2


def test_a_version_the_keyring_does_not_hold_is_a_clear_error(keyring_file):
    blob = bytearray(values.seal("x", "t", "c", "r"))
    header = envelope.read_header(bytes(blob))
    blob[header.length - 4:header.length] = (9).to_bytes(4, "big")
    with pytest.raises(keyring.KeyringError, match="v9"):
        values.open_bytes(bytes(blob), "t", "c", "r")


def test_a_broken_keyring_file_is_refused(keyring_file):
    keyring_file.parent.mkdir(parents=True, exist_ok=True)
    keyring_file.write_text('{"key_id": "juhe-pii", "primary": 3, "versions": {"1": "AAAA"}, "index_key": "AAAA"}')
    with pytest.raises(keyring.KeyringError):
        keyring.active()


def test_the_blind_index_finds_spellings_of_one_account_and_is_keyed_per_column():
    same = values.blind_index("6222 0202-0011 2233 445", "transfer_items.creditor_account", "account")
    assert same == values.blind_index("6222020200112233445", "transfer_items.creditor_account", "account")
    assert same != values.blind_index("6222020200112233445", "settlement_batches.creditor_account", "account")
    assert values.blind_index("+86 138-0013-8000", "c", "phone") == values.blind_index("8613800138000", "c", "phone")
    assert "6222020200112233445" not in same and len(same) == values.INDEX_HEX
