from .refer_metric import ReferSegMetric, pair_stats, summarize

__all__ = ['ReferSegMetric', 'pair_stats', 'summarize']
