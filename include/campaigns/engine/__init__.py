"""The stages of a run (``stages.py`` lists them in order) and the chunk executor with its actions."""
