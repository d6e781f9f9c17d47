"""Developer sessions: `nox -s tests`, `nox -s lint`, `nox -s bench` (GPU)."""

import nox

nox.options.sessions = ["tests", "lint"]


@nox.session
def tests(session):
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "-q", *session.posargs)


@nox.session
def lint(session):
    session.install("ruff")
    session.run("ruff", "check", "vimbench", "tests")
