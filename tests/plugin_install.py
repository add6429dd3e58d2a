"""Installing real plugin distributions for tests: pip into a folder, found by entry points.

A test builds a distribution (a ``pyproject.toml`` with an ``onnxplug`` entry point and a
package), pip-installs it into a temporary ``--target`` folder, and puts that folder on the
path of a subprocess (:func:`run_python`) or of this process (``monkeypatch.syspath_prepend``
followed by ``onnxplug.reload_plugins()``): importlib-metadata finds the entry points exactly as
in a user's environment, with no mocking.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

TEST_PLUGINS = Path(__file__).parent / "plugins"
PLUGIN_VARIABLES = ("ONNXPLUG_PLUGINS", "ONNXPLUG_DISABLE", "ONNXPLUG_STRICT")


def write_plugin(root: Path, distribution: str, package: str, source: str,
                 entry_point: str | None = None) -> Path:
    """Write a plugin distribution's sources under ``root``; return its folder.

    ``source`` is the package's ``__init__.py`` (dedented); the entry point ``entry_point``
    (default: ``package``) in group ``onnxplug`` points at the package.
    """
    folder = root / distribution
    (folder / package).mkdir(parents=True)
    (folder / "pyproject.toml").write_text(textwrap.dedent(f"""
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "{distribution}"
        version = "0.1"
        [project.entry-points.onnxplug]
        {entry_point or package} = "{package}"
        [tool.setuptools]
        packages = ["{package}"]
    """))
    (folder / package / "__init__.py").write_text(textwrap.dedent(source))
    return folder


def install(target: Path, *folders: Path) -> Path:
    """pip-install the distributions in ``folders`` into ``target`` (one pip run); return it."""
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(target), *map(str, folders)],
                   check=True, capture_output=True)
    return target


def run_python(site: Path, code: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter with ``site`` on its path.

    The plugin variables (``ONNXPLUG_PLUGINS``...) are only those given in ``env``.
    """
    full_env = {**os.environ, "PYTHONPATH": str(site), **env}
    for key in PLUGIN_VARIABLES:
        if key not in env:
            full_env.pop(key, None)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=full_env, timeout=300)
