"""Statistics, roadmap indicators, charts and reports (read side)."""
