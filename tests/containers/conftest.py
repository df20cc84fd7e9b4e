"""The runtime fixtures live in tests/conftest.py, shared with the gadget suites."""
