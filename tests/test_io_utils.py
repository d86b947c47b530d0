import os
import stat

import pytest

from kerasbert.io_utils import atomic_directory


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_atomic_directory_has_the_umask_permissions(tmp_path, umask):
    previous = os.umask(umask)
    try:
        with atomic_directory(tmp_path / "out") as tmp:
            with open(os.path.join(tmp, "file"), "w") as f:
                f.write("x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(tmp_path / "out").st_mode) == 0o777 & ~umask
    assert os.listdir(tmp_path) == ["out"]


def test_atomic_directory_keeps_the_old_one_on_error(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old").write_text("kept")
    with pytest.raises(RuntimeError, match="half way"):
        with atomic_directory(tmp_path / "out", overwrite=True) as tmp:
            with open(os.path.join(tmp, "new"), "w") as f:
                f.write("lost")
            raise RuntimeError("half way")
    assert os.listdir(tmp_path) == ["out"]
    assert os.listdir(tmp_path / "out") == ["old"]


def test_atomic_directory_refuses_to_overwrite(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(FileExistsError, match="out already exists"):
        with atomic_directory(tmp_path / "out"):
            pass
