#!/usr/bin/python3
"""The README's first example must be examples/client.c, byte for byte, so
that the code a reader copies is the code ctest builds and runs against sshd
(interop.ssh.examples). Usage: readme_example.py REPO_ROOT"""
import sys

root = sys.argv[1]
with open(root + "/README.md", encoding="utf-8") as f:
    readme = f.read()
with open(root + "/examples/client.c", encoding="utf-8") as f:
    client = f.read()
start = readme.find("```c\n/* client.c")
end = readme.find("```", start + 4) if start >= 0 else -1
if start < 0 or end < 0:
    print("FAIL: no client.c block in README.md")
    print("0 passed, 1 failed")
    sys.exit(1)
if readme[start + 5:end] != client:
    print("FAIL: README.md's client example differs from examples/client.c")
    print("0 passed, 1 failed")
    sys.exit(1)
print("PASS README.md's first example is examples/client.c (%d bytes)" % len(client))
print("1 passed, 0 failed")
