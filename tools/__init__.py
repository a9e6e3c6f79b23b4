"""Maintenance scripts (`python tools/docs.py`, `python tools/results_readme.py`), importable by the tests as `tools.<name>`."""
