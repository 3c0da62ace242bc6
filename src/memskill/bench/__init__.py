"""Benchmarks: `memskill bench quality` measures each algorithmic stage on public data sets."""
