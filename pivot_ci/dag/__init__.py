"""The merged stage graph (networkx), target selection, and project loading."""
