"""Set-up shared by the buttress-federation tests."""

from __future__ import annotations

import sys
from pathlib import Path

# The corpus module is shared by several test modules; --import-mode=importlib does not put this folder
# on sys.path by itself.
sys.path.insert(0, str(Path(__file__).parent))
