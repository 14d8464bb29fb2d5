# PythonPeerTests: a peer whose last line is not JSON.
print("{not json")
