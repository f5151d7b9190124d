"""The read API: one ``/v1`` router behind one edge, one module per resource, the page."""
