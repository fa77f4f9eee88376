"""A deliberately broken adapter: the NumPy adapter with a conv2d that forgets its bias.

``check_cases`` must fail exactly the conv2d cases and name each of them (tests/test_cases.py).
"""
from __future__ import annotations

from numpy_adapter import *  # noqa: F401,F403  (every other kind, correct)
from refimpl import nn


def conv2d(x, W, b, stride, padding):
    return nn.conv2d(x, W, None, stride=stride, padding=padding)   # the bug: b is dropped
