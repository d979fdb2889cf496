"""Benchmarks (not tests): ``make bench`` measures and writes figures to bench/results/."""
