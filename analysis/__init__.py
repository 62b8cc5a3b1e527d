"""Pure computation on grids of blurred events: numpy and pandas in, plain data out.

Imports no web framework, no database client and no folium (DESIGN.md §2).
"""
