"""Runs an Argo CD Lua health check (argv[1]: file) on each object of a JSON list read from
stdin, the way Argo CD does (the object as the global `obj`, the chunk returns a table), and
prints a JSON list of {"status", "message"}."""
import json
import sys

import lupa

script = open(sys.argv[1]).read()
objects = json.load(sys.stdin)
out = []
for obj in objects:
    lua = lupa.LuaRuntime()
    lua.globals().obj = lua.table_from(obj, recursive=True)
    hs = lua.execute(script)
    out.append({"status": hs["status"], "message": hs["message"]})
print(json.dumps(out))
