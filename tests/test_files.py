"""Files hydratune rewrites: whole or not at all, with a plain write's permissions."""

from __future__ import annotations

import os
import stat

import pytest

from hydratune.files import write_atomically


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002], ids=oct)
def test_a_new_file_gets_the_permissions_a_plain_write_gives(tmp_path, umask):
    previous = os.umask(umask)
    try:
        (tmp_path / "plain.yaml").write_text("a: 1\n")
        write_atomically(tmp_path / "ours.yaml", "a: 1\n")
    finally:
        os.umask(previous)
    assert mode(tmp_path / "ours.yaml") == mode(tmp_path / "plain.yaml") == 0o666 & ~umask


def test_a_replaced_file_keeps_its_permissions_and_no_temporary_file_stays(tmp_path):
    shared = tmp_path / "experiment.yaml"
    shared.write_text("a: 1\n")
    shared.chmod(0o640)  # readable by the user's group, as they chose
    write_atomically(shared, "a: 2\n")
    assert shared.read_text() == "a: 2\n" and mode(shared) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["experiment.yaml"]
