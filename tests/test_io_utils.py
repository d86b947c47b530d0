import os
import stat

import pytest
import tensorflow as tf

from kerasbert.io_utils import IncompleteCopyError, atomic_directory, is_remote


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


# TensorFlow's in-memory filesystem (ram://) stands in for gs:// below.


def write_files(directory, files):
    for name, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(directory, name)), exist_ok=True)
        with open(os.path.join(directory, name), "w") as f:
            f.write(text)


def remote_files(path):
    return {
        os.path.join(directory, name)[len(path) + 1 :]: tf.io.gfile.GFile(os.path.join(directory, name)).read()
        for directory, _, names in tf.io.gfile.walk(path)
        for name in names
    }


@pytest.fixture
def bucket():
    path = "ram://bucket-io"
    tf.io.gfile.makedirs(path)
    yield path
    tf.io.gfile.rmtree(path)


def test_atomic_directory_on_tensorflows_filesystems(bucket, monkeypatch):
    files = {"saved_model.pb": "graph", "variables/variables.index": "index", "variables/data": "data"}
    with atomic_directory(f"{bucket}/out") as tmp:
        assert not is_remote(tmp)  # written locally, copied when complete
        write_files(tmp, files)
        os.mkdir(os.path.join(tmp, "assets"))
    assert remote_files(f"{bucket}/out") == files
    assert tf.io.gfile.isdir(f"{bucket}/out/assets")
    assert tf.io.gfile.listdir(bucket) == ["out"]
    assert not os.path.exists(tmp)

    with pytest.raises(FileExistsError, match="ram://bucket-io/out already exists"):
        with atomic_directory(f"{bucket}/out"):
            pass
    with pytest.raises(RuntimeError, match="half way"):
        with atomic_directory(f"{bucket}/out", overwrite=True) as tmp:
            write_files(tmp, {"saved_model.pb": "lost"})
            raise RuntimeError("half way")
    assert remote_files(f"{bucket}/out") == files
    assert tf.io.gfile.listdir(bucket) == ["out"]

    # Replaced: the new files only, copied in with the one readers look for last.
    placed, copy = [], tf.io.gfile.copy
    monkeypatch.setattr(tf.io.gfile, "copy", lambda a, b, overwrite: placed.append(b) or copy(a, b, overwrite))
    new = {"saved_model.pb": "graph 2", "variables/variables.index": "index 2", "z": "z"}
    with atomic_directory(f"{bucket}/out", overwrite=True, last=("saved_model.pb",)) as tmp:
        write_files(tmp, new)
    assert remote_files(f"{bucket}/out") == new
    into_place = [path[len(bucket) + 5 :] for path in placed if path.startswith(f"{bucket}/out/")]
    assert sorted(into_place[:-1]) == ["variables/variables.index", "z"] and into_place[-1] == "saved_model.pb"
    assert tf.io.gfile.listdir(bucket) == ["out"]


def test_atomic_directory_names_the_complete_copy_when_placing_fails(bucket, monkeypatch):
    copy, placed = tf.io.gfile.copy, []

    def copy_then_fail(source, destination, overwrite):
        if destination.startswith(f"{bucket}/out/"):
            placed.append(destination)
            if len(placed) == 2:
                raise tf.errors.UnavailableError(None, None, "connection reset")
        copy(source, destination, overwrite)

    monkeypatch.setattr(tf.io.gfile, "copy", copy_then_fail)
    message = r"UnavailableError: connection reset\); ram://bucket-io/out is incomplete, the complete output is in ram://bucket-io/\.out\.tmp-"
    with pytest.raises(IncompleteCopyError, match=message) as error:
        with atomic_directory(f"{bucket}/out") as tmp:
            write_files(tmp, {"a": "1", "b": "2"})
    complete = str(error.value).rsplit(" ", 1)[1]
    assert remote_files(complete) == {"a": "1", "b": "2"}
