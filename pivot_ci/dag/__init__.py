"""The merged stage graph (plain adjacency; networkx only to name a cycle), target selection, and project loading."""
