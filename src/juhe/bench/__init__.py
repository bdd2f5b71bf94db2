"""Benchmarks behind `juhe bench …`: each measures a baseline in the same run and reports the ratio.

ledger.py   balanced transfers per second through the ledger vs. plain INSERTs of the same rows
report.py   the shared table / JSON output and progress bars
"""
