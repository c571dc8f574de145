"""Fault-injection tests: each fault injected for real, each outcome checked (docs/faults.md)."""
