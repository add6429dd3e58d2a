"""A throwaway virtual environment layered over the running one, for testing plugin installs.

``pip install -e`` of a plugin into the running environment would leave an entry point behind
(and show the plugin to every other process using it); a layered environment sees everything
the running one has installed (through a ``.pth`` file calling ``site.addsitedir``) plus what
is installed into it, and is deleted with its temporary folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class LayeredVenv:
    root: Path
    installed: set = field(default_factory=set)

    @classmethod
    def create(cls, root: Path | str) -> "LayeredVenv":
        root = Path(root)
        venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(root)
        env = cls(root)
        parent = sysconfig.get_paths()["purelib"]
        site = env._purelib()
        if not site.is_relative_to(root.resolve()) and not site.is_relative_to(root):
            raise RuntimeError(f"{site} is not inside the new environment {root}")
        site.mkdir(parents=True, exist_ok=True)
        (site / "_onnxplug_parent_env.pth").write_text(
            f"import site; site.addsitedir({parent!r})\n")
        return env

    @property
    def python(self) -> Path:
        return self.root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")

    def _purelib(self) -> Path:
        out = subprocess.run(
            [str(self.python), "-c",
             "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True)
        return Path(out.stdout.strip())

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["VIRTUAL_ENV"] = str(self.root)
        env["PATH"] = f"{self.python.parent}{os.pathsep}{env.get('PATH', '')}"
        env.update(extra)
        return env

    def run(self, *args: str, check: bool = True, timeout: float = 600, cwd: str | Path | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run ``python *args`` in this environment; output is captured as text."""
        proc = subprocess.run([str(self.python), *args], capture_output=True, text=True,
                              timeout=timeout, cwd=cwd, env=self.env(**(env or {})))
        if check and proc.returncode != 0:
            raise AssertionError(
                f"`python {' '.join(args)}` exited with {proc.returncode}\n"
                f"--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}")
        return proc

    def install(self, path: str | Path, editable: bool = True) -> None:
        """``pip install [-e] path`` into this environment (no dependencies, no build isolation).

        Installing the same path twice is a no-op, so tests can share one environment.
        """
        key = (str(Path(path).resolve()), editable)
        if key in self.installed:
            return
        args = ["-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                "--disable-pip-version-check", "--no-index"]
        args += ["-e", str(path)] if editable else [str(path)]
        self.run(*args)
        self.installed.add(key)


def main() -> None:  # pragma: no cover - a manual helper
    print(LayeredVenv.create(sys.argv[1]).python)
