"""Numba kernels over NumPy arrays: geodesy, closest point of approach, screening. No I/O."""
