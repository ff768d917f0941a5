"""Drive a webhook with ``wrk`` (Debian's package), the second, independent load generator.

wrk sends as fast as the server answers over ``connections`` keep-alive connections for a fixed
time, from one thread. Its Lua script takes pre-signed deliveries, one unique ``webhookEventId``
each, from a file written here (raw HTTP/1.1 requests, so wrk adds nothing of its own), counts
answers other than 200, and prints one line of figures that ``run`` parses. Latency comes from
wrk's own histogram (microseconds). wrk stops at its deadline with up to one request in flight per
connection, uncounted, which the server still answers: a few more answers than acknowledgements.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCRIPT = r"""
local threads = {}
function setup(thread) table.insert(threads, thread) end

function init(args)
  local f = assert(io.open(args[1], "rb")); local data = f:read("*a"); f:close()
  reqs = {}; local pos = 1
  for len in io.lines(args[2]) do
    local n = tonumber(len); reqs[#reqs + 1] = data:sub(pos, pos + n - 1); pos = pos + n
  end
  i = 0; bad = 0; wrapped = 0
end

function request()
  i = i + 1
  if i > #reqs then i = 1; wrapped = 1 end
  return reqs[i]
end

function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end

function done(summary, latency, requests)
  local bad_all, wrapped_all = 0, 0
  for _, t in ipairs(threads) do
    bad_all = bad_all + t:get("bad"); wrapped_all = math.max(wrapped_all, t:get("wrapped"))
  end
  local over, limit = 0, 2000000
  if latency.max > limit then
    local p = 100.0
    while p > 0 and latency:percentile(p) > limit do p = p - 0.01 end
    over = math.ceil((100.0 - p) / 100.0 * summary.requests)
  end
  local e = summary.errors
  io.write(string.format("WRK requests=%d duration_us=%d non200=%d errors=%d wrapped=%d p50_us=%d p99_us=%d max_us=%d over2s=%d\n",
    summary.requests, summary.duration, bad_all, e.connect + e.read + e.write + e.timeout, wrapped_all,
    latency:percentile(50), latency:percentile(99), latency.max, over))
end
"""


@dataclass
class WrkRun:
    requests: int
    seconds: float
    acked: int
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    late: int


def available() -> bool:
    return shutil.which("wrk") is not None


def run(url: str, raw_requests: list[bytes], folder: Path, connections: int, seconds: int) -> WrkRun:
    """Post ``raw_requests`` in order for ``seconds``; refuses to wrap round (a second copy of a
    delivery is a redelivery: acknowledged, never answered, which would flatter nobody)."""
    data, index, script = folder / "wrk-requests.bin", folder / "wrk-lengths.txt", folder / "wrk.lua"
    data.write_bytes(b"".join(raw_requests))
    index.write_text("".join(f"{len(r)}\n" for r in raw_requests))
    script.write_text(SCRIPT)
    # wrk's --timeout is per request; LINE gives up after 2 s but we want to see the slow ones.
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), url,
           "--", str(data), str(index)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    out = done.stdout
    line = next((l for l in out.splitlines() if l.startswith("WRK ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no figures:\n{out}")
    f = dict(part.split("=") for part in line.split()[1:])
    if int(f["wrapped"]):
        raise RuntimeError(f"wrk sent more than the {len(raw_requests)} deliveries prepared: raise --wrk-deliveries")
    requests = int(f["requests"])
    return WrkRun(requests=requests, seconds=int(f["duration_us"]) / 1e6, acked=requests - int(f["non200"]),
                  errors=int(f["errors"]), p50_ms=int(f["p50_us"]) / 1000, p99_ms=int(f["p99_us"]) / 1000,
                  max_ms=int(f["max_us"]) / 1000, late=int(f["over2s"]))
