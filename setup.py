"""The one thing pyproject.toml cannot say: the top-level `suites/` folder of the repository
is shipped inside the package as `vimbench/suites/`, so an installed wheel finds the built-in
suites where a checkout finds them in `suites/` (vimbench.suite.suites_dir).  Everything else
is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["vimbench", "vimbench.*"]), "vimbench.suites"],
    package_dir={"vimbench.suites": "suites"},
)
