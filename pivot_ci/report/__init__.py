"""Render result values (text, json); never recompute them."""
