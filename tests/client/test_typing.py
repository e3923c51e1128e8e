"""mypy sees the client's types: `typing_check.py` type-checks with every `assert_type` holding,
and a wrong expectation is reported (so the check is not vacuous)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ..servers import ROOT

CHECK = Path(__file__).parent / "typing_check.py"


def mypy(path: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(path)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def test_mypy_sees_the_declared_event_types() -> None:
    done = mypy(CHECK)
    assert done.returncode == 0, done.stdout


def test_mypy_reports_a_wrong_expectation(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong_check.py"
    wrong.write_text(
        CHECK.read_text().replace("Echo | ReverseEcho | UnknownEvent)", "Echo | UnknownEvent)", 1)
    )
    done = mypy(wrong)
    assert done.returncode == 1
    assert 'Expression is of type "Echo | ReverseEcho | UnknownEvent"' in done.stdout
