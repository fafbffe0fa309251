"""Scoring: WER/CER with intervals, text normalisation, word diffs, significance tests, system comparison, sclite."""
