"""The machine description and `RESULTS.md`."""

import datetime
import importlib
import importlib.metadata
import os
import platform
import statistics
import subprocess

PACKAGES = (
    "kerasbert",
    "tensorflow",
    "tensorflow-text",
    "keras",
    "keras-hub",
    "torch",
    "transformers",
    "tokenizers",
    "numpy",
)


def machine_description():
    """CPU model and flags of note, cores, RAM, load, versions, date."""
    cpuinfo = _read("/proc/cpuinfo")
    fields = dict(line.split(":", 1) for line in cpuinfo.splitlines()[:40] if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    model = fields.get("model name", platform.processor())
    flags = fields.get("flags", "").split()
    meminfo = _read("/proc/meminfo")
    total_kb = next((int(l.split()[1]) for l in meminfo.splitlines() if l.startswith("MemTotal")), 0)
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "date": now(),
        "cpu": model,
        "cpu_features": [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags],
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "ram_gb": round(total_kb / 1024**2, 1),
        "load_average": list(os.getloadavg()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git": _git_revision(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "versions": versions,
    }


def now():
    """The UTC date and time, to the second, ISO 8601."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def over_runs(runs):
    """One benchmark's result from its runs (each a result dict, in order):
    the last run's, with each ratio replaced by its median over the runs
    (the target judged on that median) and `over_runs` holding every run's
    value; `runs` keeps each run's date, seconds and ratios."""
    if len({tuple(r["what"] for r in run["ratios"]) for run in runs}) != 1:
        raise ValueError("the runs of one benchmark gave different ratios: " + runs[0].get("title", "?"))
    combined = dict(runs[-1])
    combined["runs"] = [{key: run[key] for key in ("date", "seconds", "ratios")} for run in runs]
    combined["ratios"] = []
    for index, last in enumerate(runs[-1]["ratios"]):
        values = [run["ratios"][index]["ratio"] for run in runs]
        median = statistics.median(values)
        met = None if last["target"] is None else bool(median >= last["target"])
        combined["ratios"].append(dict(last, ratio=median, over_runs=values, met=met))
    return combined


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _git_revision():
    try:
        return subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            cwd=os.path.dirname(os.path.abspath(__file__)),
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def summary(results):
    """The ratios of every benchmark, one table."""
    lines = [
        "| benchmark | comparison | ratio | runs | target | met |",
        "|---|---|---:|---:|---:|:---:|",
    ]
    for name, result in results["benchmarks"].items():
        for r in result.get("ratios", []):
            values = r.get("over_runs", [r["ratio"]])
            spread = f"{len(values)}: {min(values):.2f}-{max(values):.2f}" if len(values) > 1 else "1"
            target = "" if r["target"] is None else f"{r['target']:g}"
            met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
            lines.append(
                f"| {r['what']} | {r['numerator']} / {r['denominator']} | {r['ratio']:.2f} | {spread} "
                f"| {target} | {met} |"
            )
    return "\n".join(lines)


def markdown(results):
    machine = results["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v)
    load = ", ".join(f"{x:.2f}" for x in machine["load_average"])
    lines = [
        "# kerasbert benchmarks",
        "",
        "Written by `make bench` (`python -m bench`); do not edit. Peers run in one process, "
        "interleaved round robin, warm-up excluded; medians of "
        f"{results['settings']['repeats']} repetitions with min and max; float32 on CPU; "
        f"torch with 2 threads (`OMP_WAIT_POLICY={machine['omp_wait_policy']}`). Only ratios "
        "within one run count: on a shared machine the absolute figures drift from run to run.",
        "",
        f"- Date: {machine['date']}"
        + (" (**quick mode: tiny sizes, not a measurement**)" if results["settings"]["quick"] else ""),
        f"- Machine: {machine['cpu']} ({', '.join(machine['cpu_features']) or 'no AVX flags'}), "
        f"{machine['usable_cores']} of {machine['cores']} cores usable, {machine['ram_gb']} GB RAM; "
        f"load average at start {load}",
        f"- Software: Python {machine['python']}, {versions}; kerasbert at `{machine['git']}`",
        f"- Wall time of the run: {results['seconds'] / 60:.1f} min",
        "",
        "## Ratios",
        "",
        "kerasbert over its peer (throughputs; latencies: peer over kerasbert), best variant of each; "
        "over several runs (`--runs`), the median of the runs' ratios, their number and range.",
        "",
        summary(results),
    ]
    from bench import BENCHMARKS

    for name in BENCHMARKS:
        if name not in results["benchmarks"]:
            continue
        result = results["benchmarks"][name]
        module = importlib.import_module(f"bench.{name}")
        start, end = result["load_average"]
        when = (
            f"Measured {result['date']}: {result['repeats']} repetitions, {result['seconds']:.0f} s, "
            f"1-minute load average {start:.2f} before and {end:.2f} after."
        )
        if len(result.get("runs", [])) > 1:
            when += f" The last of {len(result['runs'])} runs (from {result['runs'][0]['date']})."
        summary_line = module.__doc__.strip().split("\n\n")[0]
        lines += ["", f"## {result['title']}", "", summary_line, "", when, "", module.markdown(result)]
    return "\n".join(lines) + "\n"
