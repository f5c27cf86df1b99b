#!/usr/bin/env bash
# Local single-node Apache Kafka 4.x broker (KRaft, combined broker+controller), no Docker.
#
#   deploy/kafka/kafka.sh fetch    download the broker jars into the cache (once)
#   deploy/kafka/kafka.sh start    start in the background and wait until ready
#   deploy/kafka/kafka.sh stop     SIGTERM, wait up to 30 s, then SIGKILL
#   deploy/kafka/kafka.sh status   exit 0 if running
#   deploy/kafka/kafka.sh cluster-start|cluster-stop|cluster-status
#                                  the same for a cluster of SALESFLOOR_KAFKA_NODES (default 3) KRaft nodes, each
#                                  broker+controller: node i on PORT+i-1 and CONTROLLER_PORT+i-1, data in
#                                  DATA/node-i, one cluster id, replication factor 3 (or the node count) and
#                                  min.insync.replicas 2 for the broker's own topics and as defaults;
#                                  cluster-start also restarts a node that was stopped or killed
#
# Environment:
#   SALESFLOOR_KAFKA_PORT             PLAINTEXT port on 127.0.0.1 (default 9092)
#   SALESFLOOR_KAFKA_CONTROLLER_PORT  KRaft controller port (default PORT+1000)
#   SALESFLOOR_KAFKA_DATA             data dir: config, pid, log, topic data (default <repo>/var/kafka)
#   SALESFLOOR_KAFKA_HEAP             JVM heap options (default "-Xmx512m -Xms256m")
#   SALESFLOOR_KAFKA_JVM_OPTS         extra JVM options (default empty)
#   SALESFLOOR_KAFKA_START_TIMEOUT    seconds to wait for readiness (default 90)
#   SALESFLOOR_CACHE                  jar cache root (default ~/.cache/salesfloor)
#   KAFKA_VERSION                     org.apache.kafka:kafka_2.13 version (default 4.1.1)
#   (set by cluster-start for each node: SALESFLOOR_KAFKA_NODE_ID, _QUORUM, _CLUSTER_ID, _REPLICATION)
#
# Optional secured listener (off unless SALESFLOOR_KAFKA_SASL_SSL_PORT is set; PLAINTEXT stays for admin use):
#   SALESFLOOR_KAFKA_SASL_SSL_PORT    SASL_SSL (SCRAM-SHA-512) port
#   SALESFLOOR_KAFKA_SASL_SSL_HOST    address it binds and advertises (default 127.0.0.1; must be in the cert)
#   SALESFLOOR_KAFKA_TLS_DIR          made by the caller: keystore.p12 (or keystore.jks) + keystore.password,
#                                     optional key.password, truststore.p12 (or .jks) + truststore.password
#   SALESFLOOR_KAFKA_SCRAM_USER       SCRAM-SHA-512 user created when the storage is formatted (default salesfloor)
#   SALESFLOOR_KAFKA_SCRAM_PASSWORD_FILE  its password (default <TLS_DIR>/scram.password; [A-Za-z0-9._~-], 8+)
#   The user is only added on the first start of a data dir (kafka-storage format --add-scram).
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd -- "$SCRIPT_DIR/../.." && pwd -P)"

KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
CACHE_ROOT="${SALESFLOOR_CACHE:-$HOME/.cache/salesfloor}"
LIB_DIR="$CACHE_ROOT/kafka-$KAFKA_VERSION/lib"
PORT="${SALESFLOOR_KAFKA_PORT:-9092}"
if [[ -n "${SALESFLOOR_KAFKA_CONTROLLER_PORT:-}" ]]; then
    CONTROLLER_PORT="$SALESFLOOR_KAFKA_CONTROLLER_PORT"
elif (( PORT + 1000 <= 65535 )); then
    CONTROLLER_PORT=$(( PORT + 1000 ))
else
    CONTROLLER_PORT=$(( PORT - 1000 ))
fi
DATA_DIR="${SALESFLOOR_KAFKA_DATA:-$REPO_ROOT/var/kafka}"
HEAP_OPTS="${SALESFLOOR_KAFKA_HEAP:--Xmx512m -Xms256m}"
EXTRA_JVM_OPTS="${SALESFLOOR_KAFKA_JVM_OPTS:-}"
START_TIMEOUT="${SALESFLOOR_KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT=30
SASL_SSL_PORT="${SALESFLOOR_KAFKA_SASL_SSL_PORT:-}"
SASL_SSL_HOST="${SALESFLOOR_KAFKA_SASL_SSL_HOST:-127.0.0.1}"
TLS_DIR="${SALESFLOOR_KAFKA_TLS_DIR:-}"
SCRAM_USER="${SALESFLOOR_KAFKA_SCRAM_USER:-salesfloor}"
SCRAM_PASSWORD_FILE="${SALESFLOOR_KAFKA_SCRAM_PASSWORD_FILE:-${TLS_DIR:+$TLS_DIR/scram.password}}"

PID_FILE="$DATA_DIR/kafka.pid"
LOG_FILE="$DATA_DIR/kafka.log"
CONFIG_FILE="$DATA_DIR/server.properties"
LOG4J_FILE="$DATA_DIR/log4j2.properties"
KRAFT_DIR="$DATA_DIR/kraft-logs"
STARTED_MARKER="Kafka Server started"   # logged by KafkaRaftServer once the broker is unfenced
NODE_ID="${SALESFLOOR_KAFKA_NODE_ID:-1}"
QUORUM="${SALESFLOOR_KAFKA_QUORUM:-$NODE_ID@127.0.0.1:$CONTROLLER_PORT}"
CLUSTER_ID="${SALESFLOOR_KAFKA_CLUSTER_ID:-}"
REPLICATION="${SALESFLOOR_KAFKA_REPLICATION:-1}"
MIN_ISR=1
(( REPLICATION >= 3 )) && MIN_ISR=2
NODES="${SALESFLOOR_KAFKA_NODES:-3}"

die() { echo "error: $*" >&2; exit 1; }
log() { echo "kafka: $*" >&2; }

is_port() { [[ "$1" =~ ^[0-9]+$ ]] && (( $1 > 0 && $1 <= 65535 )); }
is_port "$PORT" || die "SALESFLOOR_KAFKA_PORT must be a TCP port, got '$PORT'"
is_port "$CONTROLLER_PORT" || die "SALESFLOOR_KAFKA_CONTROLLER_PORT must be a TCP port, got '$CONTROLLER_PORT'"
[[ "$PORT" != "$CONTROLLER_PORT" ]] || die "broker port and controller port are both $PORT"
[[ "$NODE_ID" =~ ^[0-9]+$ ]] || die "SALESFLOOR_KAFKA_NODE_ID must be a whole number, got '$NODE_ID'"
[[ "$REPLICATION" =~ ^[1-9]$ ]] || die "SALESFLOOR_KAFKA_REPLICATION must be 1-9, got '$REPLICATION'"
[[ "$NODES" =~ ^[1-9]$ ]] || die "SALESFLOOR_KAFKA_NODES must be 1-9, got '$NODES'"
[[ "$START_TIMEOUT" =~ ^[0-9]+$ ]] || die "SALESFLOOR_KAFKA_START_TIMEOUT must be whole seconds, got '$START_TIMEOUT'"
if [[ -n "$SASL_SSL_PORT" ]]; then
    is_port "$SASL_SSL_PORT" || die "SALESFLOOR_KAFKA_SASL_SSL_PORT must be a TCP port, got '$SASL_SSL_PORT'"
    [[ "$SASL_SSL_PORT" != "$PORT" && "$SASL_SSL_PORT" != "$CONTROLLER_PORT" ]] \
        || die "SALESFLOOR_KAFKA_SASL_SSL_PORT $SASL_SSL_PORT clashes with the broker or controller port"
    [[ "$SASL_SSL_HOST" =~ ^[A-Za-z0-9.-]+$ ]] || die "SALESFLOOR_KAFKA_SASL_SSL_HOST must be a host name or IPv4 address, got '$SASL_SSL_HOST'"
    [[ "$SCRAM_USER" =~ ^[A-Za-z0-9._-]{1,64}$ ]] || die "SALESFLOOR_KAFKA_SCRAM_USER must match [A-Za-z0-9._-]{1,64}, got '$SCRAM_USER'"
fi

need_java() {
    command -v java >/dev/null 2>&1 || die "java not found: install OpenJDK 17+"
    local ver major
    ver="$(java -version 2>&1 | sed -n 's/.* version "\([^"]*\)".*/\1/p' | head -n1)"
    major="${ver%%.*}"
    [[ "$major" == 1 ]] && major="$(cut -d. -f2 <<<"$ver")"
    if [[ "$major" =~ ^[0-9]+$ ]] && (( major < 17 )); then
        die "java $ver is too old: install OpenJDK 17+"
    fi
}

# true if something accepts TCP connections on 127.0.0.1:$1
port_open() {
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# pid of our broker for $DATA_DIR if it is alive, else nothing (stale pid files are removed)
running_pid() {
    [[ -f "$PID_FILE" ]] || return 0
    local pid
    pid="$(tr -dc '0-9' <"$PID_FILE")"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null \
        && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-Dsalesfloor.kafka.data=$DATA_DIR "; then
        echo "$pid"
    else
        rm -f "$PID_FILE"
    fi
}

# the PLAINTEXT port the broker in $DATA_DIR was configured with (falls back to $PORT)
configured_port() {
    local p=""
    [[ -f "$CONFIG_FILE" ]] && p="$(sed -n 's#^listeners=PLAINTEXT://127\.0\.0\.1:\([0-9]*\),.*#\1#p' "$CONFIG_FILE")"
    echo "${p:-$PORT}"
}

log_tail() {
    [[ -f "$LOG_FILE" ]] || return 0
    echo "---- last lines of $LOG_FILE ----" >&2
    tail -n "${1:-30}" "$LOG_FILE" >&2
}

cmd_fetch() {
    if [[ -f "$LIB_DIR/kafka_2.13-$KAFKA_VERSION.jar" ]]; then
        return 0
    fi
    command -v mvn >/dev/null 2>&1 || die "mvn not found: install Maven 3.6+ (needed once to download the Kafka jars)"
    need_java
    mkdir -p "$(dirname "$LIB_DIR")"
    local tmp out
    tmp="$(mktemp -d "$(dirname "$LIB_DIR")/lib.tmp.XXXXXX")"
    out="$tmp.mvn.log"
    log "downloading Kafka $KAFKA_VERSION jars into $LIB_DIR"
    if ! mvn -B -q -f "$SCRIPT_DIR/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
            dependency:copy-dependencies -DoutputDirectory="$tmp" >"$out" 2>&1; then
        tail -n 20 "$out" >&2
        rm -rf "$tmp" "$out"
        die "mvn could not download org.apache.kafka:kafka_2.13:$KAFKA_VERSION (see above)"
    fi
    rm -f "$out"
    [[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ]] || { rm -rf "$tmp"; die "mvn ran but kafka_2.13-$KAFKA_VERSION.jar is missing"; }
    # atomic publish; a concurrent fetch may have won the race, which is fine
    mv -T "$tmp" "$LIB_DIR" 2>/dev/null || rm -rf "$tmp"
    [[ -f "$LIB_DIR/kafka_2.13-$KAFKA_VERSION.jar" ]] || die "could not populate $LIB_DIR"
}

# "TYPE PATH" of the store $TLS_DIR/$1.p12 (or .pfx, .jks)
tls_store() {
    local f
    for f in "$TLS_DIR/$1.p12" "$TLS_DIR/$1.pfx" "$TLS_DIR/$1.jks"; do
        if [[ -f "$f" ]]; then
            case "$f" in *.jks) echo "JKS $f" ;; *) echo "PKCS12 $f" ;; esac
            return 0
        fi
    done
    return 1
}

# the content of a password file without its trailing newline; refuses what a properties file would mangle
read_secret() {
    local file="$1" what="$2" value
    [[ -r "$file" ]] || die "$what: cannot read $file"
    value="$(<"$file")"
    [[ -n "$value" ]] || die "$what: $file is empty"
    [[ "$value" != *$'\n'* && "$value" != *\\* ]] || die "$what: $file must hold one line without backslashes"
    printf '%s' "$value"
}

# checks the TLS material and the SCRAM password before anything is written or formatted
check_sasl_ssl() {
    [[ -n "$TLS_DIR" ]] || die "SALESFLOOR_KAFKA_SASL_SSL_PORT is set but SALESFLOOR_KAFKA_TLS_DIR is not"
    [[ -d "$TLS_DIR" ]] || die "SALESFLOOR_KAFKA_TLS_DIR=$TLS_DIR is not a directory"
    TLS_DIR="$(cd -- "$TLS_DIR" && pwd -P)"
    tls_store keystore >/dev/null || die "no keystore.p12 or keystore.jks in $TLS_DIR"
    read_secret "$TLS_DIR/keystore.password" "keystore password" >/dev/null
    if tls_store truststore >/dev/null; then
        read_secret "$TLS_DIR/truststore.password" "truststore password" >/dev/null
    fi
    [[ -n "$SCRAM_PASSWORD_FILE" ]] || die "no SCRAM password file (SALESFLOOR_KAFKA_SCRAM_PASSWORD_FILE)"
    local scram
    scram="$(read_secret "$SCRAM_PASSWORD_FILE" "SCRAM password")"
    [[ "$scram" =~ ^[A-Za-z0-9._~-]{8,}$ ]] \
        || die "the SCRAM password in $SCRAM_PASSWORD_FILE must be 8+ characters of [A-Za-z0-9._~-]"
}

# the listener lines of server.properties: PLAINTEXT (+ SASL_SSL when asked) and the controller
listener_config() {
    if [[ -z "$SASL_SSL_PORT" ]]; then
        cat <<EOF
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
EOF
        return 0
    fi
    local keystore truststore key_password
    read -r -a keystore <<<"$(tls_store keystore)"
    key_password="$TLS_DIR/keystore.password"
    [[ -f "$TLS_DIR/key.password" ]] && key_password="$TLS_DIR/key.password"
    cat <<EOF
listeners=PLAINTEXT://127.0.0.1:$PORT,SASL_SSL://$SASL_SSL_HOST:$SASL_SSL_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT,SASL_SSL://$SASL_SSL_HOST:$SASL_SSL_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL

# SASL_SSL: TLS with the caller's keystore, SCRAM-SHA-512 users from the cluster metadata
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.enabled.protocols=TLSv1.3,TLSv1.2
listener.name.sasl_ssl.ssl.client.auth=none
listener.name.sasl_ssl.ssl.keystore.type=${keystore[0]}
listener.name.sasl_ssl.ssl.keystore.location=${keystore[1]}
listener.name.sasl_ssl.ssl.keystore.password=$(read_secret "$TLS_DIR/keystore.password" "keystore password")
listener.name.sasl_ssl.ssl.key.password=$(read_secret "$key_password" "key password")
EOF
    if tls_store truststore >/dev/null; then
        read -r -a truststore <<<"$(tls_store truststore)"
        cat <<EOF
listener.name.sasl_ssl.ssl.truststore.type=${truststore[0]}
listener.name.sasl_ssl.ssl.truststore.location=${truststore[1]}
listener.name.sasl_ssl.ssl.truststore.password=$(read_secret "$TLS_DIR/truststore.password" "truststore password")
EOF
    fi
}

write_config() {
    if [[ -n "$SASL_SSL_PORT" ]]; then
        : >"$CONFIG_FILE"
        chmod 600 "$CONFIG_FILE"   # it holds the store passwords
    fi
    cat >"$CONFIG_FILE" <<EOF
# Generated by deploy/kafka/kafka.sh on every start; edits are overwritten.
process.roles=broker,controller
node.id=$NODE_ID
controller.quorum.voters=$QUORUM
$(listener_config)
log.dirs=$KRAFT_DIR

# a single node (or a small loopback cluster), small machine, fast tests
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
num.partitions=4
default.replication.factor=$REPLICATION
min.insync.replicas=$MIN_ISR
auto.create.topics.enable=true
delete.topic.enable=true
group.initial.rebalance.delay.ms=0
# after a kill -9 the controller refuses the restarted broker until the old session expires (default 9 s)
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=1000
offsets.topic.replication.factor=$REPLICATION
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=$REPLICATION
transaction.state.log.min.isr=$MIN_ISR
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=$REPLICATION
share.coordinator.state.topic.min.isr=$MIN_ISR

# keep everything, whatever its timestamp: test events are dated up to 60 days back
log.retention.ms=-1
log.retention.bytes=-1
log.message.timestamp.type=CreateTime
log.message.timestamp.before.max.ms=9223372036854775807
log.message.timestamp.after.max.ms=9223372036854775807
log.segment.bytes=16777216
log.cleaner.dedupe.buffer.size=33554432
EOF
    cat >"$LOG4J_FILE" <<'EOF'
# Generated by deploy/kafka/kafka.sh; stdout is appended to kafka.log in the data dir.
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = ${sys:salesfloor.kafka.loglevel:-INFO}
rootLogger.appenderRef.out.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = ${sys:salesfloor.kafka.loglevel:-INFO}
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = WARN
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
EOF
}

format_storage() {
    if [[ -f "$KRAFT_DIR/meta.properties" ]]; then
        if [[ -n "$SASL_SSL_PORT" ]] && ! grep -qxF "$SCRAM_USER" "$DATA_DIR/scram-users" 2>/dev/null; then
            log "warning: $DATA_DIR was formatted without SCRAM user '$SCRAM_USER'; add it with kafka-configs --alter"
        fi
        return 0
    fi
    local cluster_id="$CLUSTER_ID" out argfile=""
    if [[ -z "$cluster_id" ]]; then
        cluster_id="$(random_cluster_id)"
        [[ -n "$cluster_id" ]] || { log_tail 20; die "kafka-storage random-uuid failed"; }
    fi
    local scram_args=()
    if [[ -n "$SASL_SSL_PORT" ]]; then
        # a java @argfile (mode 600, removed right after), so the password never shows in the process list
        argfile="$DATA_DIR/format-scram.args"
        ( umask 077; printf -- '--add-scram\nSCRAM-SHA-512=[name=%s,password=%s]\n' \
            "$SCRAM_USER" "$(read_secret "$SCRAM_PASSWORD_FILE" "SCRAM password")" >"$argfile" )
        scram_args=("@$argfile")
    fi
    if ! out="$(java -Dlog4j2.configurationFile="$LOG4J_FILE" -Dsalesfloor.kafka.loglevel=WARN -cp "$LIB_DIR/*" kafka.tools.StorageTool \
            format --cluster-id "$cluster_id" --config "$CONFIG_FILE" "${scram_args[@]}" 2>&1)"; then
        [[ -z "$argfile" ]] || rm -f "$argfile"
        printf '%s\n' "$out" >>"$LOG_FILE"
        printf '%s\n' "$out" | tail -n 15 >&2
        die "formatting KRaft storage in $KRAFT_DIR failed"
    fi
    if [[ -n "$argfile" ]]; then
        rm -f "$argfile"
        echo "$SCRAM_USER" >>"$DATA_DIR/scram-users"
    fi
    printf '%s\n' "$out" >>"$LOG_FILE"
}

random_cluster_id() {
    java -cp "$LIB_DIR/*" kafka.tools.StorageTool random-uuid 2>>"${LOG_FILE:-/dev/null}" | tail -n1
}

# wait for $1 (pid) to log the started marker after byte offset $2 and accept connections
wait_ready() {
    local pid="$1" offset="$2" port="$3" deadline=$(( SECONDS + START_TIMEOUT ))
    while :; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PID_FILE"
            log_tail 40
            die "kafka exited during startup (log: $LOG_FILE)"
        fi
        if tail -c "+$(( offset + 1 ))" "$LOG_FILE" 2>/dev/null | grep -qF "$STARTED_MARKER" && port_open "$port"; then
            return 0
        fi
        if (( SECONDS >= deadline )); then
            log_tail 40
            log "not ready after ${START_TIMEOUT}s, stopping it"
            stop_pid "$pid" >/dev/null
            die "kafka not ready on 127.0.0.1:$port after ${START_TIMEOUT}s (log: $LOG_FILE)"
        fi
        sleep 0.25
    done
}

cmd_start() {
    need_java
    mkdir -p "$DATA_DIR"
    DATA_DIR="$(cd -- "$DATA_DIR" && pwd -P)"
    PID_FILE="$DATA_DIR/kafka.pid"; LOG_FILE="$DATA_DIR/kafka.log"; CONFIG_FILE="$DATA_DIR/server.properties"
    LOG4J_FILE="$DATA_DIR/log4j2.properties"; KRAFT_DIR="$DATA_DIR/kraft-logs"

    # one start/stop at a time per data dir
    exec 9>"$DATA_DIR/kafka.lock"
    flock -w $(( START_TIMEOUT + 60 )) 9 || die "another kafka.sh is busy with $DATA_DIR (lock: $DATA_DIR/kafka.lock)"

    local pid port banner
    pid="$(running_pid)"
    if [[ -n "$pid" ]]; then
        port="$(configured_port)"
        if port_open "$port"; then
            echo "kafka already running on 127.0.0.1:$port (pid $pid)"
            return 0
        fi
        # running but not answering yet (e.g. a start that was interrupted): wait for it
        log "kafka (pid $pid) is still starting, waiting"
        banner="$(grep -boF "==== kafka.sh start:" "$LOG_FILE" 2>/dev/null | tail -n1 | cut -d: -f1)"
        wait_ready "$pid" "${banner:-0}" "$port"
        echo "kafka ready on 127.0.0.1:$port"
        return 0
    fi

    port_open "$PORT" && die "port $PORT is already in use by another process (set SALESFLOOR_KAFKA_PORT)"
    port_open "$CONTROLLER_PORT" && die "controller port $CONTROLLER_PORT is already in use by another process (set SALESFLOOR_KAFKA_CONTROLLER_PORT)"
    if [[ -n "$SASL_SSL_PORT" ]]; then
        port_open "$SASL_SSL_PORT" && die "SASL_SSL port $SASL_SSL_PORT is already in use by another process (set SALESFLOOR_KAFKA_SASL_SSL_PORT)"
        check_sasl_ssl
    fi

    cmd_fetch
    mkdir -p "$KRAFT_DIR"
    # keep the log from growing forever across runs
    if [[ -f "$LOG_FILE" ]] && (( $(stat -c %s "$LOG_FILE") > 50*1024*1024 )); then
        mv -f "$LOG_FILE" "$LOG_FILE.1"
    fi
    write_config
    format_storage

    local offset t0=$SECONDS
    offset="$(stat -c %s "$LOG_FILE" 2>/dev/null || echo 0)"
    echo "[$(date '+%F %T')] ==== kafka.sh start: Kafka $KAFKA_VERSION on 127.0.0.1:$PORT (controller $CONTROLLER_PORT) ====" >>"$LOG_FILE"
    offset="$(stat -c %s "$LOG_FILE")"
    # shellcheck disable=SC2086  # HEAP_OPTS / EXTRA_JVM_OPTS are word lists on purpose
    nohup java $HEAP_OPTS \
        -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
        -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
        $EXTRA_JVM_OPTS \
        -Dlog4j2.configurationFile="$LOG4J_FILE" \
        -Dkafka.logs.dir="$DATA_DIR" \
        "-Dsalesfloor.kafka.data=$DATA_DIR" \
        -cp "$LIB_DIR/*" kafka.Kafka "$CONFIG_FILE" >>"$LOG_FILE" 2>&1 </dev/null 9>&- &
    pid=$!
    echo "$pid" >"$PID_FILE"
    wait_ready "$pid" "$offset" "$PORT"
    log "started in $(( SECONDS - t0 ))s (pid $pid, data $DATA_DIR)"
    echo "kafka ready on 127.0.0.1:$PORT"
}

# SIGTERM, wait up to STOP_TIMEOUT s, then SIGKILL
stop_pid() {
    local pid="$1" i
    kill -TERM "$pid" 2>/dev/null || true
    for (( i = 0; i < STOP_TIMEOUT * 10; i++ )); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid still alive after ${STOP_TIMEOUT}s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
    rm -f "$PID_FILE"
}

cmd_stop() {
    [[ -d "$DATA_DIR" ]] || { echo "kafka not running"; return 0; }
    DATA_DIR="$(cd -- "$DATA_DIR" && pwd -P)"
    PID_FILE="$DATA_DIR/kafka.pid"
    exec 9>"$DATA_DIR/kafka.lock"
    flock -w $(( START_TIMEOUT + 60 )) 9 || die "another kafka.sh is busy with $DATA_DIR (lock: $DATA_DIR/kafka.lock)"
    local pid
    pid="$(running_pid)"
    if [[ -z "$pid" ]]; then
        echo "kafka not running"
        return 0
    fi
    stop_pid "$pid"
    echo "kafka stopped (pid $pid)"
}

cmd_status() {
    if [[ -d "$DATA_DIR" ]]; then
        DATA_DIR="$(cd -- "$DATA_DIR" && pwd -P)"
        PID_FILE="$DATA_DIR/kafka.pid"; CONFIG_FILE="$DATA_DIR/server.properties"
    fi
    local pid port
    pid="$(running_pid)"
    port="$(configured_port)"
    if [[ -n "$pid" ]] && port_open "$port"; then
        echo "kafka running on 127.0.0.1:$port (pid $pid)"
        return 0
    elif [[ -n "$pid" ]]; then
        echo "kafka starting or unresponsive (pid $pid, port $port not answering)"
        return 1
    fi
    echo "kafka not running"
    return 3
}

# run "kafka.sh $1" for every node of the cluster at once (a node's start waits for a quorum of them)
for_each_node() {
    local command="$1" i node_port node_controller voters="" failed=0 pids=()
    mkdir -p "$DATA_DIR"
    DATA_DIR="$(cd -- "$DATA_DIR" && pwd -P)"
    for (( i = 1; i <= NODES; i++ )); do
        voters+="${voters:+,}$i@127.0.0.1:$(( CONTROLLER_PORT + i - 1 ))"
    done
    if [[ "$command" == start ]]; then
        cmd_fetch
        [[ -s "$DATA_DIR/cluster-id" ]] || random_cluster_id >"$DATA_DIR/cluster-id"
        [[ -s "$DATA_DIR/cluster-id" ]] || die "kafka-storage random-uuid failed"
    fi
    for (( i = 1; i <= NODES; i++ )); do
        node_port=$(( PORT + i - 1 )); node_controller=$(( CONTROLLER_PORT + i - 1 ))
        SALESFLOOR_KAFKA_PORT=$node_port SALESFLOOR_KAFKA_CONTROLLER_PORT=$node_controller \
            SALESFLOOR_KAFKA_DATA="$DATA_DIR/node-$i" SALESFLOOR_KAFKA_NODE_ID=$i SALESFLOOR_KAFKA_QUORUM="$voters" \
            SALESFLOOR_KAFKA_CLUSTER_ID="$(cat "$DATA_DIR/cluster-id" 2>/dev/null)" \
            SALESFLOOR_KAFKA_REPLICATION=$(( NODES < 3 ? NODES : 3 )) \
            "${BASH_SOURCE[0]}" "$command" &
        pids+=($!)
    done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || failed=$(( failed + 1 ))
    done
    (( failed == 0 )) || return 1
}

usage() {
    sed -n '2,34s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

case "${1:-}" in
    fetch)  cmd_fetch; echo "kafka $KAFKA_VERSION jars in $LIB_DIR" ;;
    start)  cmd_start ;;
    stop)   cmd_stop ;;
    status) cmd_status ;;
    cluster-start)  for_each_node start ;;
    cluster-stop)   for_each_node stop ;;
    cluster-status) for_each_node status ;;
    -h|--help|help) usage ;;
    *) usage >&2; exit 2 ;;
esac
