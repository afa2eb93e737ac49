"""Wire vocabulary shared by every side: OAuth errors, form parsing, JSend envelopes.

Standard library only.
"""
