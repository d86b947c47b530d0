"""Files and directories: atomic writes, globs, command-line errors."""

import contextlib
import glob
import json
import os
import shutil
import sys
import tempfile
import uuid


def is_remote(path):
    """Whether `path` names one of TensorFlow's filesystems by a scheme
    (`gs://`, `ram://`, ...) rather than a local file."""
    return "://" in os.fspath(path)


@contextlib.contextmanager
def atomic_directory(path, overwrite=False, last=()):
    """Yields a temporary directory beside `path`; on success it replaces
    `path` in one rename. On any error the temporary directory is removed and
    an existing `path` is left as it was.

    A `path` on another of TensorFlow's filesystems (`gs://`) is written
    differently, as object stores rename no directory at once: the yielded
    directory is a local temporary one; once it is complete it is copied
    whole beside `path`, and only then copied into place a file at a time,
    the files named in `last` (relative paths) last. So a reader that needs
    `last` (a SavedModel's `saved_model.pb`, say) never sees a partial
    directory; an error before that last step leaves an existing `path` as
    it was, and one during it names the complete copy.

    Raises:
        FileExistsError: `path` exists and `overwrite` is False.
    """
    if is_remote(path):
        with _remote_directory(os.fspath(path).rstrip("/"), overwrite, last) as tmp:
            yield tmp
        return
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


def remove_tree(path):
    """Removes a directory or file, if there, on any of TensorFlow's
    filesystems."""
    import tensorflow as tf

    try:
        if tf.io.gfile.isdir(path):
            tf.io.gfile.rmtree(path)
        elif tf.io.gfile.exists(path):
            tf.io.gfile.remove(path)
    except tf.errors.NotFoundError:
        # ram:// removes the whole tree, then fails on a name it listed
        # wrongly (".extra" in "assets", for "assets.extra").
        if tf.io.gfile.exists(path):
            raise


class IncompleteCopyError(OSError):
    """Copying a finished output into place on a remote filesystem failed
    part way: the output there is incomplete, and the message names the
    complete copy beside it."""


@contextlib.contextmanager
def _remote_directory(path, overwrite, last):
    """`atomic_directory` for a `path` on TensorFlow's filesystems."""
    import tensorflow as tf

    if tf.io.gfile.exists(path) and not overwrite:
        raise FileExistsError(f"{path} already exists (pass overwrite=True to replace it)")
    parent, name = path.rsplit("/", 1)
    staging = tempfile.mkdtemp(prefix=f"{name}.staging-")
    try:
        yield staging
        copy = f"{parent}/.{name}.tmp-{uuid.uuid4().hex[:12]}"
        try:
            _copy_tree(staging, copy)
        except BaseException:
            remove_tree(copy)
            raise
        try:
            remove_tree(path)
            # Copies, not renames (on GCS a rename is a copy too): the
            # complete copy stays whole until the output is.
            _copy_tree(copy, path, last)
        except Exception as e:
            cause = e.message if isinstance(e, tf.errors.OpError) else str(e)
            raise IncompleteCopyError(
                f"could not copy {copy} into {path} ({type(e).__name__}: {cause}); {path} is incomplete, "
                f"the complete output is in {copy}"
            ) from e
        remove_tree(copy)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _copy_tree(source, destination, last=()):
    """Copies the files under `source` to `destination` (either local or on
    TensorFlow's filesystems), the relative paths in `last` last;
    directories, also empty ones, are made first."""
    import tensorflow as tf

    files = []
    for directory, _, names in tf.io.gfile.walk(source):
        relative = directory[len(source) :].strip("/")
        tf.io.gfile.makedirs(f"{destination}/{relative}".rstrip("/"))
        # Only names that exist there: ram:// lists "assets.extra/x" in
        # "assets" too, as ".extra/x".
        files += [f"{relative}/{name}".lstrip("/") for name in names if tf.io.gfile.exists(f"{directory}/{name}")]
    files.sort(key=lambda file: last.index(file) + 1 if file in last else 0)
    for file in files:
        tf.io.gfile.copy(f"{source}/{file}", f"{destination}/{file}", overwrite=True)


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
        matches = _tensorflow_glob(pattern) if is_remote(pattern) else _local_glob(pattern)
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
