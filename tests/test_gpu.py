"""Every batched path on a real GPU (CuPy), compared with NumPy on the same inputs.

Marked ``gpu``; skipped, with the reason, where CuPy or a usable CUDA device is missing (run
``pytest -m gpu -rs`` to see it). The cases and their tolerance (``RTOL = ATOL = 1e-5`` for
float32; random draws compared by their statistics) are in ``device_cases.py``; the same
cases run on any machine with a CuPy stand-in in ``test_fake_device.py``.
"""
import pytest

import device_cases
from refimpl.backend import cupy_or_none, gpu_available


def _skip_reason():
    if cupy_or_none() is None:
        return "CuPy is not installed (pip install -e .[gpu])"
    return "CuPy imports, but no usable CUDA device (cupy.cuda.is_available() is False or allocation failed)"


pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not gpu_available(), reason=_skip_reason())]


@pytest.mark.parametrize("case", device_cases.CASES, ids=lambda f: f.__name__)
def test_on_cupy(case):
    import cupy
    case(cupy)
    cupy.cuda.Stream.null.synchronize()
