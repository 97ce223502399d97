"""The pty emulator's stable link: replaces its own stale symlink, never anything else."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from radsurvey.drivers.emulator import PtyEmulator
from radsurvey.drivers.gmc.emulator import GmcDevice


def test_an_existing_regular_file_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    precious = tmp_path / "notes.txt"
    precious.write_text("do not lose me")
    with pytest.raises(FileExistsError, match="not a symlink"):
        PtyEmulator(GmcDevice(), link=precious).start()
    assert precious.read_text() == "do not lose me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_an_existing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileExistsError):
        PtyEmulator(GmcDevice(), link=tmp_path).start()
    assert tmp_path.is_dir()


def test_a_stale_symlink_is_replaced_and_removed_at_stop(tmp_path: Path) -> None:
    link = tmp_path / "gmc"
    link.symlink_to("/dev/nonexistent-pty")
    with PtyEmulator(GmcDevice(), link=link) as emu:
        assert os.readlink(link).startswith("/dev/pts/") and emu.port == str(link)
    assert not os.path.lexists(link)
    assert list(tmp_path.iterdir()) == []


def test_a_link_in_a_missing_directory_is_an_os_error_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        PtyEmulator(GmcDevice(), link=tmp_path / "absent" / "gmc").start()
    assert list(tmp_path.iterdir()) == []
