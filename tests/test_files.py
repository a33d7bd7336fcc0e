"""Files hydratune rewrites: whole or not at all, with a plain write's permissions."""

from __future__ import annotations

import os
import stat

import pytest

from hydratune.files import write_atomically, write_folder_atomically


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


def test_a_file_that_cannot_be_created_is_named_in_the_error_not_the_temporary(tmp_path):
    (tmp_path / "notes.txt").write_text("mine\n")
    target = tmp_path / "notes.txt" / "best.yaml"  # below a file: nothing can be created
    with pytest.raises(NotADirectoryError) as error:
        write_atomically(target, "x: 1\n")
    assert error.value.filename == str(target) and ".tmp" not in str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("umask", [0o022, 0o077], ids=oct)
def test_a_new_folder_of_files_appears_whole_with_a_plain_mkdirs_permissions(tmp_path, umask):
    previous = os.umask(umask)
    try:
        (tmp_path / "plain").mkdir()
        write_folder_atomically(tmp_path / ".hydra", {"a.yaml": "a: 1\n", "b.yaml": "b: 2\n"})
    finally:
        os.umask(previous)
    assert {p.name: p.read_text() for p in (tmp_path / ".hydra").iterdir()} == {
        "a.yaml": "a: 1\n",
        "b.yaml": "b: 2\n",
    }
    assert mode(tmp_path / ".hydra") == mode(tmp_path / "plain") == 0o777 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hydra", "plain"]  # no temporary


def test_files_into_a_folder_that_is_there_replace_only_theirs(tmp_path):
    folder = tmp_path / ".hydra"
    folder.mkdir()
    (folder / "a.yaml").write_text("old\n")
    (folder / "notes.txt").write_text("mine\n")
    write_folder_atomically(folder, {"a.yaml": "a: 1\n"})
    assert (folder / "a.yaml").read_text() == "a: 1\n"
    assert sorted(p.name for p in folder.iterdir()) == ["a.yaml", "notes.txt"]
