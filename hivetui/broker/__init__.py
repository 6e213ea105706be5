"""The credential broker: the core holds the Anthropic credential, agents reach the API
through it with their own hive token (server.py)."""
