#!/usr/bin/env bash
# Stop the single-node SLURM cluster that tests/slurm/start_cluster.sh started: cancel its jobs,
# stop exactly the daemons whose PIDs it recorded (never by name), and remove the config files
# and fake GPU devices it wrote. Installed packages stay. Safe to run twice.
#
#   tests/slurm/stop_cluster.sh [STATE_DIR]     (default: $ARCHSCALE_SLURM_STATE or /tmp/archscale-slurm)
set -uo pipefail

STATE=${1:-${ARCHSCALE_SLURM_STATE:-/tmp/archscale-slurm}}
MARK="# archscale-test-cluster (written by tests/slurm/start_cluster.sh; removed by stop_cluster.sh)"
say() { echo "stop_cluster: $*" >&2; }

[[ -d $STATE ]] || { say "no state folder $STATE: nothing to stop"; exit 0; }

pid_of() { [[ -s $STATE/pids/$1 ]] && cat "$STATE/pids/$1"; }
# A recorded PID counts only while it still runs the program we started (PIDs get reused).
ours() {
    local name=$1 pid
    pid=$(pid_of "$name") || return 1
    [[ -r /proc/$pid/comm ]] && [[ $(cat "/proc/$pid/comm") == "$name" ]] && echo "$pid"
}

# Jobs first, while slurmctld/slurmd still run, so that their job steps end too.
if ours slurmctld >/dev/null && [[ -e /etc/slurm/slurm.conf ]] && grep -qF "$MARK" /etc/slurm/slurm.conf; then
    if [[ -n $(squeue -h -t PENDING,RUNNING,COMPLETING -o %i 2>/dev/null) ]]; then
        say "cancelling jobs still queued or running"
        scancel --full --state=PENDING 2>/dev/null
        scancel --full --state=RUNNING 2>/dev/null
        for _ in $(seq 40); do
            [[ -z $(squeue -h -t PENDING,RUNNING,COMPLETING -o %i 2>/dev/null) ]] && break
            sleep 0.5
        done
    fi
fi

# slurmd before slurmctld before munged (both SLURM daemons authenticate through munge).
for name in slurmd slurmctld munged; do
    pid=$(ours "$name") || { rm -f "$STATE/pids/$name"; continue; }
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "$name (pid $pid) ignored SIGTERM; SIGKILL"
        kill -KILL "$pid" 2>/dev/null
    fi
    rm -f "$STATE/pids/$name"
    say "stopped $name (pid $pid)"
done

for f in /etc/slurm/slurm.conf /etc/slurm/gres.conf; do
    [[ -e $f ]] && grep -qF "$MARK" "$f" && rm -f "$f"
done
if [[ -s $STATE/fake_devices ]]; then
    while read -r dev; do
        [[ $dev == /dev/archscale-fakegpu* && -c $dev ]] && rm -f "$dev"
    done <"$STATE/fake_devices"
    : >"$STATE/fake_devices"
fi
if [[ -s $STATE/created_files ]]; then
    while read -r f; do rm -f "$f"; done <"$STATE/created_files"
    : >"$STATE/created_files"
fi
say "done (logs kept in $STATE/logs)"
exit 0
