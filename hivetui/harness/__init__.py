"""What runs inside an agent's container: the turn loop and the agent runtimes."""
