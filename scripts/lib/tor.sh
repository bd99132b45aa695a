# shellcheck shell=bash
# A private Tor network on loopback (recipe: shared notes, tor.md): four directory authorities that are also the
# relays, then client tors with a SocksPort. Every tor here has TestingTorNetwork 1 and DirAuthority lines on
# 127.0.0.1 only, starts with an empty --defaults-torrc, and is checked by tornet_check_safe before it starts:
# nothing here can reach the public Tor network. Sourced after lib/common.sh.
#
# Layout of a network directory NET:
#   NET/authorities      the DirAuthority lines (what any tor in this network needs, plus TestingTorNetwork 1)
#   NET/pids             one "pid name" line per tor started (teardown kills exactly these)
#   NET/NAME/            each tor's DataDirectory (0700), torrc, tor.log, control-port
#   NET/resolv.conf      relays resolve nothing: their DNS points at 127.0.0.1

TORNET_AUTHORITIES=4

# tornet_pick_port: prints a free loopback port in 12000..19999 not handed out before by this shell. Below the kernel's
# ephemeral range (32768..60999 on Debian), so a port picked here cannot be taken meanwhile by an outgoing connection or
# by a test's port-0 listener before tor binds it.
TORNET_PORTS_TAKEN=" "
tornet_pick_port() {
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$((12000 + RANDOM % 8000))
        [[ $TORNET_PORTS_TAKEN == *" $p "* ]] && continue
        if tcp_port_free "$p"; then
            TORNET_PORTS_TAKEN+="$p "
            printf '%s\n' "$p"
            return 0
        fi
    done
    die "no free loopback port in 12000..19999"
}

# tornet_check_safe TORRC: refuses a torrc that could reach the public network (same rule as bastiond's check).
tornet_check_safe() {
    local torrc=$1
    if grep -qiE '^[[:space:]]*(%include|FallbackDir|AlternateDirAuthority|AlternateBridgeAuthority|Bridge|UseBridges)([[:space:]]|$)' "$torrc"; then
        die "refusing to start tor with $torrc: it names relays or files outside the private network"
    fi
    if grep -qiE '^[[:space:]]*DisableNetwork[[:space:]]+1' "$torrc"; then return 0; fi
    grep -qiE '^[[:space:]]*TestingTorNetwork[[:space:]]+1' "$torrc" ||
        die "refusing to start tor with $torrc: neither DisableNetwork 1 nor TestingTorNetwork 1"
    local auths foreign
    auths="$(grep -ciE '^[[:space:]]*DirAuthority[[:space:]]' "$torrc" || true)"
    ((auths > 0)) || die "refusing to start tor with $torrc: TestingTorNetwork 1 without private DirAuthority lines"
    foreign="$(grep -iE '^[[:space:]]*DirAuthority[[:space:]]' "$torrc" | grep -vE '[[:space:]]127\.0\.0\.1:[0-9]+[[:space:]]' || true)"
    [[ -z $foreign ]] || die "refusing to start tor with $torrc: a DirAuthority is not on 127.0.0.1: $foreign"
}

# tornet_launch NET NAME: starts tor NAME with NET/NAME/torrc in the background (setsid), records its pid.
tornet_launch() {
    local net=$1 name=$2 dir=$1/$2
    tornet_check_safe "$dir/torrc"
    : >"$dir/torrc.defaults"
    setsid tor --defaults-torrc "$dir/torrc.defaults" -f "$dir/torrc" </dev/null >"$dir/stdout.log" 2>&1 &
    printf '%s %s\n' "$!" "$name" >>"$net/pids"
}

tornet_common_lines() {
    local dir=$1
    cat <<CONF
TestingTorNetwork 1
DataDirectory $dir
ControlPort auto
ControlPortWriteToFile $dir/control-port
CookieAuthentication 1
Log notice file $dir/tor.log
ShutdownWaitLength 0
PathsNeededToBuildCircuits 0.67
CONF
    if [[ -n ${TORNET_OWNER:-} ]]; then printf '__OwningControllerProcess %s\n' "$TORNET_OWNER"; fi
}

# tornet_create NET: keys, fingerprints and torrcs of the authorities; writes NET/authorities.
tornet_create() {
    local net=$1 i
    mkdir -p "$net"
    chmod 0700 "$net"
    : >"$net/pids"
    printf 'nameserver 127.0.0.1\n' >"$net/resolv.conf"
    : >"$net/authorities"
    for ((i = 1; i <= TORNET_AUTHORITIES; i++)); do
        local name=auth$i dir=$net/auth$i orport dirport
        orport="$(tornet_pick_port)"
        dirport="$(tornet_pick_port)"
        mkdir -p "$dir/keys"
        chmod 0700 "$dir" "$dir/keys"
        printf '%s %s\n' "$orport" "$dirport" >"$dir/ports"
        printf '\n' | tor-gencert --create-identity-key --passphrase-fd 0 -i "$dir/keys/authority_identity_key" \
            -s "$dir/keys/authority_signing_key" -c "$dir/keys/authority_certificate" \
            -m 12 -a "127.0.0.1:$dirport" >"$dir/gencert.log" 2>&1 || { cat "$dir/gencert.log" >&2; die "tor-gencert failed"; }
        # The relay identity: tor writes DataDirectory/fingerprint with a throwaway, network-less torrc.
        cat >"$dir/torrc.fp" <<CONF
DisableNetwork 1
DataDirectory $dir
Nickname $name
ORPort 127.0.0.1:$orport
Address 127.0.0.1
SocksPort 0
CONF
        : >"$dir/torrc.defaults"
        tornet_check_safe "$dir/torrc.fp"
        tor --defaults-torrc "$dir/torrc.defaults" -f "$dir/torrc.fp" --list-fingerprint >"$dir/fp.log" 2>&1 ||
            { cat "$dir/fp.log" >&2; die "tor --list-fingerprint failed"; }
        local v3ident fpr
        v3ident="$(awk '/^fingerprint /{print $2}' "$dir/keys/authority_certificate")"
        fpr="$(awk '{print $2}' "$dir/fingerprint")"
        printf 'DirAuthority %s orport=%s no-v2 v3ident=%s 127.0.0.1:%s %s\n' "$name" "$orport" "$v3ident" "$dirport" "$fpr" >>"$net/authorities"
    done
    for ((i = 1; i <= TORNET_AUTHORITIES; i++)); do
        local dir=$net/auth$i orport dirport
        read -r orport dirport <"$dir/ports"
        {
            tornet_common_lines "$dir"
            cat <<CONF
Nickname auth$i
SocksPort 0
ORPort 127.0.0.1:$orport
DirPort 127.0.0.1:$dirport
Address 127.0.0.1
AssumeReachable 1
ExitRelay 0
ExitPolicy reject *:*
AuthoritativeDirectory 1
V3AuthoritativeDirectory 1
TestingV3AuthInitialVotingInterval 5
TestingV3AuthInitialVoteDelay 2
TestingV3AuthInitialDistDelay 2
V3AuthVotingInterval 10
V3AuthVoteDelay 2
V3AuthDistDelay 2
V3AuthNIntervalsValid 2
TestingDirAuthVoteGuard *
TestingDirAuthVoteHSDir *
TestingDirAuthVoteExit *
TestingMinExitFlagThreshold 0
ServerDNSResolvConfFile $net/resolv.conf
ServerDNSDetectHijacking 0
ServerDNSTestAddresses 127.0.0.1
CONF
            cat "$net/authorities"
        } >"$dir/torrc"
    done
}

# tornet_getinfo DIR KEY: one GETINFO through tor's control port (cookie authentication); prints the raw reply.
tornet_getinfo() {
    local dir=$1 key=$2 port cookie
    [[ -s $dir/control-port && -s $dir/control_auth_cookie ]] || return 1
    port="$(sed -n 's/^PORT=127\.0\.0\.1://p' "$dir/control-port")"
    cookie="$(od -An -tx1 -v "$dir/control_auth_cookie" | tr -d ' \n')"
    printf 'AUTHENTICATE %s\r\nGETINFO %s\r\nQUIT\r\n' "$cookie" "$key" | nc -w 5 127.0.0.1 "$port" 2>/dev/null
}

# Ready when every authority's consensus lists all authorities as Running Valid HSDir and it holds all microdescriptors.
tornet_authorities_ready() {
    local net=$1 i out
    for ((i = 1; i <= TORNET_AUTHORITIES; i++)); do
        out="$(tornet_getinfo "$net/auth$i" ns/all)" || return 1
        (($(grep -E '^s ' <<<"$out" | grep -w Running | grep -w Valid | grep -wc HSDir) >= TORNET_AUTHORITIES)) || return 1
        out="$(tornet_getinfo "$net/auth$i" md/all)" || return 1
        (($(grep -c '^onion-key' <<<"$out") >= TORNET_AUTHORITIES)) || return 1
    done
}

tornet_bootstrapped() { tornet_getinfo "$1" status/bootstrap-phase | grep -q 'PROGRESS=100'; }

# tornet_start_authorities NET TIMEOUT
tornet_start_authorities() {
    local net=$1 timeout=$2 i
    for ((i = 1; i <= TORNET_AUTHORITIES; i++)); do tornet_launch "$net" "auth$i"; done
    if ! wait_for "$timeout" "the private Tor network's consensus (4 authorities Running, Valid, HSDir)" tornet_authorities_ready "$net"; then
        tornet_dump_logs "$net"
        return 1
    fi
}

# tornet_start_client NET NAME TIMEOUT [CLIENT_ONION_AUTH_DIR]: a client tor with a SocksPort; prints the port.
tornet_start_client() {
    local net=$1 name=$2 timeout=$3 authdir=${4:-} dir=$1/$2 socks
    socks="$(tornet_pick_port)"
    mkdir -p "$dir"
    chmod 0700 "$dir"
    {
        tornet_common_lines "$dir"
        # ExtendedErrors: SOCKS replies say why an onion failed (e.g. 0xF4: client authorization missing).
        printf 'SocksPort 127.0.0.1:%s ExtendedErrors\n' "$socks"
        if [[ -n $authdir ]]; then printf 'ClientOnionAuthDir %s\n' "$authdir"; fi
        cat "$net/authorities"
    } >"$dir/torrc"
    tornet_launch "$net" "$name"
    if ! wait_for "$timeout" "client tor $name to bootstrap" tornet_bootstrapped "$dir"; then
        tornet_dump_logs "$net"
        return 1
    fi
    printf '%s\n' "$socks"
}

# tornet_extra_config NET: the torrc lines another tor (bastiond's) needs to join this network, one per line.
tornet_extra_config() {
    printf 'TestingTorNetwork 1\nPathsNeededToBuildCircuits 0.67\n'
    cat "$1/authorities"
}

tornet_dump_logs() {
    local net=$1 f
    for f in "$net"/*/tor.log; do
        [[ -s $f ]] || continue
        printf '\n----- %s (last 40 lines) -----\n' "$f" >&2
        tail -n 40 "$f" >&2
    done
}

# tornet_stop_authorities NET: stops the directory authorities (also the network's only relays) by pid, SIGKILL after
# 5 s, and forgets their pids; client and other tors keep running. Their in-memory state (HSDir descriptors) is lost.
tornet_stop_authorities() {
    local net=$1 pid name deadline
    [[ -f $net/pids ]] || return 0
    while read -r pid name; do
        if [[ $name == auth* ]]; then kill -TERM "$pid" 2>/dev/null || true; fi
    done <"$net/pids"
    deadline=$((SECONDS + 5))
    while read -r pid name; do
        [[ $name == auth* ]] || continue
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done <"$net/pids"
    grep -v ' auth[0-9]*$' "$net/pids" >"$net/pids.new" || true
    mv "$net/pids.new" "$net/pids"
}

# tornet_stop NET: SIGTERM to every tor this network started (by pid), SIGKILL after 5 s.
tornet_stop() {
    local net=$1 pid name
    [[ -f $net/pids ]] || return 0
    while read -r pid name; do
        kill -TERM "$pid" 2>/dev/null || true
    done <"$net/pids"
    local deadline=$((SECONDS + 5))
    while read -r pid name; do
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done <"$net/pids"
    : >"$net/pids"
}
