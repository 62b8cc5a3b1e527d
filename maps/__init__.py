"""Folium map builders (issue 5). Takes analysis results, returns maps; no I/O."""
