"""Run the real ``emkit`` console script in a subprocess, as a user would (issue 14: CLI tests go
through the entry point, so that imports, exit statuses and stderr are what a shell sees)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: The console script next to the interpreter running the tests (``.venv/bin/emkit``).
EMKIT = Path(sys.executable).with_name("emkit")


def emkit(*args: str, cwd: str | os.PathLike | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``emkit ARGS`` in a subprocess; returns the completed process (text stdout and stderr).

    The source tree under test comes first on ``PYTHONPATH`` so a worktree's code is the code run.
    """
    env = dict(os.environ)
    source = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, env.get("PYTHONPATH")]))
    command = [str(EMKIT)] if EMKIT.exists() else [sys.executable, "-m", "emkit.cli.main"]
    return subprocess.run(command + [str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout)
