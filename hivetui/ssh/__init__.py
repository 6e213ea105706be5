"""Operators over SSH: an asyncssh server running `hivetui attach` on a PTY per session."""
