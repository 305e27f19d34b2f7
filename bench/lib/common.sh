# Helpers shared by the peer-comparison scripts (bench/http, bench/files).
# Source it; it defines functions only. Needs $py (a python3).

have() { command -v "$1" > /dev/null 2>&1; }

# A free TCP port on 127.0.0.1 (for the peers whose config needs a number).
free_port() {
  $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

nginx_bin() { command -v nginx || echo /usr/sbin/nginx; }

# Clock ticks of a process, its threads and all its descendants, summed
# from /proc/PID/stat by an awk expression over its fields (after the
# command name: $12 is utime, $13 stime).
proc_ticks() {  # pid expression
  local pid=$1 total=0 t c
  t=$(awk "{ sub(/.*\\) /, \"\"); print $2 }" "/proc/$pid/stat" 2> /dev/null || echo 0)
  total=$((total + t))
  for c in $(cat /proc/"$pid"/task/*/children 2> /dev/null); do
    total=$((total + $(proc_ticks "$c" "$2")))
  done
  echo "$total"
}

# utime+stime: all the CPU the server used.
cpu_ticks() { proc_ticks "$1" '$12 + $13'; }
# utime alone: with it a run's CPU splits into user space (the server's own
# code) and the kernel (syscalls and loopback TCP, which the client's state
# moves too).
user_ticks() { proc_ticks "$1" '$12'; }

# Connections accepted on this machine so far (PassiveOpens in
# /proc/net/snmp): a Connection: close load must open one per request.
passive_opens() { awk '$1 == "Tcp:" && $7 ~ /^[0-9]+$/ { print $7 }' /proc/net/snmp; }

# wrk's latency figure in ms (it prints us, ms or s).
to_ms() {
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'
}
