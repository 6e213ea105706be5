"""The hive core: domain and services, pure asyncio. Never imports Textual or Rich."""
