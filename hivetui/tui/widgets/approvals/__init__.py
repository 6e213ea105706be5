"""Widgets of the operator's queue: approvals, questions, drafts and kept agents."""
