"""Fixtures from the protocol tests: `engine` (an engine with its worker port, for raw WebSocket workers) and
`processes` (motia subprocesses, killed at the end of a test)."""

from tests.protocol.conftest import engine  # noqa: F401 - a fixture, re-exported for these tests
from tests.protocol.test_processes import processes  # noqa: F401 - a fixture, re-exported for these tests
