"""Test support: a project factory that builds real projects on disk and runs the real CLI."""
