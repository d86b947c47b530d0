"""Files and directories: atomic writes, globs, command-line errors."""

import contextlib
import glob
import json
import os
import shutil
import sys
import tempfile
import uuid


@contextlib.contextmanager
def atomic_directory(path, overwrite=False):
    """Yields a temporary directory beside `path`; on success it replaces
    `path` in one rename. On any error the temporary directory is removed and
    an existing `path` is left as it was.

    Raises:
        FileExistsError: `path` exists and `overwrite` is False.
    """
    path = os.path.abspath(path)
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} already exists (pass overwrite=True to replace it)")
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    # os.mkdir, not mkdtemp: the finished directory gets the umask's
    # permissions like any other, not mkdtemp's 0700 (which kept a model
    # server running as another user out of exported models).
    tmp = os.path.join(parent, f".{os.path.basename(path)}.tmp-{uuid.uuid4().hex[:12]}")
    os.mkdir(tmp)
    try:
        yield tmp
        if os.path.exists(path):
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.old-", dir=parent)
            os.rename(path, os.path.join(old, "previous"))
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_json(path, value):
    """Writes `value` as indented JSON through a temporary file renamed into
    place, so that a reader never sees half a file."""
    write_text(path, json.dumps(value, indent=1))


def write_text(path, text):
    """Writes `text` to a temporary file and renames it into place, on any
    filesystem TensorFlow writes (local, `gs://`: there the rename is a copy,
    so readers still never see half a file)."""
    import tensorflow as tf

    tmp = f"{path}.tmp-{os.getpid()}"
    with tf.io.gfile.GFile(tmp, "w") as f:
        f.write(text)
    tf.io.gfile.rename(tmp, path, overwrite=True)


def expand_globs(patterns):
    """`"a/*.txt,b.txt"` or a list of globs -> sorted, de-duplicated paths;
    a pattern with a scheme (`gs://...`) through TensorFlow's filesystems."""
    if isinstance(patterns, str):
        patterns = [p for p in patterns.split(",") if p]
    files = []
    for pattern in map(os.fspath, patterns):
        matches = _tensorflow_glob(pattern) if "://" in pattern else _local_glob(pattern)
        if matches is None:
            raise FileNotFoundError(f"{pattern}: no file matches")
        files += matches
    return list(dict.fromkeys(files))


def _local_glob(pattern):
    """The files that match, sorted; None if nothing does."""
    matches = sorted(glob.glob(pattern, recursive=True))
    return [m for m in matches if os.path.isfile(m)] if matches else None


def _tensorflow_glob(pattern):
    import tensorflow as tf

    matches = sorted(tf.io.gfile.glob(pattern))
    return [m for m in matches if not tf.io.gfile.isdir(m)] if matches else None


@contextlib.contextmanager
def exit_on_user_error(program):
    """For command-line programs: an expected error (bad file, bad value,
    failed run) ends the program with `program: message` and status 1,
    without a traceback."""
    try:
        yield
    except (OSError, ValueError, RuntimeError) as e:
        sys.exit(f"{program}: {e}")
