"""What the service computes for a program: releases, hot spots, coverage, siting, routes."""
