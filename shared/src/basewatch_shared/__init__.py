"""basewatch."""
