"""labdeck's PEP 517 build backend: setuptools, plus ``resources/`` inside the wheel.

pyproject.toml cannot map a folder outside ``app/`` into the package, so this in-tree backend
(``backend-path``) re-exports setuptools' hooks and provides the ``build_py`` step that
pyproject's ``[tool.setuptools.cmdclass]`` names. Each folder below ``resources/`` becomes a
data-only package ``labdeck.resources[.sub]`` mapped onto that folder: wheels carry icons,
styles and templates while the checkout keeps one copy. Editable installs keep reading
``resources/`` from the checkout (``package-dir`` stays ``{"": "app"}``, a plain .pth file).
"""

from __future__ import annotations

from pathlib import Path

from setuptools.build_meta import *  # noqa: F403  (the PEP 517 hooks)
from setuptools.build_meta import __all__  # noqa: F401
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

RESOURCES = "resources"
BACKEND = Path(__file__).resolve().relative_to(Path.cwd()).as_posix()  # builds run in the project root


class BuildPy(build_py):
    def finalize_options(self) -> None:
        super().finalize_options()
        packages, package_dir, package_data = [], {}, {}
        root = Path(RESOURCES)
        for folder in sorted([root, *(p for p in root.rglob("*") if p.is_dir())]):
            if folder.name == "__pycache__":
                continue
            name = ".".join(["labdeck", *folder.parts])
            packages.append(name)
            package_dir[name] = folder.as_posix()
            package_data[name] = ["*"]
        self.packages = [*(self.packages or []), *packages]
        self.package_dir = {**(self.package_dir or {}), **package_dir}
        self.package_data = {**self.package_data, **package_data}


class Sdist(sdist):
    """An sdist carries this backend, or no wheel could be built from it."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, [*files, BACKEND])
