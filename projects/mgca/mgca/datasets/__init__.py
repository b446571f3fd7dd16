from .noun_prompt_caption import MGCANounPromptCaption

__all__ = ['MGCANounPromptCaption']
