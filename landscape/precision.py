"""The numeric precisions a run may use, named once for the CLI, the options and `runtime.autocast`:
fp32 (full IEEE single precision), bf16 (autocast to bfloat16), tf32 (TF32 matmuls and
convolutions on a GPU; fp32 on a CPU)."""
from typing import Literal, get_args

Precision = Literal["fp32", "bf16", "tf32"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
