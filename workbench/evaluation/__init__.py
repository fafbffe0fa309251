"""Evaluation: N systems on a corpus (evaluate, systems, precision) and resumable corpus runs."""
