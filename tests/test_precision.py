import subprocess

import pytest
import tensorflow as tf

from kerasbert.training import auto_mixed_precision, cpu_has_bfloat16_dot_products

AMD_EPYC_FLAGS = "fpu vme sse2 avx2 avx512f avx512bw avx512_bf16 avx512_vnni"
SAPPHIRE_RAPIDS_FLAGS = "fpu sse2 avx2 avx512f avx512_fp16 amx_bf16 amx_tile amx_int8"
ICE_LAKE_FLAGS = "fpu sse2 avx2 avx512f avx512bw avx512_vnni avx512_bitalg"


def cpuinfo(tmp_path, flags):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: some cpu\nflags\t\t: {flags}\nbugs\t\t: spectre_v1\n")
    return str(path)


@pytest.mark.parametrize(
    "flags, native", [(AMD_EPYC_FLAGS, True), (SAPPHIRE_RAPIDS_FLAGS, True), (ICE_LAKE_FLAGS, False)]
)
def test_bfloat16_dot_products_are_read_from_the_cpu_flags(tmp_path, flags, native):
    assert cpu_has_bfloat16_dot_products(cpuinfo(tmp_path, flags)) is native
    assert auto_mixed_precision(cpuinfo_path=cpuinfo(tmp_path, flags)) == ("mixed_bfloat16" if native else None)


def test_a_flag_must_match_whole_and_a_missing_cpuinfo_means_float32(tmp_path):
    assert not cpu_has_bfloat16_dot_products(cpuinfo(tmp_path, "avx512_bf16x amx_bf16_off"))
    assert not cpu_has_bfloat16_dot_products(str(tmp_path / "absent"))
    assert auto_mixed_precision(cpuinfo_path=str(tmp_path / "absent")) is None


def test_this_machine_agrees_with_its_own_cpuinfo():
    listed = subprocess.run(
        "grep -m1 '^flags' /proc/cpuinfo | grep -qwE 'avx512_bf16|amx_bf16'", shell=True
    ).returncode == 0
    assert cpu_has_bfloat16_dot_products() is listed
    assert auto_mixed_precision(tf.distribute.OneDeviceStrategy("/cpu:0")) == ("mixed_bfloat16" if listed else None)
