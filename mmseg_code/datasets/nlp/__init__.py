"""Noun extraction for captions: NLTK's tagger, or an offline tagger trained on a generated caption corpus."""
from .tagger import (FUNCTION_WORDS, NOUN_TAGS, NLTKDataMissingError, build_builtin_tagger, extract_nouns,
                     get_pos_tagger, tokenize_words)

__all__ = ['FUNCTION_WORDS', 'NOUN_TAGS', 'NLTKDataMissingError', 'build_builtin_tagger', 'extract_nouns',
           'get_pos_tagger', 'tokenize_words']
