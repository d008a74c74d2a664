#!/usr/bin/env bash
# Start a private single-node SLURM on localhost for tests and CI.
#
#   tests/cluster/slurm_up.sh STATE_DIR
#
# Everything lives under STATE_DIR: its own munge key and socket, slurm.conf,
# spool, state, logs and PID files; the only file outside it is the link
# /etc/slurm/slurm.conf -> STATE_DIR/slurm.conf, made only where no
# slurm.conf exists (a machine with its own SLURM is refused, exit 2). The
# link is needed because the plugin's job step drops SLURM_CONF from the
# environment of the `srun` it runs inside each job. Clients outside jobs may
# also `source STATE_DIR/env` (sets SLURM_CONF).
# tests/cluster/slurm_down.sh STATE_DIR stops exactly the daemons started here
# and removes the link.
#
# The node has two partitions over the same node: `main` (default) and `gpu`,
# and announces one GPU as a generic resource (no device file: jobs that ask
# for --gpus=1 are scheduled and run, on the CPU). Configured CPUs and memory
# may exceed the machine's (SlurmdParameters=config_overrides) so that the
# cluster profile's per-rule requests fit; memory is not enforced (no cgroups).
#
# Needs root (slurmd starts jobs as their user) and Debian/Ubuntu's munge,
# slurmctld, slurmd and slurm-client; with SLURM_INSTALL=1 (and root) the
# packages are installed with apt-get when missing. Exit status: 0 ready,
# 2 cannot run here (reason on stderr), 1 failed while starting.
#
# Environment: SLURM_CPUS (default: max(nproc, 8)), SLURM_MEM_MB (default:
# max(80% of RAM, 32000)), SLURM_PORT (slurmctld port, default 16817; slurmd
# uses the next one), SLURM_INSTALL (0).
set -euo pipefail

STATE=${1:?usage: slurm_up.sh STATE_DIR}
say() { echo "[slurm_up $(date +%T)] $*"; }
cannot() { echo "slurm_up: cannot start SLURM here: $*" >&2; exit 2; }
wait_for() {  # wait_for SECONDS CMD...: retry CMD every 0.5 s
  local n=$(($1 * 2)); shift
  for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "slurm_up: timed out waiting for: $*" >&2; return 1
}

[ "$(id -u)" = 0 ] || cannot "not root (slurmd must start jobs as their user)"

need="munged mungekey slurmctld slurmd sbatch squeue sinfo scontrol"
missing() { for b in $need; do PATH=$PATH:/usr/sbin command -v "$b" >/dev/null || return 0; done; return 1; }
if missing; then
  if [ "${SLURM_INSTALL:-0}" = 1 ] && command -v apt-get >/dev/null; then
    say "installing munge and slurm with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
        munge slurmctld slurmd slurm-client; } >"${TMPDIR:-/tmp}/slurm_up_apt.log" 2>&1 \
      || cannot "apt-get install failed (see ${TMPDIR:-/tmp}/slurm_up_apt.log)"
  fi
  missing && cannot "missing binaries (need: $need; apt-get install munge slurmctld slurmd slurm-client)"
fi
export PATH=$PATH:/usr/sbin

mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)
[ -e "$STATE/slurmctld.pid" ] && cannot "$STATE already holds a cluster (run slurm_down.sh first)"
ETC_CONF=/etc/slurm/slurm.conf
# A link left by one of our own clusters whose run was killed before
# slurm_down.sh (its STATE names the link in etc_link, and its slurmctld is
# gone) is stale, not the machine's SLURM: remove it rather than refuse.
if [ -L "$ETC_CONF" ]; then
  old_state=$(dirname "$(readlink "$ETC_CONF")")
  old_pid=$(cat "$old_state/slurmctld.pid" 2>/dev/null || true)
  if [ "$(cat "$old_state/etc_link" 2>/dev/null)" = "$ETC_CONF" ] \
     && { [ -z "$old_pid" ] || [ ! -d "/proc/$old_pid" ]; }; then
    rm -f "$ETC_CONF" && say "removed the stale $ETC_CONF of a killed test cluster ($old_state)"
  fi
fi
if [ -e "$ETC_CONF" ] || [ -L "$ETC_CONF" ]; then
  cannot "$ETC_CONF exists: this machine has its own SLURM configuration, which is left alone"
fi
install -d -m 700 "$STATE/munge"
install -d -m 755 "$STATE/spool" "$STATE/state" "$STATE/log"

say "munge"
mungekey -c -k "$STATE/munge/munge.key"
chmod 600 "$STATE/munge/munge.key"
# munged refuses world-writable parents such as /tmp unless forced; the
# socket and key are private to STATE/munge (mode 700, root).
munged --force --socket="$STATE/munge/munge.socket" --key-file="$STATE/munge/munge.key" \
  --pid-file="$STATE/munge/munged.pid" --log-file="$STATE/log/munged.log" \
  --seed-file="$STATE/munge/munged.seed"
wait_for 20 munge -S "$STATE/munge/munge.socket" -n
cp "$STATE/munge/munged.pid" "$STATE/munged.pid"

HOST=$(hostname -s)
CPUS=${SLURM_CPUS:-$(( $(nproc) > 8 ? $(nproc) : 8 ))}
RAM=$(( $(free -m | awk '/^Mem:/{print $2}') * 8 / 10 ))
MEM=${SLURM_MEM_MB:-$(( RAM > 32000 ? RAM : 32000 ))}
PORT=${SLURM_PORT:-16817}
cat >"$STATE/slurm.conf" <<CONF
# written by tests/cluster/slurm_up.sh
ClusterName=brainpipe-test
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$STATE/munge/munge.socket
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmdParameters=config_overrides
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmdSpoolDir=$STATE/spool
StateSaveLocation=$STATE/state
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldDebug=info
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
GresTypes=gpu
# squeue/scontrol keep finished jobs this long (s): the snakemake plugin polls
# with squeue here (no slurmdbd) and needs this well above its check interval,
# and the test reads every job of a run after it ended
MinJobAge=7200
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM Gres=gpu:1 State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=ALL Default=NO MaxTime=INFINITE State=UP
CONF
# a GPU GRES needs a device file; /dev/null stands in (nothing binds to it)
echo "NodeName=$HOST Name=gpu File=/dev/null" >"$STATE/gres.conf"
cat >"$STATE/env" <<ENV
export SLURM_CONF=$STATE/slurm.conf
export PATH=\$PATH:/usr/sbin
ENV
export SLURM_CONF=$STATE/slurm.conf
install -d -m 755 /etc/slurm
ln -s "$STATE/slurm.conf" "$ETC_CONF"
echo "$ETC_CONF" >"$STATE/etc_link"

say "slurmctld and slurmd"
slurmctld -f "$SLURM_CONF"
wait_for 30 test -s "$STATE/slurmctld.pid"
slurmd -f "$SLURM_CONF"
wait_for 30 test -s "$STATE/slurmd.pid"
if ! wait_for 60 sh -c 'sinfo -h -p main -o %T | grep -qx idle'; then
  sinfo -N -l >&2 || true
  tail -n 20 "$STATE/log/slurmctld.log" "$STATE/log/slurmd.log" >&2 || true
  exit 1
fi

say "smoke job"
# as the plugin's jobs do: sbatch, then srun inside without SLURM_CONF
JID=$(sbatch --parsable -o "$STATE/log/smoke.out" --wrap 'env -u SLURM_CONF srun -n1 true')
if ! wait_for 60 sh -c "squeue -h -t all -j $JID -o %T | grep -qx COMPLETED"; then
  squeue -t all >&2 || true
  tail -n 20 "$STATE/log/slurmctld.log" >&2 || true
  exit 1
fi
say "SLURM ready: source $STATE/env"
