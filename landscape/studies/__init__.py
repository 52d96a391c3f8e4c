"""Studies built on the tool (imported by nothing but the CLI): the Mish activation study, its
findings, output landscapes, and the depth study.
"""
