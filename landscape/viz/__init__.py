"""Figures and reports: matplotlib figures of surfaces, comparisons, estimates and training curves; the
HTML report; ParaView export.
"""
