"""Benchmarks: each measures Samarkand and a baseline in the same run."""
