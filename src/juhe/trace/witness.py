"""Anchoring: every signed tree head also goes to a witness outside the database — a file
(appended; notes are separated by a blank line) or an http(s) endpoint a third party runs
(POSTed as text/plain). A log rewritten later, heads and all, no longer matches what the
witness holds: `juhe trace verify --database --witness FILE` checks that."""

from __future__ import annotations

from pathlib import Path

import httpx

from juhe.trace import heads

WITNESS_TIMEOUT_S = 5.0


class WitnessError(RuntimeError):
    """The witness could not take the head (unreachable, refused, not writable)."""


def anchor(note: str, witness: str) -> None:
    try:
        if witness.startswith(("http://", "https://")):
            answer = httpx.post(witness, content=note.encode(), timeout=WITNESS_TIMEOUT_S,
                                headers={"Content-Type": "text/plain; charset=utf-8"})
            answer.raise_for_status()
            return
        path = Path(witness)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as file:
            file.write(note + "\n")
    except (OSError, httpx.HTTPError) as error:
        raise WitnessError(f"{witness}: {error}") from error


def read_notes(text: str) -> list[str]:
    """The notes of a witness file, in the order they were written."""
    notes, current = [], []
    for block in text.split("\n\n"):
        current.append(block)
        if "\n\u2014 " in "\n" + block:  # a block of signature lines ends a note
            notes.append("\n\n".join(current).strip("\n") + "\n")
            current = []
    return notes


def checkpoints(text: str, public_key) -> list[heads.Checkpoint]:
    """Every note of the witness the key signed; HeadError on one it did not."""
    return [heads.open_note(note, public_key) for note in read_notes(text)]
