"""Persistent state: hashing, content cache, lock files, file-hash memo, state dirs."""
