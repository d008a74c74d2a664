#!/usr/bin/env bash
# Stop the daemons that tests/cluster/slurm_up.sh STATE_DIR started, by the
# PID files it wrote under STATE_DIR (nothing else is touched).
#
#   tests/cluster/slurm_down.sh STATE_DIR
set -uo pipefail
STATE=${1:?usage: slurm_down.sh STATE_DIR}
export PATH=$PATH:/usr/sbin
# cancel what is still queued or running on this cluster (a killed run leaves
# jobs behind), so no job step outlives its slurmd
if [ -s "$STATE/slurmctld.pid" ] && [ -f "$STATE/slurm.conf" ]; then
  ids=$(SLURM_CONF="$STATE/slurm.conf" timeout -s KILL 10 squeue -h -t PD,R,CG -o %i 2>/dev/null || true)
  if [ -n "$ids" ]; then
    # shellcheck disable=SC2086
    SLURM_CONF="$STATE/slurm.conf" timeout -s KILL 10 scancel $ids && echo "cancelled jobs: $ids"
    for _ in $(seq 1 40); do
      [ -z "$(SLURM_CONF="$STATE/slurm.conf" timeout -s KILL 5 squeue -h -t R,CG -o %i 2>/dev/null)" ] && break
      sleep 0.25
    done
  fi
fi
for name in slurmd slurmctld munged; do
  f="$STATE/$name.pid"
  [ -s "$f" ] || continue
  pid=$(cat "$f")
  # only signal a live process that still runs the expected program
  if [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$name" ]; then
    kill "$pid" && echo "stopped $name ($pid)"
    for _ in $(seq 1 40); do [ -d "/proc/$pid" ] || break; sleep 0.25; done
    [ -d "/proc/$pid" ] && kill -KILL "$pid" 2>/dev/null && echo "killed $name ($pid)"
  fi
  rm -f "$f"
done
rm -f "$STATE/munge/munged.pid"
# the /etc/slurm/slurm.conf link, only while it still points into STATE
if [ -s "$STATE/etc_link" ]; then
  link=$(cat "$STATE/etc_link")
  [ -L "$link" ] && [ "$(readlink "$link")" = "$(cd "$STATE" && pwd)/slurm.conf" ] && rm -f "$link" \
    && echo "removed $link"
  rm -f "$STATE/etc_link"
fi
exit 0
