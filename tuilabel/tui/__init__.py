"""The Textual screens: keys to actions, a session's view to pixels (see ARCHITECTURE.md)."""
