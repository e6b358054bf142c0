"""Stages on a Dask cluster: the executor (client.py), what runs on the workers (task.py, pyrun.py).

Importing this package imports nothing of `distributed`: only `client.py` does, and only the executor factory
(engine/executors.py) imports that, when the dask executor is chosen.
"""
