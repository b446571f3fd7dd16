"""Contrastive (pre-)training of a whole open_clip CLIP with MMEngine (the main job's shapes CLIP)."""
from .batch_texts import batch_texts, drop_colours, noun_phrases, phrase_words, positives, subcaption
from .clip_pretrainer import CLIPPretrainer

__all__ = ['CLIPPretrainer', 'batch_texts', 'drop_colours', 'noun_phrases', 'phrase_words', 'positives',
           'subcaption']
