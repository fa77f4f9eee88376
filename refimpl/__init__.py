"""refimpl: a readable NumPy-first reference implementation of five documents on analysing,
pruning, growing, evolving and probing neural networks (see README.md)."""

__version__ = "0.1.0"
