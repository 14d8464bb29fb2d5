# PythonPeerTests: a peer that logs a line, then prints its JSON result last.
import json, sys
print("warming up")
print(json.dumps({"args": sys.argv[1:], "seconds": 0.25}))
