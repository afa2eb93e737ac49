"""``python -m bench``: see bench/cli.py and docs/benchmarks.md."""

from bench.cli import main

raise SystemExit(main())
