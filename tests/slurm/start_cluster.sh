#!/usr/bin/env bash
# Bring up a real single-node SLURM cluster (Debian's slurmctld/slurmd 22.05 + munge) on this
# machine, for tests/slurm/test_slurm.py. Needs root; installs the packages with apt when they
# are missing. Everything it starts is recorded in the state folder and stopped, by PID, by
# tests/slurm/stop_cluster.sh (which it also calls itself when the start fails half-way).
#
#   tests/slurm/start_cluster.sh [STATE_DIR]     (default: $ARCHSCALE_SLURM_STATE or /tmp/archscale-slurm)
#
# Environment:
#   ARCHSCALE_SLURM_FAKE_GPUS  GRES gpu count of the node (default 2; character devices
#                              /dev/archscale-fakegpuN, like /dev/null, stand in for the cards)
#   ARCHSCALE_SLURM_MEM_MB     RealMemory the node advertises (default: max(real, 32768); not enforced)
#
# Exit codes: 0 up (partition "debug", account-free, node idle); 2 not root; 3 ports 6817/6818
# busy; 4 a cluster from this state folder is still running; 5 /etc/slurm/slurm.conf exists
# and is not ours; 6 the packages cannot be installed; 7 the daemons did not come up.
#
# Facts this relies on (measured on Debian 12):
# - slurm.conf must sit at /etc/slurm/slurm.conf: the executor plugin's job step strips every
#   SLURM_* variable (SLURM_CONF too) before its inner srun, so a config elsewhere breaks jobs.
# - there is no slurmdbd, so `sacct` fails: use `slurm-status-command: squeue`, and keep
#   MinJobAge (3600 here) >= 3 x the plugin's init-seconds-before-status-checks, or the plugin
#   falls back to sacct and waits forever.
# - munged refuses a socket folder without o+x.
set -euo pipefail

STATE=${1:-${ARCHSCALE_SLURM_STATE:-/tmp/archscale-slurm}}
HERE=$(cd "$(dirname "$0")" && pwd)
MARK="# archscale-test-cluster (written by tests/slurm/start_cluster.sh; removed by stop_cluster.sh)"
FAKE_GPUS=${ARCHSCALE_SLURM_FAKE_GPUS:-2}
PACKAGES=(slurmctld slurmd slurm-client munge)

say() { echo "start_cluster: $*" >&2; }
die() {
    local code=$1
    shift
    say "ERROR: $*"
    exit "$code"
}

[[ $STATE == /?*/?* || $STATE == /tmp/?* ]] || die 4 "state folder must be an absolute path at least two levels deep (got '$STATE'); it is wiped on start"
[[ $(id -u) -eq 0 ]] || die 2 "needs root (installs packages, writes /etc/slurm, starts daemons)"

pid_alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

if [[ -d $STATE/pids ]]; then
    for f in "$STATE"/pids/*; do
        [[ -e $f ]] || continue
        pid_alive "$(cat "$f")" && die 4 "$(basename "$f") from $STATE is still running (pid $(cat "$f")); run tests/slurm/stop_cluster.sh $STATE first"
    done
fi
if [[ -e /etc/slurm/slurm.conf ]] && ! grep -qF "$MARK" /etc/slurm/slurm.conf; then
    die 5 "/etc/slurm/slurm.conf exists and was not written by this script: not touching a real cluster's config"
fi

port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
for port in 6817 6818; do
    port_busy "$port" && die 3 "TCP port $port is in use (another slurmctld/slurmd?)"
done

# ---------------------------------------------------------------------------------------------
# Packages (Debian 12: SLURM 22.05). Services must not auto-start during the install: a
# temporary policy-rc.d answers 101 ("action forbidden"); an existing one is left alone.
# ---------------------------------------------------------------------------------------------
have_all() { command -v slurmctld && command -v slurmd && command -v sbatch && command -v munged; } >/dev/null 2>&1
if ! have_all; then
    command -v apt-get >/dev/null || die 6 "SLURM is not installed and there is no apt-get"
    OURS_POLICY=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\n# temporary: tests/slurm/start_cluster.sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        OURS_POLICY=1
    fi
    drop_policy() {
        if [[ -n $OURS_POLICY ]]; then rm -f /usr/sbin/policy-rc.d; fi
        OURS_POLICY=""
    }
    trap drop_policy EXIT
    export DEBIAN_FRONTEND=noninteractive
    say "installing ${PACKAGES[*]}"
    APT_LOG=${TMPDIR:-/tmp}/archscale-slurm-apt.log
    APT_OPTS=(-o Acquire::Retries=1 -o Acquire::http::Timeout=20 -o Acquire::https::Timeout=20)
    if ! apt-get install -y -qq --no-install-recommends "${APT_OPTS[@]}" "${PACKAGES[@]}" >"$APT_LOG" 2>&1; then
        say "apt-get install failed; apt-get update and retry"
        timeout 300 apt-get update -qq "${APT_OPTS[@]}" >>"$APT_LOG" 2>&1 || true
        timeout 600 apt-get install -y -qq --no-install-recommends "${APT_OPTS[@]}" "${PACKAGES[@]}" >>"$APT_LOG" 2>&1 ||
            die 6 "apt-get install ${PACKAGES[*]} failed (no network or no Debian mirror?); log: $APT_LOG"
    fi
    drop_policy
    trap - EXIT
    have_all || die 6 "packages installed but slurmctld/slurmd/sbatch/munged still missing"
fi

# From here on, a failure stops whatever this script has started.
rm -rf "$STATE"
mkdir -p "$STATE"/{pids,ctld,spool,logs}
chmod 755 "$STATE"
trap 'rc=$?; if [[ $rc -ne 0 ]]; then say "start failed (rc $rc): stopping what was started"; "$HERE/stop_cluster.sh" "$STATE" || true; fi' EXIT

# ---------------------------------------------------------------------------------------------
# munge: reuse a munged that already answers (not ours: never stopped), else start our own.
# ---------------------------------------------------------------------------------------------
munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
if munge_ok; then
    say "munged already running; reusing it (it will not be stopped)"
else
    getent passwd munge >/dev/null || die 6 "user munge missing (munge package broken?)"
    if [[ ! -s /etc/munge/munge.key ]]; then
        mkdir -p /etc/munge
        if command -v mungekey >/dev/null; then
            mungekey --create --keyfile=/etc/munge/munge.key
        else
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
        fi
        echo "/etc/munge/munge.key" >"$STATE/created_files"
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge
    chmod 755 /run/munge # munged refuses a socket folder without o+x
    setsid setpriv --reuid=munge --regid=munge --init-groups munged -F \
        >"$STATE/logs/munged.out" 2>&1 </dev/null &
    echo $! >"$STATE/pids/munged"
    for _ in $(seq 50); do
        munge_ok && break
        pid_alive "$(cat "$STATE/pids/munged")" || die 7 "munged exited: $(tail -5 "$STATE/logs/munged.out")"
        sleep 0.2
    done
    munge_ok || die 7 "munged does not answer: $(tail -5 "$STATE/logs/munged.out")"
fi

# ---------------------------------------------------------------------------------------------
# slurm.conf / gres.conf
# ---------------------------------------------------------------------------------------------
HOST=$(hostname -s)
# `slurmd -C` prints this node's line, e.g.
#   NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24152
NODE_LINE=$(slurmd -C | head -1)
REAL_MEM=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$NODE_LINE")
MEM=${ARCHSCALE_SLURM_MEM_MB:-$((REAL_MEM > 32768 ? REAL_MEM : 32768))}
NODE_SPEC=$(sed -e 's/^NodeName=[^ ]* //' -e "s/RealMemory=[0-9]*/RealMemory=$MEM/" <<<"$NODE_LINE")

GRES_NODE=""
mkdir -p /etc/slurm
: >"$STATE/fake_devices"
{
    echo "$MARK"
    if [[ $FAKE_GPUS -gt 0 ]]; then
        for ((i = 0; i < FAKE_GPUS; i++)); do
            dev=/dev/archscale-fakegpu$i
            if [[ ! -e $dev ]]; then
                mknod "$dev" c 1 3 && echo "$dev" >>"$STATE/fake_devices"
            fi
            echo "NodeName=$HOST Name=gpu File=$dev"
        done
    fi
} >/etc/slurm/gres.conf
[[ $FAKE_GPUS -gt 0 ]] && GRES_NODE="Gres=gpu:$FAKE_GPUS"

cat >/etc/slurm/slurm.conf <<EOF
$MARK
# A single-node test cluster: no accounting (no slurmdbd), no cgroups.
ClusterName=archscale-test
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/logs/slurmctld.log
SlurmdLogFile=$STATE/logs/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# trust this file over what slurmd measures (memory is advertised, never enforced here)
SlurmdParameters=config_overrides
ReturnToService=2
MailProg=/bin/true
# squeue/scontrol keep finished jobs this long (there is no accounting database to ask later):
# must be >= 3 x the plugin's init-seconds-before-status-checks, or it falls back to sacct;
# an hour lets the tests inspect every job of a run afterwards
MinJobAge=3600
KillWait=5
GresTypes=gpu
NodeName=$HOST $NODE_SPEC $GRES_NODE State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

# ---------------------------------------------------------------------------------------------
# Daemons, in the foreground of their own session so that $! is the daemon itself.
# ---------------------------------------------------------------------------------------------
setsid slurmctld -D -c -f /etc/slurm/slurm.conf >"$STATE/logs/slurmctld.out" 2>&1 </dev/null &
echo $! >"$STATE/pids/slurmctld"
for _ in $(seq 100); do
    scontrol ping 2>/dev/null | grep -q "is UP" && break
    pid_alive "$(cat "$STATE/pids/slurmctld")" || die 7 "slurmctld exited: $(tail -5 "$STATE/logs/slurmctld.log" "$STATE/logs/slurmctld.out" 2>/dev/null)"
    sleep 0.2
done
scontrol ping 2>/dev/null | grep -q "is UP" || die 7 "slurmctld does not answer"

setsid slurmd -D -f /etc/slurm/slurm.conf >"$STATE/logs/slurmd.out" 2>&1 </dev/null &
echo $! >"$STATE/pids/slurmd"
state=""
for i in $(seq 150); do
    state=$(sinfo -h -N -n "$HOST" -o %T 2>/dev/null | head -1)
    [[ $state == idle ]] && break
    pid_alive "$(cat "$STATE/pids/slurmd")" || die 7 "slurmd exited: $(tail -5 "$STATE/logs/slurmd.log" "$STATE/logs/slurmd.out" 2>/dev/null)"
    if [[ $i -eq 25 && $state =~ down|drain|unk ]]; then
        scontrol update NodeName="$HOST" State=RESUME 2>/dev/null || true
    fi
    sleep 0.2
done
[[ $state == idle ]] || die 7 "node $HOST is '$state', not idle: $(scontrol show node "$HOST" | grep -i reason)"

say "up: node $HOST ($NODE_SPEC${GRES_NODE:+ $GRES_NODE}), partition debug, state in $STATE"
