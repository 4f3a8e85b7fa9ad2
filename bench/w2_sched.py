#!/usr/bin/env python3
# bench/w2_sched.py LOAD SERVER [courier-load args...]: where W2's drain waits,
# thread by thread.
#
# Runs LOAD (a courier-load binary) with --workloads W2 against SERVER (which
# it starts) and reads /proc/PID/task/*/schedstat and status of the server and
# of courier-load when courier-load prints "W2 enqueue:" and, every few
# milliseconds after it, until it prints "W2 drain:" (the last reading taken
# while the server's delivery threads were alive counts). Prints, per thread
# name, the run time, the time spent runnable in the run queue, the time
# slices and the voluntary and involuntary switches over the drain, then
# courier-load's drain figures. No perf needed.
# Example: bench/w2_sched.py build/bench/courier-load \
#            build/examples/server/courier-server --server-arg=--window=1024
import collections
import os
import re
import subprocess
import sys
import time


def server_pid(load_pid):
    try:
        with open('/proc/%d/task/%d/children' % (load_pid, load_pid)) as f:
            for child in f.read().split():
                with open('/proc/%s/cmdline' % child) as c:
                    if 'courier-server' in c.read():
                        return int(child)
    except OSError:
        pass
    return None


def read(path):
    with open(path) as f:
        return f.read()


def snapshot(pids):
    out = {}
    for pid in pids:
        try:
            tids = os.listdir('/proc/%d/task' % pid)
        except OSError:
            continue
        for tid in tids:
            base = '/proc/%d/task/%s/' % (pid, tid)
            try:
                comm = read(base + 'comm').strip()
                run, wait, slices = (int(x) for x in read(base + 'schedstat').split()[:3])
                status = read(base + 'status')
            except OSError:
                continue
            vol = int(re.search(r'^voluntary_ctxt_switches:\s+(\d+)', status, re.M).group(1))
            invol = int(re.search(r'nonvoluntary_ctxt_switches:\s+(\d+)', status).group(1))
            out[(pid, tid)] = (comm, run, wait, slices, vol, invol)
    return out


def main():
    load, server = sys.argv[1], sys.argv[2]
    proc = subprocess.Popen([load, '--server', server, '--workloads', 'W2'] + sys.argv[3:],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)

    def more():
        try:
            return os.read(fd, 1 << 16).decode(errors='replace')
        except BlockingIOError:
            return ''

    log = ''
    spid = None
    first = last = None
    t_first = t_last = 0.0
    while proc.poll() is None:
        log += more()
        if spid is None:
            spid = server_pid(proc.pid)
        if first is None and 'W2 enqueue:' in log and spid is not None:
            first, t_first = snapshot([spid, proc.pid]), time.time()
        elif first is not None and 'W2 drain:' not in log:
            snap = snapshot([spid, proc.pid])
            if any(v[0] == 'courier-deliver' for v in snap.values()):
                last, t_last = snap, time.time()
        time.sleep(0.002)
    while chunk := more():
        log += chunk
    if first is None or last is None:
        sys.exit('w2_sched: no readings (did W2 run?)\n' + log)
    print('readings %.3f s apart' % (t_last - t_first))
    sums = collections.OrderedDict()
    for key, now in sorted(last.items()):
        if key not in first:
            continue
        who = 'server' if key[0] == spid else 'load'
        row = sums.setdefault((who, now[0]), [0, 0, 0, 0, 0, 0])
        for i in range(5):
            row[i] += now[i + 1] - first[key][i + 1]
        row[5] += 1
    for (who, comm), r in sums.items():
        if r[0] < 1e6 and r[1] < 1e6:
            continue  # under a millisecond either way
        print('%-6s %-16s x%-2d run %7.1f ms  run-queue %7.1f ms  slices %5d  vol %5d  invol %4d'
              % (who, comm, r[5], r[0] / 1e6, r[1] / 1e6, r[2], r[3], r[4]))
    for line in log.splitlines():
        if re.search(r'W2 (drain_msgs_per_s|server_cpu_us_per_msg)|commits of', line):
            print(line)
    sys.exit(proc.returncode)


if __name__ == '__main__':
    main()
