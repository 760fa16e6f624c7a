"""Runs one command and prints JSON: wall seconds, peak RSS of the child
(KiB), exit code, and the command's stdout (for the figures it prints)."""
import json
import resource
import subprocess
import sys
import time

cmd = sys.argv[1:]
t = time.perf_counter()
p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
wall = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"cmd": " ".join(cmd), "wall_s": wall, "max_rss_kib": rss, "rc": p.returncode, "stdout": p.stdout}))
sys.exit(p.returncode)
