"""REST API (DRF): one view per operation, each calling one service or selector."""
