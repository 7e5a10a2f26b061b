# Waiting for a server under test, shared by compare.sh and latency.sh
# (sourced, not run).
# port_listening PORT: something listens on PORT (TCP, any address).
port_listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q LISTEN; }
# wait_port PORT: waits up to 10 s for a listener on PORT.
wait_port() {
    for _ in $(seq 100); do port_listening "$1" && return 0; sleep 0.1; done
    return 1
}
# wait_stream URL: waits until URL answers 200 (reads at most a second of the stream).
wait_stream() {
    local code
    for _ in $(seq 30); do
        code=$(curl -s -o /dev/null --max-time 1 -w '%{http_code}' "$1" || true)
        [[ $code == 200 ]] && return 0
        sleep 0.5
    done
    return 1
}
