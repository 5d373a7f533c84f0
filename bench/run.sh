#!/usr/bin/env bash
# bench/run.sh: load clubline with SIPp on loopback and summarise.
#
# It builds ./cmd/clubline, starts it with a bench config (line forced
# open, max_calls high, the embedded store in a fresh directory, or Redis
# with --redis), runs bench/sipp_load.xml at the given rate and
# concurrency, samples clubline's CPU and memory from /proc every second,
# scrapes /metrics, stops clubline with SIGTERM and prints a summary.
# Everything stays on loopback, the number of calls is bounded, SIPp has
# a time limit and clubline is killed if it has not exited 30 s after
# SIGTERM: it stops by itself.
#
# With --bridge N, callers are put through to staff phones: clubline gets N
# staff members (extensions 201…, one password variable each, all in group
# office), N staff phones register to it with digest authentication (SIPp
# instances running bench/sipp_staff_register.xml, answering with
# bench/sipp_staff_answer.xml, 10 phones per instance, each instance on its
# own loopback address from 127.0.0.11 as clubline takes 20 REGISTERs per
# 10 s per address), and every caller who presses 1 waits in the office
# queue until clubline rings a free phone, which answers at once (PCMA)
# and echoes the audio: the call is bridged for --hold seconds. A staff
# phone takes one call at a time, so the concurrency defaults to N.
#
# usage: bench/run.sh [--rate CPS] [--concurrency N] [--calls N] [--hold S]
#                     [--redis] [--no-dtmf] [--no-echo] [--debug] [--settle S]
#                     [--bridge N [--strategy S]] [--bin FILE] [--out DIR]
#   --rate CPS        new calls per second (default 20)
#   --concurrency N   most calls at once, SIPp's -l (default 100; with
#                     --bridge N, N)
#   --calls N         calls in all, SIPp's -m (default 500)
#   --hold S          seconds each call is held after the digit (default 10);
#                     a call lasts about S + 2 s (with --bridge, a caller who
#                     waits in the queue is bridged for the rest of S)
#   --redis           store records in a redis-server started for the run
#                     (default: the embedded store)
#   --no-dtmf         do not press 1 (RFC 2833 pcap; needs root): callers
#                     then wait through the menu
#   --no-echo         SIPp does not echo clubline's RTP back (by default it
#                     does, so clubline also receives 50 packets/s per call);
#                     the staff phones of --bridge echo in any case
#   --debug           run clubline with --log-level debug and sum up the
#                     RTP statistics of every call (packets sent, received,
#                     lost, frames skipped by the 20 ms clock); debug logging
#                     costs CPU itself, so compare CPU figures without it
#   --settle S        after the calls, wait S seconds (Go collects garbage at
#                     least every 2 minutes: 130 shows what the heap keeps) and
#                     report the heap and goroutines then
#   --bridge N        put every call through the office queue to one of N
#                     staff phones (SIPp) and bridge it; --concurrency
#                     defaults to N (more: callers wait in the queue)
#   --strategy S      the office group's strategy with --bridge:
#                     longest-idle (default: one phone rung per call),
#                     ring-all (every free phone rung, the first 200 wins,
#                     the others get CANCEL or, answered, a BYE) or in-order
#   --bin FILE        use this clubline binary instead of building one
#   --out DIR         results directory (default bench/results/<time>-…)
#
# Ports (override with the environment): CLUBLINE_BENCH_SIP_PORT (35060),
# CLUBLINE_BENCH_HTTP_PORT (39090), CLUBLINE_BENCH_SIPP_PORT (35062),
# CLUBLINE_BENCH_MEDIA_PORT (36000; SIPp also takes +2),
# CLUBLINE_BENCH_REDIS_PORT (36379); clubline's RTP: 20000-29999.
# With --bridge: CLUBLINE_BENCH_STAFF_PORT (35100) and
# CLUBLINE_BENCH_STAFF_MEDIA_PORT (37000; +2 too) on 127.0.0.11, .12, …
#
# Needs: go, sipp (apt-get install sip-tester), curl; redis-server for
# --redis. Run as root for the DTMF pcap (or use --no-dtmf).

set -euo pipefail

rate=20 concurrency="" calls=500 hold=10 redis=0 dtmf=1 echo=1 debug=0 settle=0 bin="" out=""
bridge=0 strategy=longest-idle
while [[ $# -gt 0 ]]; do
	case $1 in
	--rate) rate=$2; shift 2 ;;
	--concurrency) concurrency=$2; shift 2 ;;
	--calls) calls=$2; shift 2 ;;
	--hold) hold=$2; shift 2 ;;
	--redis) redis=1; shift ;;
	--no-dtmf) dtmf=0; shift ;;
	--no-echo) echo=0; shift ;;
	--debug) debug=1; shift ;;
	--out) out=$2; shift 2 ;;
	--bin) bin=$2; shift 2 ;;
	--settle) settle=$2; shift 2 ;;
	--bridge) bridge=$2; shift 2 ;;
	--strategy) strategy=$2; shift 2 ;;
	-h|--help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench/run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
[[ $settle =~ ^[0-9]+$ ]] || { echo "bench/run.sh: --settle takes a whole number of seconds" >&2; exit 2; }
[[ $bridge =~ ^[0-9]+$ && $bridge -le 1000 ]] || { echo "bench/run.sh: --bridge takes a number of staff phones, 1 to 1000" >&2; exit 2; }
case $strategy in
ring-all|longest-idle|in-order) ;;
*) echo "bench/run.sh: --strategy is ring-all, longest-idle or in-order" >&2; exit 2 ;;
esac
if [[ $bridge -gt 0 && $dtmf == 0 ]]; then
	echo "bench/run.sh: --bridge needs the callers to press 1 (drop --no-dtmf)" >&2
	exit 2
fi
if [[ -z $concurrency ]]; then
	concurrency=100
	[[ $bridge -gt 0 ]] && concurrency=$bridge
fi
for n in "$rate" "$concurrency" "$calls" "$hold"; do
	[[ $n =~ ^[0-9]+$ && $n -gt 0 ]] || { echo "bench/run.sh: --rate, --concurrency, --calls and --hold take whole numbers above 0" >&2; exit 2; }
done

sip_port=${CLUBLINE_BENCH_SIP_PORT:-35060}
http_port=${CLUBLINE_BENCH_HTTP_PORT:-39090}
sipp_port=${CLUBLINE_BENCH_SIPP_PORT:-35062}
media_port=${CLUBLINE_BENCH_MEDIA_PORT:-36000}
redis_port=${CLUBLINE_BENCH_REDIS_PORT:-36379}
staff_port=${CLUBLINE_BENCH_STAFF_PORT:-35100}
staff_media_port=${CLUBLINE_BENCH_STAFF_MEDIA_PORT:-37000}
staff_per_sipp=10 # 2 REGISTERs each: 20, clubline's burst per address
staff_sipps=$(( (bridge + staff_per_sipp - 1) / staff_per_sipp ))

root=$(cd "$(dirname "$0")/.." && pwd)
store=embedded
[[ $redis == 1 ]] && store=redis
if [[ -z $out ]]; then
	out=$root/bench/results/$(date -u +%Y%m%dT%H%M%SZ)-c${concurrency}-r${rate}-n${calls}-${store}
	[[ $bridge -gt 0 ]] && out+=-bridge${bridge}-${strategy}
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$out/work
mkdir -p "$work"

need() { command -v "$1" >/dev/null || { echo "bench/run.sh: $1 not found: $2" >&2; exit 1; }; }
[[ -z $bin ]] && need go "install Go 1.26"
need sipp "apt-get install sip-tester"
need curl "apt-get install curl"
[[ $redis == 1 ]] && need redis-server "apt-get install redis-server"
if [[ $dtmf == 1 && $(id -u) != 0 ]]; then
	echo "bench/run.sh: the DTMF pcap (play_pcap_audio) needs root for its raw socket; run as root or add --no-dtmf" >&2
	exit 1
fi
if [[ $dtmf == 1 && ! -r /usr/share/sip-tester/dtmf_2833_1.pcap ]]; then
	echo "bench/run.sh: /usr/share/sip-tester/dtmf_2833_1.pcap missing (apt-get install sip-tester) or use --no-dtmf" >&2
	exit 1
fi
port_busy() { # proto port
	command -v ss >/dev/null || return 1
	[[ -n $(ss -Hln"${1:0:1}" "sport = :$2" 2>/dev/null) ]]
}
ports=("udp $sip_port" "tcp $http_port" "udp $sipp_port" "udp $media_port" "udp $((media_port + 2))")
[[ $bridge -gt 0 ]] && ports+=("udp $staff_port" "udp $staff_media_port" "udp $((staff_media_port + 2))")
for p in "${ports[@]}"; do
	if port_busy $p; then
		echo "bench/run.sh: port $p is in use; pick others with CLUBLINE_BENCH_*_PORT (see --help)" >&2
		exit 1
	fi
done

# Processes this script started; stopped by their pid on exit.
clubline_pid="" redis_pid="" sampler_pid="" sipp_pid="" staff_pids=""
cleanup() {
	for pid in $sipp_pid $sampler_pid $staff_pids; do
		kill "$pid" 2>/dev/null || true
	done
	if [[ -n $clubline_pid ]] && kill -0 "$clubline_pid" 2>/dev/null; then
		kill -KILL "$clubline_pid" 2>/dev/null || true
	fi
	if [[ -n $redis_pid ]]; then
		kill "$redis_pid" 2>/dev/null || true
	fi
	wait 2>/dev/null || true
	rm -f "$work"/staff*.csv # the staff passwords
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -n $bin ]]; then
	echo "== using $bin"
	cp "$bin" "$work/clubline"
else
	echo "== building clubline"
	(cd "$root" && go build -o "$work/clubline" ./cmd/clubline)
fi

redis_url=""
if [[ $redis == 1 ]]; then
	port_busy tcp "$redis_port" && { echo "bench/run.sh: redis port $redis_port in use (CLUBLINE_BENCH_REDIS_PORT)" >&2; exit 1; }
	echo "== starting redis-server on 127.0.0.1:$redis_port"
	redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
		--dir "$work" --logfile "$work/redis.log" --daemonize no &
	redis_pid=$!
	for _ in $(seq 50); do
		redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
		sleep 0.1
	done
	redis-cli -p "$redis_port" ping >/dev/null || { echo "bench/run.sh: redis-server did not start; see $work/redis.log" >&2; exit 1; }
	redis_url=redis://127.0.0.1:$redis_port/0
fi

# --bridge: N staff members, extensions 201…, each with a random password
# in its own environment variable (given to clubline only) and in the
# staff SIPp's injection file (deleted at the end), all in group office.
staff_yaml="" groups_yaml="  - { id: office }" staff_env=()
if [[ $bridge -gt 0 ]]; then
	staff_yaml="staff:"$'\n'
	members=()
	for i in $(seq 0 $((bridge - 1))); do
		ext=$((201 + i))
		pw=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
		staff_yaml+="  - { id: s$ext, name: Staff $ext, extension: \"$ext\", password_env: CLUBLINE_BENCH_PW_$ext }"$'\n'
		staff_env+=("CLUBLINE_BENCH_PW_$ext=$pw")
		members+=("s$ext")
		k=$((i / staff_per_sipp))
		[[ $((i % staff_per_sipp)) == 0 ]] && echo SEQUENTIAL >"$work/staff$k.csv"
		echo "$ext;[authentication username=$ext password=$pw]" >>"$work/staff$k.csv"
	done
	groups_yaml="  - id: office
    members: [$(IFS=,; echo "${members[*]}" | sed 's/,/, /g')]
    strategy: $strategy
    announce_every: 0s
    max_wait: 10m"
fi

cat >"$work/clubline.yaml" <<EOF
# clubline bench config, written by bench/run.sh
club:
  name: Club de Soccer Roussillon
  timezone: America/Toronto
  languages: [fr, en]
  language_key: "8"
sip:
  listen: [udp://127.0.0.1:$sip_port]
  rtp_ports: 20000-29999
  rtp_timeout: 60s
  numbers: ["+14505550100"]
  max_calls: 2000
  drain_timeout: 10s
hours:
  weekly:
    mon-fri: 08:30-16:30
  override: open
menu:
  timeout: 5s
  retries: 2
  default: voicemail
  options:
    - { key: "1", category: registrations, route: office }
    - { key: "9", category: urgent, route: urgency }
    - { key: "0", category: message, route: voicemail }
voicemail:
  dir: $work/voicemail
  max_length: 3m
  silence_timeout: 8s
store:
  redis_url: "$redis_url"
  key_prefix: "clubline-bench:"
  data_dir: $work/data
http:
  listen: 127.0.0.1:$http_port
${staff_yaml}groups:
$groups_yaml
EOF

echo "== starting clubline (store: $store)"
log_level=info
[[ $debug == 1 ]] && log_level=debug
env "${staff_env[@]}" "$work/clubline" serve --config "$work/clubline.yaml" --log-level "$log_level" >"$work/clubline.out" 2>"$work/clubline.log" &
clubline_pid=$!
ready=0
for _ in $(seq 100); do
	if curl -fsS "http://127.0.0.1:$http_port/readyz" >/dev/null 2>&1; then ready=1; break; fi
	kill -0 "$clubline_pid" 2>/dev/null || break
	sleep 0.1
done
if [[ $ready != 1 ]]; then
	echo "bench/run.sh: clubline did not become ready; its log:" >&2
	tail -20 "$work/clubline.log" >&2
	exit 1
fi

metric() { # sample name with labels; prints the value or 0
	curl -fsS "http://127.0.0.1:$http_port/metrics" 2>/dev/null |
		awk -v s="$1" 'index($0, s" ") == 1 { print $2; found=1 } END { if (!found) print 0 }'
}

# Time limit: the longer of the time to start every call at the rate and
# the time to run them all at the concurrency limit, plus a last call and
# a minute.
by_rate=$(( calls / rate ))
by_limit=$(( calls * (hold + 3) / concurrency ))
limit=$(( (by_rate > by_limit ? by_rate : by_limit) + hold + 3 + 60 ))

# --bridge: the staff phones. Each SIPp instance registers its phones
# (5 a second, so 2 s for 10) and then answers what clubline sends them,
# until it is stopped or its own time limit (the callers' plus 2 minutes)
# ends it.
registered_in=""
if [[ $bridge -gt 0 ]]; then
	staff_limit=$(( limit + 120 ))
	echo "== starting $staff_sipps staff SIPp instance(s): $bridge phones, extensions 201-$((200 + bridge)), on 127.0.0.11-$((10 + staff_sipps))"
	reg_started=$(date +%s%3N)
	for k in $(seq 0 $((staff_sipps - 1))); do
		ip=127.0.0.$((11 + k))
		staff_args=(
			-sf "$root/bench/sipp_staff_register.xml" -oocsf "$root/bench/sipp_staff_answer.xml"
			-inf "$work/staff$k.csv" -i "$ip" -p "$staff_port" -mi "$ip" -mp "$staff_media_port"
			-rtp_echo -m $(( $(wc -l <"$work/staff$k.csv") - 1 )) -r 5 -d $(( staff_limit * 1000 ))
			-nostdin -timeout "${staff_limit}s"
			-trace_err -error_file "$out/staff_sipp${k}_errors.log"
			"127.0.0.1:$sip_port"
		)
		(cd "$work" && exec sipp "${staff_args[@]}") >"$out/staff_sipp$k.out" 2>&1 &
		staff_pids+=" $!"
		[[ $k == 0 ]] && echo "sipp ${staff_args[*]}" >"$out/staff_sipp_command.txt"
	done
	[[ $staff_sipps -gt 1 ]] && echo "(the same for each of the $staff_sipps instances, on 127.0.0.12, 127.0.0.13, …, with staff1.csv, staff2.csv, …)" >>"$out/staff_sipp_command.txt"
	echo "$staff_pids" >"$work/staff.pids"
	registered=0
	for _ in $(seq 300); do
		registered=$(metric clubline_staff_registered)
		[[ $registered == "$bridge" ]] && break
		sleep 0.1
	done
	if [[ $registered != "$bridge" ]]; then
		echo "bench/run.sh: only $registered of $bridge staff phones registered in 30 s; see $out/staff_sipp*.out and the end of clubline's log:" >&2
		grep -Ev 'level=DEBUG' "$work/clubline.log" | tail -5 >&2
		exit 1
	fi
	registered_in=$(( $(date +%s%3N) - reg_started ))
	echo "== $bridge staff phones registered in ${registered_in} ms"
fi

# Sampler: one line a second with clubline's CPU ticks, RSS, threads,
# active calls and goroutines, SIPp's CPU ticks, and the packets dropped
# because SIPp's sockets (the RTP echo) had a full receive buffer; with
# --bridge also the staff SIPps' CPU ticks (all instances) and
# clubline_staff_busy.
clk=$(getconf CLK_TCK)
sampler() {
	echo "t_ms,cl_ticks,cl_rss_kb,cl_hwm_kb,cl_threads,active_calls,goroutines,sipp_ticks,sipp_drops,staff_ticks,staff_busy"
	while kill -0 "$clubline_pid" 2>/dev/null; do
		local now ticks rss hwm thr sp sticks=0 sdrops=0 fticks=0 busy=0
		now=$(date +%s%3N)
		ticks=$(awk '{ print $14 + $15 }' "/proc/$clubline_pid/stat" 2>/dev/null) || break
		rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$clubline_pid/status")
		hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$clubline_pid/status")
		thr=$(awk '/^Threads/ { print $2 }' "/proc/$clubline_pid/status")
		sp=$(cat "$work/sipp.pid" 2>/dev/null || true)
		if [[ -n $sp && -r /proc/$sp/stat ]]; then
			sticks=$(awk '{ print $14 + $15 }' "/proc/$sp/stat" 2>/dev/null || echo 0)
			if command -v ss >/dev/null; then
				sdrops=$(ss -Huanmp 2>/dev/null | awk -v pid="pid=$sp," '
					index($0, pid) { mine = 1; next }
					/skmem:/ { if (mine && match($0, /,d[0-9]+\)/)) d += substr($0, RSTART + 2, RLENGTH - 3); mine = 0 }
					END { print d + 0 }')
			fi
		fi
		if [[ $bridge -gt 0 ]]; then
			for sp in $staff_pids; do
				fticks=$(( fticks + $(awk '{ print $14 + $15 }' "/proc/$sp/stat" 2>/dev/null || echo 0) ))
			done
			busy=$(metric clubline_staff_busy)
		fi
		echo "$now,$ticks,$rss,$hwm,$thr,$(metric clubline_active_calls),$(metric go_goroutines),$sticks,$sdrops,$fticks,$busy"
		sleep 1
	done
}
sampler >"$out/samples.csv" &
sampler_pid=$!

scenario=$root/bench/sipp_load.xml
sipp_args=(
	-sf "$scenario" -s +14505550100
	-i 127.0.0.1 -p "$sipp_port" -mi 127.0.0.1 -mp "$media_port"
	-set DTMF "$dtmf" -d $(( hold * 1000 ))
	-r "$rate" -l "$concurrency" -m "$calls"
	-nostdin -timeout "${limit}s" -timeout_error
	-trace_stat -stf "$out/sipp_stats.csv" -fd 1
	-trace_rtt -rtt_freq 1
	-trace_err -error_file "$out/sipp_errors.log"
	-trace_screen -screen_file "$out/sipp_screen.log"
)
[[ $echo == 1 ]] && sipp_args+=(-rtp_echo)
sipp_args+=("127.0.0.1:$sip_port")
echo "== sipp: $rate calls/s, at most $concurrency at once, $calls calls, each held ~$((hold + 2))s (time limit ${limit}s)"
echo "sipp ${sipp_args[*]}" >"$out/sipp_command.txt"
udp_snmp() { awk '/^Udp:/ { if (!h) { for (i=2; i<=NF; i++) n[i]=$i; h=1 } else for (i=2; i<=NF; i++) printf "%s=%s ", n[i], $i }' /proc/net/snmp; }
udp_before=$(udp_snmp)
loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date +%s%3N)
set +e
(cd "$work" && exec sipp "${sipp_args[@]}") >"$out/sipp.out" 2>&1 &
sipp_pid=$!
echo "$sipp_pid" >"$work/sipp.pid"
wait "$sipp_pid"
sipp_rc=$?
set -e
sipp_pid=""
rm -f "$work/sipp.pid"
ended=$(date +%s%3N)
udp_after=$(udp_snmp)
mv "$work"/sipp_load_*_rtt.csv "$out/sipp_rtt.csv" 2>/dev/null || true

# Let the last calls finish (the script ends just after the BYE).
for _ in $(seq 100); do
	[[ $(metric clubline_active_calls) == 0 && $(metric clubline_staff_busy) == 0 ]] && break
	sleep 0.1
done
curl -fsS "http://127.0.0.1:$http_port/metrics" >"$out/metrics.txt" || true
if [[ $settle -gt 0 ]]; then
	echo "== waiting ${settle}s with no calls"
	sleep "$settle"
	curl -fsS "http://127.0.0.1:$http_port/metrics" >"$out/metrics-settled.txt" || true
fi
sleep 1
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=""

staff_alive=0
if [[ $bridge -gt 0 ]]; then
	for pid in $staff_pids; do
		kill -0 "$pid" 2>/dev/null && staff_alive=$((staff_alive + 1))
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in $staff_pids; do
		wait "$pid" 2>/dev/null || true
	done
	staff_pids=""
fi

echo "== stopping clubline (SIGTERM)"
kill -TERM "$clubline_pid"
for _ in $(seq 300); do
	kill -0 "$clubline_pid" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$clubline_pid" 2>/dev/null; then
	echo "bench/run.sh: clubline still running 30s after SIGTERM: killing it" >&2
	kill -KILL "$clubline_pid" 2>/dev/null || true
fi
set +e
wait "$clubline_pid"
clubline_rc=$?
set -e
clubline_pid=""
if [[ -n $redis_pid ]]; then
	redis_keys=$(redis-cli -p "$redis_port" zcard clubline-bench:calls 2>/dev/null || echo "?")
	kill "$redis_pid" 2>/dev/null || true
	wait "$redis_pid" 2>/dev/null || true
	redis_pid=""
fi
cp "$work/clubline.log" "$out/clubline.log"
cp "$work/clubline.yaml" "$out/clubline.yaml"

# ---- summary -------------------------------------------------------------
col() { # file column-name: the column from the last line of a SIPp stats CSV
	awk -F';' -v c="$2" 'NR == 1 { for (i=1; i<=NF; i++) if ($i == c) k=i; next } { v=$k } END { print v }' "$1"
}
pct() { # sorted-values-file percentile
	awk -v p="$2" '{ v[NR]=$1 } END { if (NR == 0) { print "-"; exit } i=int(NR*p/100 + 0.999999); if (i < 1) i=1; if (i > NR) i=NR; print v[i] }' "$1"
}
stats=$out/sipp_stats.csv
created=$(col "$stats" TotalCallCreated)
ok=$(col "$stats" 'SuccessfulCall(C)')
failed=$(col "$stats" 'FailedCall(C)')
retrans=$(col "$stats" 'Retransmissions(C)')
unexpected=$(col "$stats" 'FailedUnexpectedMessage(C)')
timeouts=$(col "$stats" 'FailedTimeoutOnRecv(C)')
maxretrans=$(col "$stats" 'FailedMaxUDPRetrans(C)')
rt_avg=$(col "$stats" 'ResponseTime1(C)' | awk -F: '{ printf "%.1f", $1*3600000 + $2*60000 + $3*1000 + $4/1000 }')
peak_sipp_calls=$(awk -F';' 'NR == 1 { for (i=1; i<=NF; i++) if ($i == "CurrentCall") k=i; next } $k > m { m=$k } END { print m+0 }' "$stats")
sorted=$work/rtt_sorted.txt
awk -F';' 'NR > 1 && $3 == 1 { print $2 }' "$out/sipp_rtt.csv" 2>/dev/null | sort -n >"$sorted" || true
n_rtt=$(wc -l <"$sorted")

# CPU: per-second deltas of clubline's ticks (% of one core), the peak and
# the average over the SIPp run; memory: VmHWM (peak RSS).
read -r cpu_peak cpu_avg sipp_cpu_avg rss_peak_kb hwm_kb thr_peak active_peak gor_peak sipp_drops max_gap staff_cpu_avg busy_peak < <(
	awk -F, -v clk="$clk" -v t0="$started" -v t1="$ended" '
	NR == 1 { next }
	{
		if (prev_t != "" && $1 > prev_t) {
			dt = ($1 - prev_t) / 1000
			if ($1 - prev_t > gap) gap = $1 - prev_t
			c = ($2 - prev_c) / clk / dt * 100
			if (c > peak) peak = c
			if ($1 >= t0 && prev_t <= t1) {
				busy += $2 - prev_c; span += dt
				if (prev_s > 0 && $8 >= prev_s) sbusy += $8 - prev_s
				if (prev_f > 0 && $10 >= prev_f) fbusy += $10 - prev_f
			}
		}
		prev_t = $1; prev_c = $2; prev_s = $8; prev_f = $10
		if ($11 > bp) bp = $11
		if ($3 > rss) rss = $3
		if ($4 > hwm) hwm = $4
		if ($5 > thr) thr = $5
		if ($6 > act) act = $6
		if ($7 > gor) gor = $7
		if ($9 > sd) sd = $9
	}
	END {
		avg = span > 0 ? busy / clk / span * 100 : 0
		savg = span > 0 ? sbusy / clk / span * 100 : 0
		favg = span > 0 ? fbusy / clk / span * 100 : 0
		printf "%.1f %.1f %.1f %d %d %d %d %d %d %d %.1f %d\n", peak, avg, savg, rss, hwm, thr, act, gor, sd, gap, favg, bp
	}' "$out/samples.csv")

# UDP counters of the network namespace (every process in it), over the SIPp run.
udp_delta() { # name
	local a b
	a=$(tr ' ' '\n' <<<"$udp_before" | awk -F= -v k="$1" '$1 == k { print $2 }')
	b=$(tr ' ' '\n' <<<"$udp_after" | awk -F= -v k="$1" '$1 == k { print $2 }')
	echo $(( ${b:-0} - ${a:-0} ))
}
udp_in=$(udp_delta InDatagrams) udp_out=$(udp_delta OutDatagrams)
udp_rcvbuf=$(udp_delta RcvbufErrors) udp_inerr=$(udp_delta InErrors) udp_sndbuf=$(udp_delta SndbufErrors) udp_noports=$(udp_delta NoPorts)
# clubline's own setup time (INVITE received to 200 OK sent, as it logs it, rounded to 1 ms).
awk 'match($0, /msg="call answered".* setup=[^ ]+/) {
	v = $0; sub(/.* setup=/, "", v); sub(/ .*/, "", v)
	if (v ~ /µs$/) { sub(/µs$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }
	print v + 0 }' "$out/clubline.log" | sort -n >"$work/setup_sorted.txt"
n_setup=$(wc -l <"$work/setup_sorted.txt")

rtp_stats=""
if [[ $debug == 1 ]]; then
	rtp_stats=$(awk '/msg="rtp session ended"/ {
		n++
		for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		sent += v["sent"]; recv += v["received"]; lost += v["lost"]; late += v["late"]
		skipped += v["skipped"]; serr += v["send_errors"]; if (v["skipped"] > 0) withskip++
		if (v["lost"] > 0) withloss++
	} END { printf "%d sessions: sent %d, received %d, lost %d (in %d sessions), late %d, send errors %d, frames skipped by the clock %d (in %d sessions)", n, sent, recv, lost, withloss+0, late, serr, skipped, withskip+0 }' "$out/clubline.log")
fi

# --bridge: the queue, the staff legs and the staff phones.
bridge_lines=""
if [[ $bridge -gt 0 ]]; then
	m=$out/metrics.txt
	q() { awk -v s="clubline_queue_calls_total{group=\"office\",result=\"$1\"}" 'index($0, s" ") == 1 { v = $2 } END { print v + 0 }' "$m"; }
	q_answered=$(q answered) q_abandoned=$(q abandoned) q_voicemail=$(q voicemail) q_timeout=$(q timeout)
	wait_mean=$(awk '/^clubline_queue_wait_seconds_sum\{group="office",result="answered"\}/ { s = $2 }
		/^clubline_queue_wait_seconds_count\{group="office",result="answered"\}/ { c = $2 }
		END { if (c > 0) printf "%.1f", s / c * 1000; else print "-" }' "$m")
	wait_le5=$(awk 'index($0, "clubline_queue_wait_seconds_bucket{group=\"office\",result=\"answered\",le=\"5\"} ") == 1 { print $2 + 0 }' "$m")
	# From clubline's log (ms resolution), per call: put-through, the
	# caller's call answered to the first staff leg answered, less the 2 s
	# the caller waits before pressing 1 (so: the key, the menu, the queue,
	# the INVITE to the phone and its 200); bridged, the first staff leg
	# answered to the last ended (with ring-all, the phones that answered
	# too late are hung up at once: their legs are counted, not timed).
	awk '
	function ms(line,   t) {
		t = line; sub(/^time=[0-9-]+T/, "", t); sub(/Z .*/, "", t)
		split(t, p, ":"); return (p[1] * 3600 + p[2] * 60 + p[3]) * 1000
	}
	function id(line, key,   v) {
		v = line; if (!sub(".* " key "=", "", v)) return ""; sub(/ .*/, "", v); return v
	}
	/msg="call answered"/ { ans[id($0, "call")] = ms($0) }
	/msg="staff leg answered"/ { k = id($0, "clubline_call_id"); if (k in up) next; up[k] = ms($0)
		if (k in ans) { d = up[k] - ans[k] - 2000; if (d < -43200000) d += 86400000; printf "put %.0f\n", d } }
	/msg="staff leg ended"/ { k = id($0, "clubline_call_id"); if (k in up) last[k] = ms($0) }
	END { for (k in last) { d = last[k] - up[k]; if (d < 0) d += 86400000; printf "bridged %.0f\n", d } }
	' "$out/clubline.log" >"$work/bridge_times.txt"
	awk '$1 == "put" { print $2 }' "$work/bridge_times.txt" | sort -n >"$work/put_sorted.txt"
	awk '$1 == "bridged" { print $2 / 1000 }' "$work/bridge_times.txt" | sort -n >"$work/bridged_sorted.txt"
	leg_ends=$(grep 'msg="staff leg ended"' "$out/clubline.log" | sed -E 's/.* reason=//' | sort | uniq -c | sort -rn |
		awk '{ n = $1; $1 = ""; sub(/^ /, ""); printf "%s%d %s", sep, n, $0; sep = ", " }')
	legs_answered=$(grep -c 'msg="staff leg answered"' "$out/clubline.log" || true)
	legs_ended=$(grep -c 'msg="staff leg ended"' "$out/clubline.log" || true)
	# The staff SIPps log each request they get outside a known dialog.
	read -r staff_invites staff_options staff_other < <(
		shopt -s nullglob
		files=("$out"/staff_sipp*_errors.log)
		[[ ${#files[@]} -gt 0 ]] || { echo 0 0 0; exit; }
		awk '{ i += gsub(/out-of-call INVITE/, ""); o += gsub(/out-of-call OPTIONS/, "")
			e += gsub(/[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]\t[0-9:.]+\t/, "") }
			END { print i + 0, o + 0, e - i - o }' "${files[@]}")
	rtp_split=""
	if [[ $debug == 1 ]]; then
		rtp_split=$(awk '/msg="rtp session ended"/ {
			k = / leg=staff / ? "staff" : "caller"
			for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			n[k]++; sent[k] += v["sent"]; recv[k] += v["received"]; lost[k] += v["lost"]
			skipped[k] += v["skipped"]; if (v["skipped"] > 0) ws[k]++; serr[k] += v["send_errors"]
		} END { split("caller staff", ks, " ")
			for (j = 1; j <= 2; j++) { k = ks[j]
				printf "%s  %s legs: %d sessions, sent %d, received %d, lost %d, frames skipped %d (in %d sessions), send errors %d", sep, k, n[k], sent[k], recv[k], lost[k], skipped[k], ws[k] + 0, serr[k]
				sep = "\n" } }' "$out/clubline.log")
	fi
	bridge_lines="staff phones:    $bridge registered in ${registered_in} ms ($staff_sipps SIPp instances, strategy $strategy); clubline_staff_registered at the end $(awk '/^clubline_staff_registered / { print $2 }' "$m"); staff SIPps still up at the end $staff_alive of $staff_sipps
queue (office):  answered $q_answered, abandoned $q_abandoned, voicemail $q_voicemail, timeout $q_timeout; answered waits: mean $wait_mean ms, $wait_le5 of $q_answered within 5 s (the histogram's first bucket)
put-through (clubline's log, call answered → staff leg answered − the caller's 2 s before the key, ms, $(wc -l <"$work/put_sorted.txt") calls): p50 $(pct "$work/put_sorted.txt" 50), p90 $(pct "$work/put_sorted.txt" 90), p99 $(pct "$work/put_sorted.txt" 99), max $(pct "$work/put_sorted.txt" 100)
bridged (first staff leg answered → last ended, s, $(wc -l <"$work/bridged_sorted.txt") calls): min $(pct "$work/bridged_sorted.txt" 0), p50 $(pct "$work/bridged_sorted.txt" 50), max $(pct "$work/bridged_sorted.txt" 100)
staff legs:      $legs_ended answered by a phone (each logs \"staff leg ended\"; with ring-all most are hung up at once), $legs_answered of them handed to the queue ($((legs_answered - q_answered)) more than callers put through); ended: ${leg_ends:-none}; peak clubline_staff_busy $busy_peak
staff SIPps:     INVITEs received $staff_invites, OPTIONS $staff_options, other events in their error logs $staff_other; CPU mean ${staff_cpu_avg}% of one core (all instances)"
	[[ -n $rtp_split ]] && bridge_lines+=$'\n'"RTP by leg (clubline debug log):"$'\n'"$rtp_split"
fi

heap() { # metrics-file: heap in use, goroutines, GC count, RSS
	awk '/^go_memstats_heap_alloc_bytes / { h = $2 } /^go_goroutines / { g = $2 } /^go_gc_duration_seconds_count / { c = $2 }
		/^process_resident_memory_bytes / { r = $2 }
		END { printf "heap allocated %.1f MiB, %d goroutines, %d GCs so far, RSS %.0f MiB", h / 1048576, g, c, r / 1048576 }' "$1"
}
calls_total=$(awk '/^clubline_calls_total\{/ { s += $2 } END { print s+0 }' "$out/metrics.txt")
calls_lines=$(grep '^clubline_calls_total{' "$out/metrics.txt" | sed 's/^/    /' || true)
rejected_lines=$(grep '^clubline_sip_rejected_total{' "$out/metrics.txt" | sed 's/^/    /' || true)
spooled=$(awk '/^clubline_store_spooled_records / { print $2 }' "$out/metrics.txt")
errors=$(grep -c 'level=ERROR' "$out/clubline.log" || true)
warns=$(grep -c 'level=WARN' "$out/clubline.log" || true)
secs=$(awk -v a="$started" -v b="$ended" 'BEGIN { printf "%.1f", (b - a) / 1000 }')

{
	echo "clubline SIPp load run: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "machine: $(nproc) CPU ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/^MemTotal/ { printf "%.1f GiB", $2/1048576 }' /proc/meminfo), $(uname -sr)"
	echo "clubline: ${bin:-built from $(cd "$root" && git describe --always --dirty 2>/dev/null || echo '?')}, $(go version "$work/clubline" 2>/dev/null | awk '{ print $2 }'); $(sipp -v 2>/dev/null | awk 'NF { print $1, $2; exit }')"
	echo "load: rate $rate cps, concurrency limit $concurrency, $calls calls, hold ${hold}s + 2s greeting, dtmf=$dtmf, rtp_echo=$echo, store=$store, log level $log_level"
	[[ $bridge -gt 0 ]] && echo "bridge: $bridge staff phones (SIPp, PCMA, echo), group office, strategy $strategy; each call: greeting, 1, queue, bridged to a phone for ~${hold}s"
	echo "load average before the run: $loadavg (other work on the machine skews the figures)"
	echo "sipp exit: $sipp_rc; clubline exit after SIGTERM: $clubline_rc; run time ${secs}s"
	echo
	echo "calls (SIPp):    created $created, successful $ok, failed $failed (unexpected msg $unexpected, recv timeout $timeouts, max UDP retrans $maxretrans), retransmissions $retrans"
	echo "peak concurrent: $peak_sipp_calls (SIPp), $active_peak (clubline_active_calls)"
	echo "setup time INVITE→200 (SIPp, 1 ms resolution, $n_rtt calls): p50 $(pct "$sorted" 50) ms, p90 $(pct "$sorted" 90) ms, p99 $(pct "$sorted" 99) ms, max $(pct "$sorted" 100) ms; mean $rt_avg ms"
	echo "setup time (clubline's log, INVITE in → 200 out, $n_setup calls): p50 $(pct "$work/setup_sorted.txt" 50) ms, p90 $(pct "$work/setup_sorted.txt" 90) ms, p99 $(pct "$work/setup_sorted.txt" 99) ms, max $(pct "$work/setup_sorted.txt" 100) ms"
	echo "clubline CPU:    peak ${cpu_peak}% of one core (1 s samples), mean ${cpu_avg}% over the SIPp run"
	echo "clubline memory: peak RSS $((hwm_kb / 1024)) MiB (VmHWM $hwm_kb kB), threads peak $thr_peak, goroutines peak $gor_peak"
	echo "sampling:        largest gap between the 1 s samples ${max_gap} ms (much over 1000 ms: the machine stalled, the figures are suspect)"
	echo "after the calls: $(heap "$out/metrics.txt")"
	[[ -s $out/metrics-settled.txt ]] && echo "${settle}s later:   $(heap "$out/metrics-settled.txt")"
	echo "SIPp CPU:        mean ${sipp_cpu_avg}% of one core over the run (SIPp shares the machine with clubline)"
	echo "UDP over the run (whole network namespace): in $udp_in, out $udp_out datagrams ($(( (udp_in + udp_out) * 1000 / (ended - started) ))/s); receive-buffer drops $udp_rcvbuf, in errors $udp_inerr, send-buffer errors $udp_sndbuf, to closed ports $udp_noports"
	echo "                 receive-buffer drops at SIPp's media socket (it echoes from it; with --no-echo nobody reads it), sampled each second: at least $sipp_drops"
	[[ -n $rtp_stats ]] && echo "RTP (clubline debug log): $rtp_stats"
	[[ -n $bridge_lines ]] && echo "$bridge_lines"
	echo "clubline_calls_total: $calls_total"
	[[ -n $calls_lines ]] && echo "$calls_lines"
	[[ -n $rejected_lines ]] && { echo "clubline_sip_rejected_total:"; echo "$rejected_lines"; }
	echo "clubline_store_spooled_records at the end: ${spooled:-?}"
	[[ $redis == 1 ]] && echo "calls in redis (ZCARD clubline-bench:calls): ${redis_keys:-?}"
	echo "clubline log: $errors ERROR, $warns WARN lines"
	if [[ $errors -gt 0 || $warns -gt 0 ]]; then
		grep -E 'level=(ERROR|WARN)' "$out/clubline.log" | sed -E 's/^time=[^ ]+ //; s/call=[0-9a-f-]+ //' | cut -c1-200 | sort | uniq -c | sort -rn | head -5 | sed 's/^/    /'
	fi
	if [[ -s $out/sipp_errors.log ]]; then
		echo "sipp errors (first lines of sipp_errors.log):"
		grep -v '^\s*$' "$out/sipp_errors.log" | head -5 | cut -c1-200 | sed 's/^/    /'
	fi
	echo
	echo "files: $out"
} | tee "$out/summary.txt"

rm -rf "$work/voicemail" "$work/data" "$work/clubline" "$sorted" "$work/setup_sorted.txt" \
	"$work"/staff*.csv "$work/staff.pids" "$work/bridge_times.txt" "$work/put_sorted.txt" "$work/bridged_sorted.txt"
[[ $sipp_rc == 0 && $clubline_rc == 0 ]]
