"""pyproject.toml builds without deprecation warnings and states the licence in the current form.

pip printed "`project.license` as a TOML table is deprecated" on every install;
setuptools will refuse the table form from 2027. The weights'
own licence lives in the README and the model card, not in the package metadata.
"""

from __future__ import annotations

import re
import tomllib
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_applies_without_setuptools_warnings():
    setuptools = pytest.importorskip("setuptools")
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any deprecation of our configuration fails here
        dist = apply_configuration(Distribution(), ROOT / "pyproject.toml")
    assert dist.metadata.license_expression == "MIT"
    assert setuptools  # imported for the configuration API


def test_licence_is_an_spdx_string_with_its_file_and_a_new_enough_setuptools():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project = config["project"]
    assert project["license"] == "MIT"
    for name in project["license-files"]:
        assert (ROOT / name).is_file(), f"license-files names {name}, which is not in the repository"
    assert "MIT License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
    (requirement,) = [r for r in config["build-system"]["requires"] if r.startswith("setuptools")]
    minimum = re.fullmatch(r"setuptools>=(\d+)(\.\d+)*", requirement)
    assert minimum and int(minimum.group(1)) >= 77, "SPDX license strings need setuptools >= 77"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "CC BY-NC-SA" in readme  # the weights' licence is still stated for users
