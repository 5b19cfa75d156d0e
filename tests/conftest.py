"""Shared test settings: deterministic CPU torch, headless matplotlib."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
