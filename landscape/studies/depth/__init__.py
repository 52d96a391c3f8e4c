"""The depth study: plan (profiles, runs), records (one per trained network), landscapes of the end
depths, write-up, and the run that ties them.
"""
