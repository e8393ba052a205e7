"""Figures. One submodule per pipeline stage; every function returns a ``matplotlib.figure.Figure``.

Submodules are imported explicitly (``from fossilct.plots import dataset as dataset_plots``) so
that importing one stage's figures does not pull in another stage's dependencies.
"""
