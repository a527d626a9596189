"""``--mixed_precision auto``: bf16 where the CPU multiplies it natively, float32 elsewhere, the choice said once."""
import io

import pytest

from keras_bert_zoo.train import distribute

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9R14
flags\t\t: fpu vme sse2 avx avx2 fma {extra}
bugs\t\t: sysret_ss_attrs
"""


def _cpuinfo(tmp_path, extra):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO.format(extra=extra))
    return str(path)


@pytest.mark.parametrize("extra, expected", [
    ("avx512f avx512_bf16", "mixed_bfloat16"),            # Zen 4, Cooper Lake
    ("avx512f amx_tile amx_bf16 amx_int8", "mixed_bfloat16"),  # Sapphire Rapids
    ("avx512f avx512bw", "float32"),                       # AVX-512 without bf16 (Skylake, Cascade Lake)
    ("", "float32"),                                       # AVX2 only
])
def test_auto_picks_bf16_only_on_native_bf16_cpus(tmp_path, monkeypatch, extra, expected):
    monkeypatch.setattr(distribute, "_bf16_gpu", lambda: None)
    policy, reason = distribute.auto_precision(_cpuinfo(tmp_path, extra))
    assert policy == expected
    assert ("AVX512_BF16" in reason or "AMX" in reason)


def test_no_cpuinfo_is_float32(tmp_path, monkeypatch):
    monkeypatch.setattr(distribute, "_bf16_gpu", lambda: None)
    assert distribute.auto_precision(str(tmp_path / "absent"))[0] == "float32"


def test_a_bf16_gpu_wins(monkeypatch):
    monkeypatch.setattr(distribute, "_bf16_gpu", lambda: "NVIDIA H100")
    assert distribute.auto_precision("/nonexistent") == ("mixed_bfloat16", "GPU NVIDIA H100 has native bf16")


def test_auto_is_announced_once_and_names_are_kept(monkeypatch):
    monkeypatch.setattr(distribute, "_announced", set())
    monkeypatch.setattr(distribute, "auto_precision", lambda: ("float32", "this CPU has no AVX512_BF16 or AMX"))
    out = io.StringIO()
    assert distribute.resolve_precision("auto", stream=out) == "float32"
    assert distribute.resolve_precision("auto", stream=out) == "float32"
    assert out.getvalue() == "bert-zoo: mixed precision auto -> float32 (this CPU has no AVX512_BF16 or AMX)\n"
    assert distribute.resolve_precision("mixed_bfloat16", stream=out) == "mixed_bfloat16"
    assert distribute.resolve_precision(None, stream=out) == "float32"
    with pytest.raises(ValueError, match="bfloat16"):
        distribute.resolve_precision("bfloat16")


def test_this_machine_is_described():
    """The real /proc/cpuinfo (where there is one) gives a policy consistent with its flags."""
    policy, _ = distribute.auto_precision()
    native = distribute.cpu_flags() & set(distribute.BF16_CPU_FLAGS)
    if not distribute._bf16_gpu():
        assert policy == ("mixed_bfloat16" if native else "float32")


def test_precision_scope_restores_the_callers_policy_even_on_error():
    import keras

    assert keras.config.dtype_policy().name == "float32"
    with distribute.precision_scope("mixed_bfloat16") as policy:
        assert policy == "mixed_bfloat16" and keras.config.dtype_policy().name == "mixed_bfloat16"
        inside = keras.layers.Dense(2)
    assert keras.config.dtype_policy().name == "float32" and inside.dtype_policy.name == "mixed_bfloat16"
    with pytest.raises(RuntimeError):
        with distribute.precision_scope("mixed_float16"):
            raise RuntimeError("a failed run")
    assert keras.config.dtype_policy().name == "float32"
