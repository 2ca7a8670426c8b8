#!/usr/bin/env bash
# RabbitMQ, Redis and PostgreSQL for tests and local runs, started from Debian's packages on
# 127.0.0.1 on free ports, with throwaway data under a temp dir.
#
#   scripts/services.sh start   install what is missing, start all three, write the env file
#   scripts/services.sh stop    stop exactly the processes `start` started, remove their data
#   scripts/services.sh env     print the env file (eval "$(scripts/services.sh env)")
#   scripts/services.sh status  exit 0 when the recorded services are all up
#   scripts/services.sh down postgres|rabbitmq   stop one in place (port and data kept): a fault drill
#   scripts/services.sh up postgres|rabbitmq     start it again after `down`
#
# The env file (default .cache/services/services.env, or $LORAQUEUE_SERVICES_ENV) exports the
# keys the services read (LORAQUEUE__RABBITMQ__HOST …) and records the PIDs and paths to stop.
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
  REDIS_PORT=$(free_port)
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$dir" --save '' --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
    || die "redis-server failed to start (log: $dir/redis.log)"
  wait_for "redis on 127.0.0.1:$REDIS_PORT" redis_ping || die "redis not answering on 127.0.0.1:$REDIS_PORT (log: $dir/redis.log)"
  REDIS_PID=$(cat "$dir/redis.pid")
}

redis_ping() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

# ---------------------------------------------------------------- rabbitmq

# Everything the node and rabbitmqctl must agree on: our own epmd port, node name, config, and a
# HOME of its own so the Erlang cookie is private to this instance. Call in a subshell.
export_rabbit_env() {
  local dir=$RABBIT_DIR
  export HOME="$dir" ERL_EPMD_PORT="$EPMD_PORT" ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_NODENAME="$RABBIT_NODE" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$RABBIT_PORT" \
    RABBITMQ_DIST_PORT="$RABBIT_DIST_PORT" RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf" \
    RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config" \
    RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_PID_FILE="$dir/rabbit.pid" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
}

rabbitmqctl_() { ( export_rabbit_env; exec /usr/lib/rabbitmq/bin/rabbitmqctl -q "$@" ); }

start_rabbitmq() {
  RABBIT_DIR=$STATE_DIR/rabbitmq
  mkdir -p "$RABBIT_DIR/mnesia" "$RABBIT_DIR/log"
  RABBIT_PORT=$(free_port)
  RABBIT_DIST_PORT=$(free_port)
  EPMD_PORT=$(free_port)
  RABBIT_NODE="loraqueue-$RABBIT_PORT@localhost"
  RABBIT_PASSWORD=$(random_secret)
  : >"$RABBIT_DIR/rabbitmq-env.conf"
  echo '[].' >"$RABBIT_DIR/enabled_plugins"
  echo '[].' >"$RABBIT_DIR/advanced.config"
  cat >"$RABBIT_DIR/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$RABBIT_PORT
loopback_users = none
disk_free_limit.absolute = 50MB
log.file.level = warning
EOF
  # An epmd of our own on its own port: never clashes with (or kills) another node's epmd.
  setsid epmd -port "$EPMD_PORT" -address 127.0.0.1 </dev/null >"$RABBIT_DIR/log/epmd.log" 2>&1 &
  EPMD_PID=$!
  wait_for "epmd on 127.0.0.1:$EPMD_PORT" env ERL_EPMD_PORT="$EPMD_PORT" epmd -names \
    || die "epmd did not start on 127.0.0.1:$EPMD_PORT"

  # The launcher (a shell that relays signals) and the Erlang VM it starts (pid in rabbit.pid).
  ( export_rabbit_env; exec setsid /usr/lib/rabbitmq/bin/rabbitmq-server ) </dev/null >"$RABBIT_DIR/log/startup.log" 2>&1 &
  RABBIT_PID=$!
  wait_for "rabbitmq node $RABBIT_NODE" rabbitmqctl_ await_startup --timeout 5 \
    || { tail -30 "$RABBIT_DIR/log/startup.log" >&2; die "rabbitmq did not start (logs: $RABBIT_DIR/log)"; }
  RABBIT_BEAM_PID=$(cat "$RABBIT_DIR/rabbit.pid")
  rabbitmqctl_ add_user "$RABBIT_USER" "$RABBIT_PASSWORD" >/dev/null
  rabbitmqctl_ set_user_tags "$RABBIT_USER" administrator >/dev/null
  rabbitmqctl_ set_permissions -p / "$RABBIT_USER" '.*' '.*' '.*' >/dev/null
  rabbitmqctl_ delete_user guest >/dev/null 2>&1 || true
  wait_for "rabbitmq amqp on 127.0.0.1:$RABBIT_PORT" bash -c "exec 3<>/dev/tcp/127.0.0.1/$RABBIT_PORT" \
    || die "rabbitmq not listening on 127.0.0.1:$RABBIT_PORT"
}

stop_rabbitmq() {
  [ -n "${RABBIT_DIR:-}" ] || return 0
  local beam=${RABBIT_BEAM_PID:-$(cat "$RABBIT_DIR/rabbit.pid" 2>/dev/null || true)}
  if owned "$beam" "-home $RABBIT_DIR "; then
    rabbitmqctl_ stop "$RABBIT_DIR/rabbit.pid" >/dev/null 2>&1 && say "rabbitmq stopped"
    stop_pid "rabbitmq (erlang vm)" "$beam" "-home $RABBIT_DIR "
  fi
  stop_pid "rabbitmq launcher" "${RABBIT_PID:-}" "rabbitmq-server"
  stop_pid epmd "${EPMD_PID:-}" "-port $EPMD_PORT"
}

# ---------------------------------------------------------------- faults

# Stops one service the way an outage does — clients see refused connections — keeping its port, data and
# queued messages, so `up` brings back the same server. Postgres: a fast shutdown (sessions end with 57P01);
# RabbitMQ: the broker application stops inside its running node (connections close, the listener goes).
service_down() {
  load_state || die "nothing recorded in $ENV_FILE: run scripts/services.sh start"
  case "${1:-}" in
    postgres) as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop >/dev/null || die "postgres did not stop"
              say "postgres down (127.0.0.1:$PG_PORT)" ;;
    rabbitmq) rabbitmqctl_ stop_app >/dev/null || die "rabbitmq did not stop"
              say "rabbitmq down (127.0.0.1:$RABBIT_PORT)" ;;
    *) die "down takes postgres or rabbitmq" ;;
  esac
}

service_up() {
  load_state || die "nothing recorded in $ENV_FILE: run scripts/services.sh start"
  case "${1:-}" in
    postgres)
      pg_start || { tail -20 "$PG_DIR/postgres.log" >&2; die "postgres did not start"; }
      sed -i "s/ PG_PID=[0-9]* / PG_PID=$PG_PID /" "$ENV_FILE"   # status checks the recorded pid
      wait_for "postgres on 127.0.0.1:$PG_PORT" "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" || die "postgres not answering" ;;
    rabbitmq)
      rabbitmqctl_ start_app >/dev/null || die "rabbitmq did not start"
      wait_for "rabbitmq amqp on 127.0.0.1:$RABBIT_PORT" bash -c "exec 3<>/dev/tcp/127.0.0.1/$RABBIT_PORT" \
        || die "rabbitmq not listening on 127.0.0.1:$RABBIT_PORT" ;;
    *) die "up takes postgres or rabbitmq" ;;
  esac
}

# ---------------------------------------------------------------- state

random_secret() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }

write_env() {
  mkdir -p "$(dirname "$ENV_FILE")"
  local tmp=$ENV_FILE.tmp
  cat >"$tmp" <<EOF
# Written by scripts/services.sh start; removed by scripts/services.sh stop.
export LORAQUEUE__RABBITMQ__HOST=127.0.0.1
export LORAQUEUE__RABBITMQ__PORT=$RABBIT_PORT
export LORAQUEUE__RABBITMQ__USERNAME=$RABBIT_USER
export LORAQUEUE__RABBITMQ__PASSWORD=$RABBIT_PASSWORD
export LORAQUEUE__POSTGRES__CONNECTIONSTRING='Host=127.0.0.1;Port=$PG_PORT;Database=loraqueue;Username=$PG_USER;Password=$PG_PASSWORD'
export LORAQUEUE__REDIS__CONFIGURATION=127.0.0.1:$REDIS_PORT
export MASSTRANSIT_USAGE_TELEMETRY=false
# What stop needs (not configuration):
LORAQUEUE_SERVICES_DIR='$STATE_DIR'
PG_BIN='$PG_BIN' PG_DIR='$PG_DIR' PG_PID=$PG_PID PG_PORT=$PG_PORT PG_OS_USER=$PG_OS_USER
REDIS_PID=$REDIS_PID REDIS_PORT=$REDIS_PORT
RABBIT_DIR='$RABBIT_DIR' RABBIT_PID=$RABBIT_PID RABBIT_BEAM_PID=$RABBIT_BEAM_PID RABBIT_NODE=$RABBIT_NODE RABBIT_PORT=$RABBIT_PORT
RABBIT_DIST_PORT=$RABBIT_DIST_PORT EPMD_PORT=$EPMD_PORT EPMD_PID=$EPMD_PID
EOF
  mv "$tmp" "$ENV_FILE"
}

load_state() { [ -f "$ENV_FILE" ] && . "$ENV_FILE"; }

is_up() {   # run in a subshell: it loads the recorded state
  load_state || return 1
  owned "$PG_PID" "$PG_DIR/data" && owned "$REDIS_PID" ":$REDIS_PORT" && owned "$RABBIT_BEAM_PID" "-home $RABBIT_DIR " \
    && "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && redis_ping \
    && (exec 3<>"/dev/tcp/127.0.0.1/$RABBIT_PORT") 2>/dev/null
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
  if ( is_up ); then say "already running (env: $ENV_FILE)"; return 0; fi
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
  : "${RABBIT_DIR:=} ${RABBIT_PID:=} ${RABBIT_BEAM_PID:=} ${RABBIT_NODE:=} ${RABBIT_PORT:=0} ${RABBIT_DIST_PORT:=0} ${RABBIT_PASSWORD:=}"
  : "${EPMD_PORT:=0} ${EPMD_PID:=}"
  write_env
  stop_all
  exit "$status"
}

case "${1:-}" in
  start) start_all ;;
  stop) stop_all ;;
  env) [ -f "$ENV_FILE" ] || die "no env file at $ENV_FILE: run scripts/services.sh start"; cat "$ENV_FILE" ;;
  status) if ( is_up ); then say "running (env: $ENV_FILE)"; else say "not running"; exit 1; fi ;;
  down) service_down "${2:-}" ;;
  up) service_up "${2:-}" ;;
  *) echo "usage: $0 start|stop|env|status|down <service>|up <service>" >&2; exit 2 ;;
esac
