"""The browser pages: sign-in, maps for peers, planners and managers."""
