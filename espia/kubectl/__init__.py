"""`kubectl espia`: the cluster door (deploy the agent, run gadgets on every node)."""
