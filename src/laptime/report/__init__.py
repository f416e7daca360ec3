"""Views for people: terminal text (and, later, HTML)."""
