"""Fixtures shared with other test packages: `processes` (motia subprocesses, killed at the end of a test)."""

from tests.protocol.test_processes import processes  # noqa: F401 - a fixture, re-exported for these tests
