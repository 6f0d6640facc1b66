"""The local stack: start everything, create the topology from the catalog, seed, play the demo."""
