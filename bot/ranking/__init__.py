"""The learned per-chat order (numpy): imported only by the composition root, and only with RANKING on."""

from bot.ranking.service import RankingService

__all__ = ["RankingService"]
