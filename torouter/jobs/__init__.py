"""Background jobs: one node at a time when scaled out."""
