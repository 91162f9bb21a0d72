"""seawall's benchmark scripts; see docs/benchmarks.md."""
