"""Params and metrics across git revisions: values read from lock files and metric files, diffs and gates.

Old values come from git (read without a checkout, never by running code of that revision); the result is a
`values.Comparison` that `pivot_ci.report.comparison` renders.
"""
