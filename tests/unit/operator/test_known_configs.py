"""The operator's snapshot of config keys matches the broker's own tables."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
TOOL = ROOT / "operator" / "tools" / "gen_known_configs.py"


def test_known_configs_snapshot_is_current() -> None:
    spec = importlib.util.spec_from_file_location("gen_known_configs", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    current = module.TARGET.read_text()
    assert current == module.render(), (
        "operator/src/millrace_operator/model/known_configs.py is stale: "
        "run python operator/tools/gen_known_configs.py"
    )
