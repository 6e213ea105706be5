"""The operators' control API: a unix socket (JSON lines) and its client."""
