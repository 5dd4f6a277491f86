"""tasks/mahjong."""
