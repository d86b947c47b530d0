"""The benchmark harness in quick mode, as `make bench QUICK=1` runs it:
it must run and write well-formed results (never a speed threshold)."""

import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Keys of figures that are times, rates, sizes or ratios: finite and positive.
POSITIVE_KEYS = ("median", "min", "max", "ratio", "gflops", "peak_gflops", "peak_mb", "import_mb")
POSITIVE_SUFFIXES = ("_s", "_ms")


def benchmark_names():
    # `bench.BENCHMARKS`, read in a child: importing `bench` here would set
    # torch's OpenMP policy in this process's environment.
    code = "import bench; print(' '.join(bench.BENCHMARKS))"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    return done.stdout.split()


def check_numbers(value, key="", path="results"):
    """Every number finite; timings, rates and ratios also positive."""
    if isinstance(value, dict):
        for k, v in value.items():
            check_numbers(v, k, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_numbers(v, key, f"{path}[{i}]")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        assert math.isfinite(value), path
        if key in POSITIVE_KEYS or key.endswith(POSITIVE_SUFFIXES):
            assert value > 0, path


def run_module(*arguments):
    """`python -m <arguments>` in the repository; its stdout once it succeeded."""
    done = subprocess.run([sys.executable, "-m", *arguments], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-5000:]
    return done.stdout


@pytest.mark.slow
def test_quick_mode_writes_well_formed_results(tmp_path):
    run_module("bench", "--quick", f"--output_dir={tmp_path}")

    with open(tmp_path / "results.json") as f:
        results = json.load(f)
    names = benchmark_names()
    assert list(results["benchmarks"]) == names
    assert results["settings"]["quick"] is True
    assert results["machine"]["usable_cores"] >= 1
    check_numbers(results)
    for name, result in results["benchmarks"].items():
        assert result["rows"], name
        assert result["seconds"] > 0 and result["date"], name
        for row in result["rows"]:
            if "timing" in row:
                assert len(row["timing"]["samples_s"]) == result["repeats"], (name, row["name"])
        for r in result["ratios"]:
            assert r["met"] == (None if r["target"] is None else r["ratio"] >= r["target"]), (name, r)

    tokenization = results["benchmarks"]["tokenization"]
    shares = [r for r in tokenization["ratios"] if "identical ids" in r["what"]]
    assert [r["ratio"] for r in shares] == [1.0]
    assert all(row["mismatched_articles"] == 0 for row in tokenization["rows"])

    markdown = (tmp_path / "RESULTS.md").read_text()
    assert "quick mode" in markdown
    ratio_table = markdown.split("## Ratios", 1)[1].split("\n## ", 1)[0]
    assert "| benchmark | comparison | ratio | runs | target | met |" in ratio_table
    all_ratios = [r for result in results["benchmarks"].values() for r in result["ratios"]]
    for r in all_ratios:
        assert f"| {r['what']} | {r['numerator']} / {r['denominator']} | {r['ratio']:.2f} |" in ratio_table
    for result in results["benchmarks"].values():
        assert f"## {result['title']}" in markdown


def test_several_runs_judge_each_ratio_by_its_median(tmp_path):
    run_module("bench", "--quick", "--runs=3", "data_creation", f"--output_dir={tmp_path}")
    result = json.loads((tmp_path / "results.json").read_text())["benchmarks"]["data_creation"]
    assert len(result["runs"]) == 3
    assert sorted(run["date"] for run in result["runs"]) == [run["date"] for run in result["runs"]]
    assert result["ratios"]
    for row in result["rows"]:
        assert 0 < row["instance_phase_s"] and 0 < row["serial_s"]
    markdown = (tmp_path / "RESULTS.md").read_text()
    two_processes = result["rows"][1]
    assert f"| {two_processes['instance_phase_s']:.2f} | {two_processes['serial_s']:.2f} |" in markdown
    for r, *per_run in zip(result["ratios"], *(run["ratios"] for run in result["runs"])):
        assert r["over_runs"] == [run_ratio["ratio"] for run_ratio in per_run]
        assert r["ratio"] == statistics.median(r["over_runs"])
        assert r["met"] == (None if r["target"] is None else r["ratio"] >= r["target"])
        spread = f"3: {min(r['over_runs']):.2f}-{max(r['over_runs']):.2f}"
        assert f"| {r['ratio']:.2f} | {spread} |" in markdown
    assert "The last of 3 runs" in markdown


def test_runs_that_disagree_on_their_ratios_are_refused():
    # bench/report.py by its path: importing the `bench` package would set
    # torch's OpenMP policy in this process's environment.
    spec = importlib.util.spec_from_file_location("bench_report", os.path.join(REPO, "bench", "report.py"))
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    ratio = {"what": "a", "numerator": "x", "denominator": "y", "ratio": 1.0, "target": 1.1, "met": False}
    run = {"title": "T", "date": "d", "seconds": 1.0, "ratios": [ratio]}
    other = dict(run, ratios=[dict(ratio, what="b")])
    with pytest.raises(ValueError, match="different ratios"):
        report.over_runs([run, other])
    runs = [dict(run, ratios=[dict(ratio, ratio=value)]) for value in (1.3, 1.15, 1.05)]
    combined = report.over_runs(runs)["ratios"][0]
    assert (combined["ratio"], combined["met"], combined["over_runs"]) == (1.15, True, [1.3, 1.15, 1.05])


MATRIX_PRODUCTS_FLOPS = """
import json
import numpy as np
from bench import encoder_inference, sizes
config, batch, length = sizes.preset("tiny"), 3, 16
products = encoder_inference.matrix_products(config, batch, length)()
graph = products.get_concrete_function().graph
flops, others = 0, set()
for op in graph.get_operations():
    if op.type in ("MatMul", "BatchMatMulV2"):
        a, b = (tuple(t.shape) for t in op.inputs)
        transpose_b = op.get_attr("transpose_b" if op.type == "MatMul" else "adj_y")
        flops += 2 * int(np.prod(op.outputs[0].shape)) * (b[-1] if transpose_b else b[-2])
    elif op.type not in ("Placeholder", "NoOp", "Identity"):
        others.add(op.type)
expected = batch * encoder_inference.flops_per_sequence(config, length)
print(json.dumps({"flops": flops, "expected": expected, "others": sorted(others)}))
"""


def test_matrix_products_alone_do_the_flops_the_encoder_is_credited_with():
    # The ceiling row of the encoder benchmark must do exactly the matrix
    # work `flops_per_sequence` counts, and no other computation.
    done = subprocess.run(
        [sys.executable, "-c", MATRIX_PRODUCTS_FLOPS], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    counted = json.loads(done.stdout.strip().splitlines()[-1])
    assert counted["flops"] == counted["expected"]
    assert counted["others"] == []


def test_profile_counts_each_matrix_product_once(tmp_path):
    # The tiny encoder (2 layers) runs 13 matrix products per step: per layer
    # Q/K/V, scores, context, output and the two feed-forward ones, then the
    # pooler; so does its ceiling, and cut in two parts it runs 26. Each must
    # be counted once per step, on whichever executor thread ran it.
    stdout = run_module(
        "bench.profile", "encoder_inference", "--quick", "--batch=2", "--steps=2", f"--logdir={tmp_path}"
    )
    result = json.loads((tmp_path / "profile.json").read_text())
    assert (result["benchmark"], result["batch"], result["steps"]) == ("encoder_inference", 2, 2)
    peers = result["peers"]
    expected_products = {
        "kerasbert (tf.function)": 13,
        "kerasbert (tf.function, 2 concurrent parts)": 26,
        "keras-hub BertBackbone (tf.function)": None,
        "the encoder's matrix products alone (tf.function)": 13,
    }
    assert list(peers) == list(expected_products)
    check_numbers(peers)
    for name, peer in peers.items():
        products = sum(op["count"] for op_type, op in peer["ops"].items() if "MatMul" in op_type)
        if expected_products[name] is not None:
            assert products == expected_products[name], (name, peer["ops"])
        assert peer["wall_ms"] > 0 and all(op["ms"] >= 0 for op in peer["ops"].values()), name
        assert name in stdout
    traces = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(traces) == 4 and all(list(p.glob("plugins/profile/*/*.xplane.pb")) for p in traces)


def test_profile_of_the_pretraining_step_names_its_gradient_ops(tmp_path):
    run_module("bench.profile", "pretraining_step", "--quick", "--steps=1", f"--logdir={tmp_path}")
    result = json.loads((tmp_path / "profile.json").read_text())
    assert (result["benchmark"], result["batch"], result["steps"]) == ("pretraining_step", None, 1)
    peers = result["peers"]
    assert len(peers) == 3
    check_numbers(peers)
    for name, peer in peers.items():
        assert "BiasAddGrad" in peer["ops"] or "Sum" in peer["ops"], (name, sorted(peer["ops"]))
        assert any("MatMul" in op_type for op_type in peer["ops"]), name
