"""The best fp32 matmul rate of this machine, measured in the same run.

`tf.linalg.matmul` of two square float32 matrices in a `tf.function`;
`2 * n**3` FLOPs per product. The peak is the best median over the sizes
tried (4096 and 2048). The encoder inference benchmark divides its achieved
GFLOP/s by it, and also times the 4096 product interleaved with the models,
so that a drift in machine load shows on both sides.
"""

from bench.timing import measure

SIZES = (4096, 2048)
QUICK_SIZES = (512,)


def matmul_factory(n):
    """A factory for `measure`: one `n x n` float32 product per step."""

    def build():
        import tensorflow as tf

        a = tf.random.normal([n, n], seed=1)
        b = tf.random.normal([n, n], seed=2)
        product = tf.function(lambda: tf.linalg.matmul(a, b))
        return product

    return build


def flops(n):
    return 2 * n**3


def run(options):
    """Times each size; returns rows in GFLOP/s and `peak_gflops`."""
    sizes = QUICK_SIZES if options.quick else SIZES
    factories = {f"matmul {n}x{n} fp32": matmul_factory(n) for n in sizes}
    # Short products are repeated so that each sample lasts ~0.5 s.
    number = {n: max(1, (4096 // n) ** 3 // 2) for n in sizes}
    rows = []
    for n, (name, factory) in zip(sizes, factories.items()):
        timing = measure({name: factory}, options.repeats, number=number[n], label="matmul_peak")[name]
        rate = timing.rate(flops(n) / 1e9)
        rows.append({"name": name, "n": n, **rate, "timing": timing.to_dict()})
    return {
        "title": "fp32 matmul peak",
        "unit": "GFLOP/s",
        "rows": rows,
        "peak_gflops": max(row["median"] for row in rows),
        "ratios": [],
    }


def markdown(result):
    lines = [
        "| matmul | GFLOP/s median | min | max |",
        "|---|---:|---:|---:|",
    ]
    for row in result["rows"]:
        lines.append(f"| {row['name']} | {row['median']:.1f} | {row['min']:.1f} | {row['max']:.1f} |")
    lines.append("")
    lines.append(f"Peak used below: **{result['peak_gflops']:.1f} GFLOP/s** (best median).")
    return "\n".join(lines)
