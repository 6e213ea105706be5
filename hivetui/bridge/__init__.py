"""The MCP bridge: agents' tools over streamable HTTP, identity from bearer tokens."""
