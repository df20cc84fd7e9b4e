"""Helpers shared by espia's test suites (real services, no mocks)."""
