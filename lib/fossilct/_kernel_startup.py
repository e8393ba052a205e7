"""Start-up file of the notebook kernels the runner starts (``PYTHONSTARTUP``).

The IPython kernel runs it in the notebook's namespace before the first cell, so it defines no
names there. Importing it as a module does nothing. See :mod:`fossilct.tflog`.
"""

if __name__ == "__main__":
    __import__("fossilct.tflog").tflog.install_from_environment()
