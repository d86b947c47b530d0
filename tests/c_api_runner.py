"""Run SavedModel signatures through the TensorFlow C API, as TF Serving would.

`tests/c_api/run_signature.c` loads a SavedModel with
`TF_LoadSessionFromSavedModel` (a classic Session over the tag-set's
MetaGraph, no Python), feeds and fetches graph tensors by name, and only
knows the ops of the TensorFlow library plus the op libraries it is given.
So a bundle that runs here uses nothing that lives only in Python.

    runner = build_runner(tmp_dir)                 # gcc against the TF wheel
    outputs = run_signature(runner, export_dir, {"text": ["hello world"]})
    assert graph_op_types(export_dir) <= allowed_ops

Inputs and outputs travel as "TFT1" tensor files (see the C source):
magic, int32 dtype enum, int32 rank, int64 dims, then raw little-endian
elements, or for strings a uint64 length before each element's bytes.
"""

import importlib.util
import os
import shutil
import struct
import subprocess
import tempfile
from typing import NamedTuple

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "c_api", "run_signature.c")

# The kernels behind the classic `tf_text.BertTokenizer` graph: NormalizeUTF8 /
# CaseFoldUTF8, RegexSplitWithOffsets and WordpieceTokenizeWithOffsets.
_TEXT_OPS_DIR = os.path.join(
    importlib.util.find_spec("tensorflow_text").submodule_search_locations[0], "python", "ops"
)
TEXT_OP_LIBRARIES = tuple(
    os.path.join(_TEXT_OPS_DIR, name)
    for name in ("_normalize_ops.so", "_regex_split_ops.so", "_wordpiece_tokenizer.so")
)

_MAGIC = b"TFT1"


class TensorInfo(NamedTuple):
    """One signature input or output: its graph tensor and what it holds."""

    name: str  # graph tensor, e.g. "serving_default_text:0"
    dtype: tf.DType
    shape: tuple | None  # -1 for an unknown dimension; None for unknown rank


class RunnerError(RuntimeError):
    """The runner exited non-zero; `stderr` holds TensorFlow's message."""

    def __init__(self, returncode, stderr):
        super().__init__(f"run_signature exited {returncode}:\n{stderr}")
        self.returncode = returncode
        self.stderr = stderr


def build_runner(build_dir):
    """Compiles `run_signature` against the installed TensorFlow wheel; returns its path.

    Skips the calling test if gcc is missing. Reuses a binary newer than the source.
    """
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc not found (apt-get install gcc): cannot build the TF C API runner")
    binary = os.path.join(str(build_dir), "run_signature")
    if os.path.exists(binary) and os.path.getmtime(binary) > os.path.getmtime(SOURCE):
        return binary
    os.makedirs(str(build_dir), exist_ok=True)
    lib_dir = tf.sysconfig.get_lib()
    command = [gcc, "-std=c11", "-O2", "-Wall", "-Wextra", "-I", tf.sysconfig.get_include()]
    # GNU ld takes ~13 s to read libtensorflow_cc's 1 GB symbol tables; gold ~2 s.
    if shutil.which("ld.gold"):
        command.append("-fuse-ld=gold")
    command += [SOURCE, "-o", binary, "-L", lib_dir, f"-Wl,-rpath,{lib_dir}"]
    # The C API lives in libtensorflow_cc; TF_NewStatus, TF_AllocateTensor etc. in
    # the framework library. Neither has an unversioned .so name, hence "-l:".
    command += ["-l:libtensorflow_cc.so.2", "-l:libtensorflow_framework.so.2"]
    result = subprocess.run(command, check=False, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"building run_signature failed:\n{' '.join(command)}\n{result.stderr}")
    return binary


def _meta_graph(saved_model_dir, tag):
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(str(saved_model_dir), "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        if tag in meta_graph.meta_info_def.tags:
            return meta_graph
    raise KeyError(f"no MetaGraph tagged {tag!r} in {saved_model_dir}")


def _tensor_infos(infos):
    result = {}
    for key, info in infos.items():
        shape = info.tensor_shape
        dims = None if shape.unknown_rank else tuple(d.size for d in shape.dim)
        result[key] = TensorInfo(info.name, tf.as_dtype(info.dtype), dims)
    return result


def signature_tensor_names(saved_model_dir, signature_key="serving_default", tag="serve"):
    """({input name: TensorInfo}, {output name: TensorInfo}) of one signature."""
    signatures = _meta_graph(saved_model_dir, tag).signature_def
    if signature_key not in signatures:
        raise KeyError(f"no signature {signature_key!r}; have {sorted(signatures)}")
    signature = signatures[signature_key]
    return _tensor_infos(signature.inputs), _tensor_infos(signature.outputs)


def graph_op_types(saved_model_dir, tag="serve"):
    """Every op type in the MetaGraph's graph and in each function of its library.

    Calls of library functions (whose "op type" is the function's name) are left
    out: they are not ops, and their bodies are listed instead.
    """
    graph_def = _meta_graph(saved_model_dir, tag).graph_def
    functions = {f.signature.name for f in graph_def.library.function}
    ops = {node.op for node in graph_def.node}
    for function in graph_def.library.function:
        ops.update(node.op for node in function.node_def)
    return ops - functions


def write_tensor_file(path, array):
    """Writes a numpy array (object/bytes arrays as strings) as a TFT1 file."""
    array = np.asarray(array)
    is_string = array.dtype.kind in "OSU"
    dtype = tf.string if is_string else tf.as_dtype(array.dtype)
    header = struct.pack(f"<ii{array.ndim}q", dtype.as_datatype_enum, array.ndim, *array.shape)
    with open(path, "wb") as f:
        f.write(_MAGIC + header)
        if is_string:
            for item in array.ravel():
                data = item.encode("utf-8") if isinstance(item, str) else bytes(item)
                f.write(struct.pack("<Q", len(data)) + data)
        else:
            f.write(np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes())


def read_tensor_file(path):
    """Reads a TFT1 file: strings come back as an object array of bytes, like `.numpy()`."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != _MAGIC:
        raise ValueError(f"{path}: not a TFT1 tensor file")
    enum, rank = struct.unpack_from("<ii", data, 4)
    shape = struct.unpack_from(f"<{rank}q", data, 12)
    offset = 12 + 8 * rank
    dtype = tf.as_dtype(enum)
    count = int(np.prod(shape, dtype=np.int64))
    if dtype == tf.string:
        items = []
        for _ in range(count):
            (size,) = struct.unpack_from("<Q", data, offset)
            items.append(data[offset + 8 : offset + 8 + size])
            offset += 8 + size
        array = np.empty(count, dtype=object)
        array[:] = items
        result = array.reshape(shape)
    else:
        np_dtype = np.dtype(dtype.as_numpy_dtype).newbyteorder("<")
        result = np.frombuffer(data, np_dtype, count, offset).reshape(shape)
        offset += count * np_dtype.itemsize
        result = result.astype(np_dtype.newbyteorder("="))
    if offset != len(data):
        raise ValueError(f"{path}: {len(data) - offset} trailing bytes")
    return result


def _as_input(value, info, name):
    """The value as an array of the signature's dtype (lists are converted;
    arrays of another dtype are refused, as a tf.function signature would)."""
    if info.dtype == tf.string:
        # dtype=object keeps each bytes item whole: a numpy "S" array would
        # drop trailing NUL bytes.
        return np.asarray(value, dtype=object)
    if isinstance(value, np.ndarray) and value.dtype != info.dtype.as_numpy_dtype:
        raise TypeError(f"input {name!r} is {value.dtype}, the signature wants {info.dtype.name}")
    return np.asarray(value, dtype=info.dtype.as_numpy_dtype)


def run_signature(
    runner,
    saved_model_dir,
    inputs,
    signature_key="serving_default",
    op_libraries=TEXT_OP_LIBRARIES,
    tag="serve",
    timeout=300,
):
    """Runs one signature in the C runner: {output name: np.ndarray}.

    `inputs` maps every signature input name to a numpy array or, for strings,
    a list of `str` (sent as UTF-8) or `bytes`. Raises RunnerError with
    TensorFlow's message if the runner fails.
    """
    input_infos, output_infos = signature_tensor_names(saved_model_dir, signature_key, tag)
    if set(inputs) != set(input_infos):
        raise KeyError(
            f"signature {signature_key!r} takes {sorted(input_infos)}, got {sorted(inputs)}"
        )
    with tempfile.TemporaryDirectory(prefix="run_signature_") as tmp:
        input_specs, output_specs, output_files = [], [], {}
        for i, (name, value) in enumerate(sorted(inputs.items())):
            path = os.path.join(tmp, f"in{i}.tft")
            write_tensor_file(path, _as_input(value, input_infos[name], name))
            input_specs.append(f"{input_infos[name].name}={path}")
        for i, (name, info) in enumerate(sorted(output_infos.items())):
            output_files[name] = os.path.join(tmp, f"out{i}.tft")
            output_specs.append(f"{info.name}={output_files[name]}")
        command = [runner, str(saved_model_dir), tag, *op_libraries]
        command += ["--", *input_specs, "--", *output_specs]
        # Quiet TF's info logs so that stderr is mostly the error, if any.
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        result = subprocess.run(
            command, check=False, capture_output=True, text=True, errors="replace",
            timeout=timeout, env=env,
        )  # fmt: skip
        if result.returncode != 0:
            raise RunnerError(result.returncode, result.stderr)
        return {name: read_tensor_file(path) for name, path in output_files.items()}
