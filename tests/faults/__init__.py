"""Fault-injection tests: each fault injected for real, each outcome checked (README, faults)."""
