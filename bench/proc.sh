# /proc sampling shared by the benchmark scripts (sourced, like wait.sh).
# shellcheck shell=bash

now() { date +%s.%N; }
# utime + stime of a process (all its threads), in clock ticks.
cpu_ticks() {
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    s=${s##*) }
    # shellcheck disable=SC2086
    set -- $s
    echo $(( ${12} + ${13} ))
}
# A VmRSS/VmHWM line of /proc/PID/status, in KiB.
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# Pages of memory in TCP socket buffers, machine-wide.
sock_pages() { awk '$1 == "TCP:" { for (i = 2; i < NF; i++) if ($i == "mem") print $(i + 1) }' /proc/net/sockstat; }
# Busy clock ticks of the whole machine (all CPUs).
busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
sleep_until() { local d; d=$(awk -v t="$1" -v n="$(now)" 'BEGIN { d = t - n; print (d > 0 ? d : 0) }'); sleep "$d"; }
# Typical value of column COL (CPU %) of FILE: the interquartile mean, i.e.
# the mean of the middle half of the values (robust to a few bad seconds,
# and not quantised to whole clock ticks as a median would be); below 5 %,
# where a sample is a handful of ticks, the plain mean. -1 if empty.
typical() {
    sort -g -k "$1,$1" "$2" | awk -v c="$1" '{ v[NR] = $c; all += $c }
        END { if (!NR) { print -1; exit } if (all / NR < 5) { printf "%.3f\n", all / NR; exit }
              lo = int(NR / 4) + 1; hi = NR - int(NR / 4)
              for (i = lo; i <= hi; i++) s += v[i]; printf "%.3f\n", s / (hi - lo + 1) }'
}
