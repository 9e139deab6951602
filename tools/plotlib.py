"""Shared by the tools/plot_*.py scripts: matplotlib's pyplot on the Agg backend, or a clear exit."""
import sys


def pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("error: matplotlib is missing for " + sys.executable +
                 ": install it (Debian: apt-get install -y python3-matplotlib, then use /usr/bin/python3)")
    return plt
