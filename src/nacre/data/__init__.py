"""Shipped data files: taxonomy, classifier weights, corpora and their datasheets."""
