"""Reports: the self-contained HTML report and the evaluation report built on it."""
