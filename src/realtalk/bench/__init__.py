"""Benchmarks (``realtalk bench …``): each prints one JSON object.

A leaf: it drives the product's public packages and the emulator, and only the CLI
imports it. All traffic stays on loopback; where a figure is compared with a
baseline, both are measured in the same run, since machines are noisy.
"""

from realtalk.bench._cli import add_bench_arguments, run_bench

__all__ = ["add_bench_arguments", "run_bench"]
