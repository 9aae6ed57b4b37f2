"""Fault harness: fuzzing, slow readers, floods, storage faults on a real server (docs/reliability.md)."""
