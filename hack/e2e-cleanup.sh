#!/usr/bin/env bash
# e2e-cleanup.sh stops whatever an end-to-end run left running. The harness stops its
# processes itself, even when a test fails, and the kernel kills them if the test binary
# dies (Pdeathsig); this is the last safety net, for a run killed harder than that. Each
# process's PID is in .cache/e2e/<cluster>/[tests/]<name>.pid while it runs.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
left=0
while IFS= read -r -d '' pidfile; do
  pid=$(cat "$pidfile" 2>/dev/null) || continue
  if kill -0 "$pid" 2>/dev/null; then
    echo "e2e-cleanup: stopping $(basename "$pidfile" .pid) (pid $pid)" >&2
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    left=$((left + 1))
  fi
  rm -f "$pidfile"
done < <(find "$ROOT/.cache/e2e" -name '*.pid' -print0 2>/dev/null)
if [ "$left" -gt 0 ]; then
  sleep 5
  pkill -KILL -f "$ROOT/.cache/(bin|e2e)/" 2>/dev/null || true
fi
exit 0
