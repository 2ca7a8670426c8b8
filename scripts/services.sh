#!/usr/bin/env bash
# RabbitMQ, Redis and PostgreSQL for tests and local runs, started from Debian's packages on
# 127.0.0.1 on free ports, with throwaway data under a temp dir.
#
#   scripts/services.sh start   install what is missing, start all three, write the env file
#   scripts/services.sh start --rabbitmq-nodes 3   the same with a RabbitMQ cluster of 3 nodes (or LORAQUEUE_RABBITMQ_NODES=3)
#   scripts/services.sh stop    stop exactly the processes `start` started (every node), remove their data
#   scripts/services.sh env     print the env file (eval "$(scripts/services.sh env)")
#   scripts/services.sh status  exit 0 when the recorded services (every node) are all up
#   scripts/services.sh down postgres|redis|rabbitmq [NODE]   stop one in place (port and data kept; redis: SIGKILL): a fault drill
#   scripts/services.sh up postgres|redis|rabbitmq [NODE]     start it again after `down` or `kill` (no NODE: every node; redis: empty)
#   scripts/services.sh restart redis                         SIGKILL Redis and start it again, empty, on its port
#   scripts/services.sh kill rabbitmq NODE    SIGKILL one node's Erlang VM (a crash); prints "k name 127.0.0.1:port"
#   scripts/services.sh nodes                 one line per node: k, node name, AMQP address, up|app-stopped|dead
#   scripts/services.sh leader QUEUE [VHOST]  the node leading a quorum queue now: "k name 127.0.0.1:port"
#
# NODE is a node's number (1…N, 1 = the first, the default), its node name, or leader:QUEUE[@VHOST] — the node that
# leads that quorum queue now (`kill rabbitmq leader:lora-rank-8` is the drill "lose the busiest queue's leader").
# A cluster's nodes (loraqueue-<port>@localhost) each have their own AMQP port, distribution port and data dir, share one
# epmd of their own and one generated Erlang cookie (in each node's HOME, never ~/.erlang.cookie), are started one after
# another, and join the first with `rabbitmqctl stop_app; join_cluster; start_app`. One node is the default.
#
# The env file (default .cache/services/services.env, or $LORAQUEUE_SERVICES_ENV) exports the keys the services read
# (LORAQUEUE__RABBITMQ__HOST/PORT = node 1, and for a cluster LORAQUEUE__RABBITMQ__HOSTS = every node …) and records the PIDs and paths to stop.
set -euo pipefail
cd "$(dirname "$0")/.."

ENV_FILE=${LORAQUEUE_SERVICES_ENV:-$PWD/.cache/services/services.env}
TRIES=${LORAQUEUE_SERVICES_TRIES:-120}   # readiness checks, 0.5 s apart
PG_USER=loraqueue
RABBIT_USER=loraqueue

say() { echo "services: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- install

pg_bindir() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && { echo "$dir"; return; }
  done
}

install_missing() {
  local missing=()
  command -v redis-server >/dev/null || missing+=(redis-server)
  [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
  [ -n "$(pg_bindir)" ] || missing+=(postgresql)
  # UCX, the adapter transfer transport: the library, and the headers the binding's layout test compiles against.
  ldconfig -p 2>/dev/null | grep -q 'libucp\.so\.0' || missing+=(libucx0)
  [ -f /usr/include/ucp/api/ucp.h ] || missing+=(libucx-dev)
  command -v cc >/dev/null || missing+=(gcc)
  [ ${#missing[@]} -eq 0 ] && return
  [ "$(id -u)" = 0 ] || die "missing ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}"
  say "installing ${missing[*]} (apt-get)"
  # Debian's postinst would start system-wide instances on the default ports: forbid that.
  local policy=/usr/sbin/policy-rc.d added_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && added_policy=1
  fi
  local ok=1
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || ok=
  [ -n "$added_policy" ] && rm -f "$policy"
  [ -n "$ok" ] || die "apt-get could not install ${missing[*]}"
}

# ---------------------------------------------------------------- helpers

# A port nobody listens on now, and not one handed out earlier in this run.
TAKEN_PORTS=" "
free_port() {
  local port listening
  listening=$(ss -Htln 2>/dev/null | awk '{print $4}' | sed 's/.*://' | tr '\n' ' ')
  for _ in $(seq 200); do
    # Below 55000: rabbitmqctl takes its own distribution port at RABBITMQ_DIST_PORT + 10000.
    port=$((20000 + RANDOM % 35000))
    case " $listening $TAKEN_PORTS" in *" $port "*) continue ;; esac
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
    TAKEN_PORTS+="$port "
    echo "$port"; return
  done
  die "no free TCP port found"
}

# Waits until "$@" succeeds; $1 = what, rest = the check. Bounded: $TRIES × 0.5 s.
wait_for() {
  local what=$1; shift
  for _ in $(seq "$TRIES"); do
    "$@" >/dev/null 2>&1 && { say "$what is up"; return 0; }
    sleep 0.5
  done
  return 1
}

# True when PID is alive and its command line contains MARK (guards against a recycled PID).
owned() {
  local pid=$1 mark=$2
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$mark"
}

# Stops PID if it is ours: TERM, then KILL after ~10 s.
stop_pid() {
  local name=$1 pid=$2 mark=$3
  owned "$pid" "$mark" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 40); do owned "$pid" "$mark" || { say "$name stopped"; return 0; }; sleep 0.25; done
  kill -KILL "$pid" 2>/dev/null || true
  say "$name killed (pid $pid)"
}

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u "$PG_OS_USER" -- "$@"; else "$@"; fi; }

# ---------------------------------------------------------------- postgres

start_postgres() {
  local bin dir=$STATE_DIR/postgres
  bin=$(pg_bindir); [ -n "$bin" ] || die "PostgreSQL binaries not found under /usr/lib/postgresql"
  PG_BIN=$bin PG_DIR=$dir
  PG_PORT=$(free_port)
  PG_OS_USER=$(id -un)
  if [ "$(id -u)" = 0 ]; then   # initdb refuses root
    PG_OS_USER=postgres
    getent passwd postgres >/dev/null || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
  fi
  mkdir -p "$dir" && chown "$PG_OS_USER" "$dir" && chmod 700 "$dir"
  PG_PASSWORD=$(random_secret)
  echo "$PG_PASSWORD" >"$dir/pwfile" && chown "$PG_OS_USER" "$dir/pwfile"
  as_pg "$bin/initdb" -D "$dir/data" -U "$PG_USER" --pwfile="$dir/pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  rm -f "$dir/pwfile"
  pg_start || { tail -20 "$dir/postgres.log" >&2; die "postgres did not start"; }
  wait_for "postgres on 127.0.0.1:$PG_PORT" "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" \
    || die "postgres not answering on 127.0.0.1:$PG_PORT (log: $dir/postgres.log)"
  as_pg "$bin/createdb" -h "$dir" -p "$PG_PORT" -U "$PG_USER" loraqueue
}

# Starts the cluster in $PG_DIR on $PG_PORT and sets PG_PID. Throwaway data: durability off for speed; enough
# connections for parallel test pools.
pg_start() {
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 60 start -o \
    "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    >/dev/null || return 1
  PG_PID=$(head -1 "$PG_DIR/data/postmaster.pid")
}

stop_postgres() {
  [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ] || return 0
  local pid=${PG_PID:-$(head -1 "$PG_DIR/data/postmaster.pid" 2>/dev/null || true)}
  owned "$pid" "$PG_DIR/data" || return 0
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1 && say "postgres stopped" \
    || stop_pid postgres "$pid" "$PG_DIR/data"
}

# ---------------------------------------------------------------- redis

start_redis() {
  local dir=$STATE_DIR/redis
  mkdir -p "$dir"
  REDIS_PORT=${1:-$(free_port)}
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$dir" --save '' --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
    || die "redis-server failed to start (log: $dir/redis.log)"
  wait_for "redis on 127.0.0.1:$REDIS_PORT" redis_ping || die "redis not answering on 127.0.0.1:$REDIS_PORT (log: $dir/redis.log)"
  REDIS_PID=$(cat "$dir/redis.pid")
}

redis_ping() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

# Down: SIGKILL (a crash; nothing is saved, nothing is configured to be). Up: a fresh, empty server on the same port.
redis_down() {
  kill -0 "$REDIS_PID" 2>/dev/null || die "redis (pid $REDIS_PID) is not running"
  kill -KILL "$REDIS_PID"
  local i
  for i in $(seq 50); do kill -0 "$REDIS_PID" 2>/dev/null || break; sleep 0.1; done
  say "redis down (SIGKILL pid $REDIS_PID, 127.0.0.1:$REDIS_PORT)"
}

redis_up() {
  redis_ping && die "redis already answers on 127.0.0.1:$REDIS_PORT"
  STATE_DIR=$LORAQUEUE_SERVICES_DIR   # the directory `start` made (recorded in the env file)
  start_redis "$REDIS_PORT"
  sed -i "s/^REDIS_PID=[0-9]* /REDIS_PID=$REDIS_PID /" "$ENV_FILE"   # status and stop use the recorded pid
  say "redis up, empty (pid $REDIS_PID, 127.0.0.1:$REDIS_PORT)"
}

# ---------------------------------------------------------------- rabbitmq

# One node (the default) or a cluster of $RABBIT_COUNT nodes on 127.0.0.1. Node k (1-based) has its own node name
# (loraqueue-<amqp port>@localhost), AMQP port, distribution port and directory ($STATE_DIR/rabbitmq for node 1,
# $STATE_DIR/rabbitmq-k for the others); all share one epmd of our own (on its own port) and one Erlang cookie generated
# at start and written into each node's HOME (its directory), never the user's ~/.erlang.cookie. Per-node values live in
# the arrays N_NAME, N_PORT, N_DIST, N_DIR, N_PID (the launcher) and N_BEAM (the Erlang VM), index k-1.
RABBIT_COUNT=${LORAQUEUE_RABBITMQ_NODES:-1}
N_NAME=() N_PORT=() N_DIST=() N_DIR=() N_PID=() N_BEAM=()

# Everything node k and rabbitmqctl must agree on: the shared epmd port, node name, config, and a HOME of its own
# that holds the cluster's cookie. Call in a subshell.
export_rabbit_env() {
  local i=$(($1 - 1))
  local dir=${N_DIR[$i]}
  export HOME="$dir" ERL_EPMD_PORT="$EPMD_PORT" ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_NODENAME="${N_NAME[$i]}" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="${N_PORT[$i]}" \
    RABBITMQ_DIST_PORT="${N_DIST[$i]}" RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf" \
    RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config" \
    RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_PID_FILE="$dir/rabbit.pid" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+sbwt none +sbwtdcpu none +sbwtdio none"   # no busy-waiting on a shared machine
}

# rabbitmqctl against node k: rabbitmqctl_ k ARGS…
rabbitmqctl_() { local k=$1; shift; ( export_rabbit_env "$k"; exec /usr/lib/rabbitmq/bin/rabbitmqctl -q "$@" ); }

node_alive() { owned "${N_BEAM[$(($1 - 1))]:-}" "-home ${N_DIR[$(($1 - 1))]} "; }
amqp_open() { (exec 3<>"/dev/tcp/127.0.0.1/${N_PORT[$(($1 - 1))]}") 2>/dev/null; }

# Launches node k's server (the launcher: a shell that relays signals, and the Erlang VM it starts, pid in rabbit.pid)
# and waits until the broker application runs. A node that was a cluster member rejoins by itself.
launch_rabbit_node() {
  local k=$1 i=$(($1 - 1))
  local dir=${N_DIR[$i]}
  rm -f "$dir/rabbit.pid"
  ( export_rabbit_env "$k"; exec setsid /usr/lib/rabbitmq/bin/rabbitmq-server ) </dev/null >>"$dir/log/startup.log" 2>&1 &
  N_PID[$i]=$!
  wait_for "rabbitmq node ${N_NAME[$i]}" rabbitmqctl_ "$k" await_startup --timeout 5 \
    || { tail -30 "$dir/log/startup.log" >&2; die "rabbitmq node ${N_NAME[$i]} did not start (logs: $dir/log)"; }
  N_BEAM[$i]=$(cat "$dir/rabbit.pid")
}

start_rabbitmq() {
  [[ "$RABBIT_COUNT" =~ ^[1-9]$ ]] || die "--rabbitmq-nodes takes 1 to 9 (got '$RABBIT_COUNT')"
  RABBIT_PASSWORD=$(random_secret)
  EPMD_PORT=$(free_port)
  local cookie k i dir
  cookie=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n' | tr 'a-f0-9' 'A-FQ-Z')
  for k in $(seq "$RABBIT_COUNT"); do
    i=$((k - 1))
    dir=$STATE_DIR/rabbitmq; [ "$k" = 1 ] || dir=$STATE_DIR/rabbitmq-$k
    N_DIR[$i]=$dir N_PORT[$i]=$(free_port) N_DIST[$i]=$(free_port)
    N_NAME[$i]="loraqueue-${N_PORT[$i]}@localhost"
    mkdir -p "$dir/mnesia" "$dir/log"
    ( umask 077; printf '%s' "$cookie" >"$dir/.erlang.cookie" ); chmod 400 "$dir/.erlang.cookie"
    : >"$dir/rabbitmq-env.conf"
    echo '[].' >"$dir/enabled_plugins"
    echo '[].' >"$dir/advanced.config"
    cat >"$dir/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:${N_PORT[$i]}
loopback_users = none
disk_free_limit.absolute = 50MB
log.file.level = warning
# A node cut off from the majority pauses instead of serving a split brain (quorum queues need a majority anyway).
cluster_partition_handling = pause_minority
EOF
  done
  # An epmd of our own on its own port: never clashes with (or kills) another node's epmd. Shared by our nodes.
  setsid epmd -port "$EPMD_PORT" -address 127.0.0.1 </dev/null >"$STATE_DIR/epmd.log" 2>&1 &
  EPMD_PID=$!
  wait_for "epmd on 127.0.0.1:$EPMD_PORT" env ERL_EPMD_PORT="$EPMD_PORT" epmd -names \
    || die "epmd did not start on 127.0.0.1:$EPMD_PORT"

  # One node after another (a small machine): the first and its user, then each further node joins the first.
  launch_rabbit_node 1
  rabbitmqctl_ 1 add_user "$RABBIT_USER" "$RABBIT_PASSWORD" >/dev/null
  rabbitmqctl_ 1 set_user_tags "$RABBIT_USER" administrator >/dev/null
  rabbitmqctl_ 1 set_permissions -p / "$RABBIT_USER" '.*' '.*' '.*' >/dev/null
  rabbitmqctl_ 1 delete_user guest >/dev/null 2>&1 || true
  for k in $(seq 2 "$RABBIT_COUNT"); do
    i=$((k - 1))
    launch_rabbit_node "$k"
    # (join_cluster logs transient errors while the node's tables move; kept in the node's log dir)
    { rabbitmqctl_ "$k" stop_app && rabbitmqctl_ "$k" join_cluster "${N_NAME[0]}" && rabbitmqctl_ "$k" start_app; } \
      >>"${N_DIR[$i]}/log/join.log" 2>&1 || { tail -20 "${N_DIR[$i]}/log/join.log" >&2; die "node ${N_NAME[$i]} could not join ${N_NAME[0]}"; }
    wait_for "rabbitmq node ${N_NAME[$i]} joined ${N_NAME[0]}" rabbitmqctl_ "$k" await_startup --timeout 5 \
      || die "node ${N_NAME[$i]} did not start after joining"
  done
  for k in $(seq "$RABBIT_COUNT"); do
    wait_for "rabbitmq amqp on 127.0.0.1:${N_PORT[$((k - 1))]}" amqp_open "$k" \
      || die "rabbitmq not listening on 127.0.0.1:${N_PORT[$((k - 1))]}"
  done
  if [ "$RABBIT_COUNT" -gt 1 ]; then
    local running
    running=$(rabbitmqctl_ 1 eval 'length(rabbit_nodes:all_running()).' 2>/dev/null || echo '?')
    [ "$running" = "$RABBIT_COUNT" ] || die "the cluster has $running running nodes, not $RABBIT_COUNT"
    say "rabbitmq cluster of $RABBIT_COUNT nodes: ${N_NAME[*]}"
  fi
}

stop_rabbit_node() {
  local k=$1 i=$(($1 - 1))
  if node_alive "$k"; then
    rabbitmqctl_ "$k" stop "${N_DIR[$i]}/rabbit.pid" >/dev/null 2>&1 && say "rabbitmq ${N_NAME[$i]} stopped"
    stop_pid "rabbitmq (erlang vm) ${N_NAME[$i]}" "${N_BEAM[$i]}" "-home ${N_DIR[$i]} "
  fi
  stop_pid "rabbitmq launcher" "${N_PID[$i]:-}" "rabbitmq-server"
}

stop_rabbitmq() {
  [ ${#N_DIR[@]} -gt 0 ] || return 0
  local k
  for k in $(seq "${#N_DIR[@]}" -1 1); do stop_rabbit_node "$k"; done
  stop_pid epmd "${EPMD_PID:-}" "-port $EPMD_PORT"
}

# A node of the cluster, as its number: from a number (1…N), a node name, or "leader:QUEUE" / "leader:QUEUE@VHOST" — the
# node leading that quorum queue now, as the first running node reports it.
resolve_node() {
  local what=${1:-1} k queue vhost leader
  case "$what" in
    leader:*)
      queue=${what#leader:}; vhost=/
      case "$queue" in *@*) vhost=${queue#*@}; queue=${queue%@*} ;; esac
      leader=$(queue_leader "$queue" "$vhost") || die "no running node knows a leader of queue '$queue' in vhost '$vhost'"
      what=$leader ;;
  esac
  for k in $(seq "${#N_NAME[@]}"); do
    if [ "$what" = "$k" ] || [ "$what" = "${N_NAME[$((k - 1))]}" ]; then echo "$k"; return; fi
  done
  die "no rabbitmq node '$what' (nodes: 1-${#N_NAME[@]} or ${N_NAME[*]})"
}

# The node name leading quorum queue $1 in vhost $2, asked of the first node that answers.
queue_leader() {
  local queue=$1 vhost=$2 k leader
  for k in $(seq "${#N_NAME[@]}"); do
    node_alive "$k" && amqp_open "$k" || continue
    leader=$(rabbitmqctl_ "$k" list_queues -p "$vhost" name leader --no-table-headers 2>/dev/null \
             | awk -v q="$queue" -F'\t' '$1 == q { print $2 }') || continue
    [ -n "$leader" ] && { echo "$leader"; return 0; }
  done
  return 1
}

# Records the nodes' pids in the env file after a restart (status and stop check them).
record_rabbit_pids() {
  sed -i -e "s/^RABBIT_PIDS=.*/RABBIT_PIDS='${N_PID[*]}'/" -e "s/^RABBIT_BEAM_PIDS=.*/RABBIT_BEAM_PIDS='${N_BEAM[*]}'/" \
    -e "s/^RABBIT_DIR=\(.*\) RABBIT_PID=[0-9]* RABBIT_BEAM_PID=[0-9]* /RABBIT_DIR=\1 RABBIT_PID=${N_PID[0]} RABBIT_BEAM_PID=${N_BEAM[0]} /" \
    "$ENV_FILE"
}

rabbit_down() {   # the broker application stops inside its running node: connections close, the listener goes
  local k; k=$(resolve_node "${1:-1}")
  rabbitmqctl_ "$k" stop_app >/dev/null || die "rabbitmq ${N_NAME[$((k - 1))]} did not stop"
  say "rabbitmq down: node $k ${N_NAME[$((k - 1))]} (127.0.0.1:${N_PORT[$((k - 1))]})"
}

rabbit_kill() {   # SIGKILL of the node's Erlang VM: a crash, nothing flushed, no goodbye to clients or peers
  local k i; k=$(resolve_node "${1:-1}"); i=$((k - 1))
  node_alive "$k" || die "rabbitmq ${N_NAME[$i]} is not running"
  kill -KILL "${N_BEAM[$i]}"
  for _ in $(seq 40); do node_alive "$k" || break; sleep 0.25; done
  say "rabbitmq killed: node $k ${N_NAME[$i]} (127.0.0.1:${N_PORT[$i]}, pid ${N_BEAM[$i]})"
  echo "$k ${N_NAME[$i]} 127.0.0.1:${N_PORT[$i]}"
}

rabbit_up() {   # after `down`: start the application again; after `kill`: start the node again (it rejoins the cluster)
  local k i targets
  if [ -n "${1:-}" ]; then targets=$(resolve_node "$1"); else targets=$(seq "${#N_NAME[@]}"); fi
  for k in $targets; do
    i=$((k - 1))
    if node_alive "$k"; then
      amqp_open "$k" && continue
      rabbitmqctl_ "$k" start_app >/dev/null || die "rabbitmq ${N_NAME[$i]} did not start"
    else
      stop_pid "rabbitmq launcher" "${N_PID[$i]:-}" "rabbitmq-server"
      launch_rabbit_node "$k"
      record_rabbit_pids
    fi
    wait_for "rabbitmq amqp on 127.0.0.1:${N_PORT[$i]}" amqp_open "$k" || die "rabbitmq not listening on 127.0.0.1:${N_PORT[$i]}"
  done
}

# One line per node: number, node name, AMQP address, state (up | app-stopped | dead).
rabbit_nodes() {
  local k i state
  for k in $(seq "${#N_NAME[@]}"); do
    i=$((k - 1))
    if ! node_alive "$k"; then state=dead; elif amqp_open "$k"; then state=up; else state=app-stopped; fi
    echo "$k ${N_NAME[$i]} 127.0.0.1:${N_PORT[$i]} $state"
  done
}

# ---------------------------------------------------------------- faults

# Stops one service the way an outage does — clients see refused connections — keeping its port, data and
# queued messages, so `up` brings back the same server. Postgres: a fast shutdown (sessions end with 57P01);
# RabbitMQ: the broker application stops inside its running node (connections close, the listener goes).
# `kill rabbitmq NODE` SIGKILLs a node instead: a crash.
service_down() {
  load_state || die "nothing recorded in $ENV_FILE: run scripts/services.sh start"
  case "${1:-}" in
    postgres) as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop >/dev/null || die "postgres did not stop"
              say "postgres down (127.0.0.1:$PG_PORT)" ;;
    rabbitmq) rabbit_down "${2:-1}" ;;
    redis) redis_down ;;
    *) die "down takes postgres, redis or rabbitmq [NODE]" ;;
  esac
}

service_up() {
  load_state || die "nothing recorded in $ENV_FILE: run scripts/services.sh start"
  case "${1:-}" in
    postgres)
      pg_start || { tail -20 "$PG_DIR/postgres.log" >&2; die "postgres did not start"; }
      sed -i "s/ PG_PID=[0-9]* / PG_PID=$PG_PID /" "$ENV_FILE"   # status checks the recorded pid
      wait_for "postgres on 127.0.0.1:$PG_PORT" "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" || die "postgres not answering" ;;
    rabbitmq) rabbit_up "${2:-}" ;;
    redis) redis_up ;;
    *) die "up takes postgres, redis or rabbitmq [NODE]" ;;
  esac
}

# ---------------------------------------------------------------- state

random_secret() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }

write_env() {
  mkdir -p "$(dirname "$ENV_FILE")"
  local tmp=$ENV_FILE.tmp hosts="" hosts_line="" k
  for k in "${N_PORT[@]}"; do hosts+="${hosts:+,}127.0.0.1:$k"; done
  # Every node, for a cluster only: a single node's env stays HOST/PORT alone, as before clusters.
  [ ${#N_PORT[@]} -gt 1 ] && hosts_line="export LORAQUEUE__RABBITMQ__HOSTS=$hosts"
  cat >"$tmp" <<EOF
# Written by scripts/services.sh start; removed by scripts/services.sh stop.
export LORAQUEUE__RABBITMQ__HOST=127.0.0.1
export LORAQUEUE__RABBITMQ__PORT=${N_PORT[0]:-0}
$hosts_line
export LORAQUEUE__RABBITMQ__USERNAME=$RABBIT_USER
export LORAQUEUE__RABBITMQ__PASSWORD=$RABBIT_PASSWORD
export LORAQUEUE__POSTGRES__CONNECTIONSTRING='Host=127.0.0.1;Port=$PG_PORT;Database=loraqueue;Username=$PG_USER;Password=$PG_PASSWORD'
export LORAQUEUE__REDIS__CONFIGURATION=127.0.0.1:$REDIS_PORT
export MASSTRANSIT_USAGE_TELEMETRY=false
# What stop needs (not configuration):
LORAQUEUE_SERVICES_DIR='$STATE_DIR'
PG_BIN='$PG_BIN' PG_DIR='$PG_DIR' PG_PID=$PG_PID PG_PORT=$PG_PORT PG_OS_USER=$PG_OS_USER
REDIS_PID=$REDIS_PID REDIS_PORT=$REDIS_PORT
EPMD_PORT=$EPMD_PORT EPMD_PID=$EPMD_PID
# RabbitMQ node 1 (what rabbitmqctl needs: node name, epmd port, HOME = RABBIT_DIR with the cookie), then every node:
RABBIT_DIR='${N_DIR[0]:-}' RABBIT_PID=${N_PID[0]:-} RABBIT_BEAM_PID=${N_BEAM[0]:-} RABBIT_NODE=${N_NAME[0]:-} RABBIT_PORT=${N_PORT[0]:-0} RABBIT_DIST_PORT=${N_DIST[0]:-0}
RABBIT_NODES='${N_NAME[*]}'
RABBIT_PORTS='${N_PORT[*]}'
RABBIT_DIST_PORTS='${N_DIST[*]}'
RABBIT_DIRS='${N_DIR[*]}'
RABBIT_PIDS='${N_PID[*]}'
RABBIT_BEAM_PIDS='${N_BEAM[*]}'
EOF
  mv "$tmp" "$ENV_FILE"
}

load_state() {
  [ -f "$ENV_FILE" ] || return 1
  . "$ENV_FILE"
  read -ra N_NAME <<<"${RABBIT_NODES:-}"
  read -ra N_PORT <<<"${RABBIT_PORTS:-}"
  read -ra N_DIST <<<"${RABBIT_DIST_PORTS:-}"
  read -ra N_DIR <<<"${RABBIT_DIRS:-}"
  read -ra N_PID <<<"${RABBIT_PIDS:-}"
  read -ra N_BEAM <<<"${RABBIT_BEAM_PIDS:-}"
  return 0
}

is_up() {   # run in a subshell: it loads the recorded state
  load_state || return 1
  [ ${#N_NAME[@]} -gt 0 ] || return 1
  owned "$PG_PID" "$PG_DIR/data" && owned "$REDIS_PID" ":$REDIS_PORT" \
    && "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && redis_ping || return 1
  local k
  for k in $(seq "${#N_NAME[@]}"); do node_alive "$k" && amqp_open "$k" || return 1; done
}

stop_all() {
  load_state || { [ "${1:-}" = quiet ] || say "nothing recorded in $ENV_FILE; nothing to stop"; return 0; }
  stop_rabbitmq
  stop_pid redis "${REDIS_PID:-}" ":${REDIS_PORT:-}"
  stop_postgres
  case "${LORAQUEUE_SERVICES_DIR:-}" in /tmp/loraqueue-services.*|"${TMPDIR:-/tmp}"/loraqueue-services.*) rm -rf "$LORAQUEUE_SERVICES_DIR" ;; esac
  rm -f "$ENV_FILE"
}

start_all() {
  if ( is_up ); then
    local running
    running=$(load_state; echo "${#N_NAME[@]}")
    [ "$running" = "$RABBIT_COUNT" ] || die "already running with $running rabbitmq node(s), not $RABBIT_COUNT: scripts/services.sh stop first"
    say "already running (env: $ENV_FILE)"; return 0
  fi
  ( stop_all quiet ) || true   # clear whatever a previous run left half-started
  install_missing
  STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/loraqueue-services.XXXXXX")
  chmod 755 "$STATE_DIR"
  # A failure part-way stops what was already started; the full env file is written only at the end.
  trap 'on_start_failure' EXIT
  start_postgres
  start_redis
  start_rabbitmq
  trap - EXIT
  write_env
  say "ready; env file: $ENV_FILE   (source it, or: eval \"\$(scripts/services.sh env)\")"
}

# On a failed start: record what exists, then stop exactly that.
on_start_failure() {
  local status=$?
  [ "$status" = 0 ] && return
  say "start failed; stopping what was started"
  set +eu
  : "${PG_BIN:=} ${PG_DIR:=} ${PG_PID:=} ${PG_PORT:=0} ${PG_OS_USER:=$(id -un)} ${PG_PASSWORD:=}"
  : "${REDIS_PID:=$(cat "$STATE_DIR/redis/redis.pid" 2>/dev/null)} ${REDIS_PORT:=0}"
  : "${RABBIT_PASSWORD:=} ${EPMD_PORT:=0} ${EPMD_PID:=}"
  # A node whose VM started but whose wait failed: its pid file names the VM.
  local i
  for i in "${!N_DIR[@]}"; do
    [ -n "${N_BEAM[$i]:-}" ] || N_BEAM[$i]=$(cat "${N_DIR[$i]}/rabbit.pid" 2>/dev/null || echo 0)
    [ -n "${N_PID[$i]:-}" ] || N_PID[$i]=0
  done
  write_env
  stop_all
  exit "$status"
}

usage() {
  echo "usage: $0 start [--rabbitmq-nodes N] | stop | env | status | down <service> [NODE] | up <service> [NODE] | restart redis" >&2
  echo "       $0 kill rabbitmq NODE | nodes | leader QUEUE [VHOST]      (NODE: 1…N, a node name, or leader:QUEUE[@VHOST])" >&2
  exit 2
}

case "${1:-}" in
  start)
    shift
    while [ $# -gt 0 ]; do
      case "$1" in
        --rabbitmq-nodes) RABBIT_COUNT=${2:-}; shift 2 || usage ;;
        --rabbitmq-nodes=*) RABBIT_COUNT=${1#*=}; shift ;;
        *) usage ;;
      esac
    done
    start_all ;;
  stop) stop_all ;;
  env) [ -f "$ENV_FILE" ] || die "no env file at $ENV_FILE: run scripts/services.sh start"; cat "$ENV_FILE" ;;
  status) if ( is_up ); then say "running (env: $ENV_FILE)"; else say "not running"; exit 1; fi ;;
  down) service_down "${2:-}" "${3:-}" ;;
  up) service_up "${2:-}" "${3:-}" ;;
  restart) [ "${2:-}" = redis ] || die "restart takes redis (killed, then started again empty on its port)"
           service_down redis && service_up redis ;;
  kill) [ "${2:-}" = rabbitmq ] || die "kill takes rabbitmq NODE"
        load_state || die "nothing recorded in $ENV_FILE: run scripts/services.sh start"
        rabbit_kill "${3:-1}" ;;
  nodes) load_state || die "nothing recorded in $ENV_FILE: run scripts/services.sh start"; rabbit_nodes ;;
  leader) load_state || die "nothing recorded in $ENV_FILE: run scripts/services.sh start"
          [ -n "${2:-}" ] || usage
          k=$(resolve_node "leader:$2@${3:-/}"); echo "$k ${N_NAME[$((k - 1))]} 127.0.0.1:${N_PORT[$((k - 1))]}" ;;
  *) usage ;;
esac
