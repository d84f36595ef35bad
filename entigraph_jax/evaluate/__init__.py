"""evaluate: QuALITY closed-book QA exactly as the paper did it, and its log-likelihood variant.

Owns prompts, answer parsing, voting and scoring. May import models and data; never imports synth
or train (the trainer calls into this stage, not the other way round).
"""
