"""A fake claude CLI (tests only)."""
