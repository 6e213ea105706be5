"""Container backends: ``local`` (Linux namespaces, the default) and ``nixos``.

Kept import-light on purpose: ``init`` and ``supervise`` are started as
``python -m hivetui.containers.<module>`` and should not pay for asyncio-heavy imports.
"""
