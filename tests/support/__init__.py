"""Helpers that tests import: ports, polling, processes, stacks, histories, the checker.

Plain code only. The pytest fixtures built on it live in ``tests/fixtures`` (registered
by ``tests/conftest.py``); a test asks for a fixture by name and imports from here.
"""
