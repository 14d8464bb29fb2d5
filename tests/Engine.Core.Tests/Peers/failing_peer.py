# PythonPeerTests: a peer that fails; its last stderr line is the reason.
import sys
sys.stderr.write("Traceback (most recent call last):\nModuleNotFoundError: No module named 'torch'\n")
sys.exit(3)
