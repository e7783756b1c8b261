"""The package list, which pyproject.toml cannot give: the code packages are found, and the two
data packages that ``[tool.setuptools] package-dir`` maps onto the repository's ``resources/``
and ``docs/`` folders are added (a list in pyproject.toml would have to name every subpackage of
the code by hand; its ``find`` cannot add packages that live under another folder name).

Everything else is in pyproject.toml.
"""

from setuptools import find_packages, setup

DATA_PACKAGES = [
    "bmiss_resources", "bmiss_resources.demo_mri", "bmiss_resources.surrogate",  # resources/
    "bmiss_docs", "bmiss_docs.screenshots",  # docs/: the user guide the application's Help shows
]

setup(packages=[*find_packages(include=["bmiss_engine", "bmiss_engine.*", "bmiss_gui", "bmiss_gui.*"]), *DATA_PACKAGES])
