"""Remotes: share cache objects through a directory or an S3 bucket (push, fetch, pull)."""
