"""The benchmarks, run from the repository's root as modules: `python -m benchmarks.label_efficiency --help`. Each stands on
the library and on `benchmarks.common`; none imports another."""
