import pytest
import torch
import torch.distributed as dist

from landscape import LandscapeError
from landscape.runtime import Ranks, autocast, library_versions, resolve_device, torchrun_ranks


def test_device_choice():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(LandscapeError, match="unknown device"):
        resolve_device("tpu:x")
    if not torch.cuda.is_available():
        with pytest.raises(LandscapeError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_autocast_only_for_bf16():
    layer = torch.nn.Linear(4, 4)
    with autocast(torch.device("cpu"), "fp32"):
        assert layer(torch.randn(2, 4)).dtype == torch.float32
    with autocast(torch.device("cpu"), "bf16"):
        assert layer(torch.randn(2, 4)).dtype == torch.bfloat16
    with pytest.raises(LandscapeError, match="unknown precision"):
        autocast(torch.device("cpu"), "fp16")


def test_on_a_gpu_fp32_is_full_precision_and_tf32_is_asked_for():
    """torch lets cuDNN convolutions use TF32 by default; our fp32 turns that off for the block,
    tf32 turns it on for matmuls too, and both give the settings back (no GPU needed to check)."""
    settings = (torch.backends.cuda.matmul, torch.backends.cudnn.conv)
    before = [s.fp32_precision for s in settings]
    for precision, mode in (("fp32", "ieee"), ("tf32", "tf32")):
        with autocast(torch.device("cuda"), precision):
            assert [s.fp32_precision for s in settings] == [mode, mode]
        assert [s.fp32_precision for s in settings] == before
    with autocast(torch.device("cpu"), "tf32"):  # nothing to change on a CPU
        assert [s.fp32_precision for s in settings] == before


def test_alone_no_process_group_is_created(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with torchrun_ranks("cpu") as (ranks, device):
        assert ranks == Ranks() and ranks.is_writer and device.type == "cpu"
        assert not dist.is_initialized()


def test_versions_are_plain_strings():
    versions = library_versions()
    assert {"landscape", "torch", "numpy"} <= set(versions) and all(type(v) is str for v in versions.values())
