# shellcheck shell=bash
# Plays systemd's side of sd_notify: receives the daemon's datagrams on a unix socket (NOTIFY_SOCKET) and
# writes one line per datagram, its fields (READY=1, STATUS=…) separated by tabs.
# Why perl and not `socat UNIX-RECV`: socat writes datagrams back to back with no separator, so
# "STATUS=…" and the next "READY=1" run together, and the last one has no newline for a reader to see.
# perl-base is Essential on Debian, so it is always there (python3 is not). Sourced after lib/common.sh.

# notify_listen SOCKET OUT: starts the receiver in the background (NOTIFY_RECEIVER_PID), waits for the socket.
# OUT is a file (truncated first) or a FIFO that a reader already has open (the benchmark's).
notify_listen() {
    local sock=$1 out=$2
    rm -f "$sock"
    [[ -p $out ]] || : >"$out"
    # shellcheck disable=SC2016 # perl code: its variables are perl's, not the shell's
    setsid perl -MIO::Socket::UNIX -e '
        my $s = IO::Socket::UNIX->new(Type => SOCK_DGRAM(), Local => $ARGV[0])
            or die "cannot listen on $ARGV[0]: $!\n";
        $| = 1;
        while (defined $s->recv(my $d, 65536)) { $d =~ s/\n+\z//; $d =~ s/\n/\t/g; print "$d\n"; }
    ' "$sock" </dev/null >>"$out" 2>"$out.err" &
    NOTIFY_RECEIVER_PID=$!
    WAIT_FOR_PID=$NOTIFY_RECEIVER_PID wait_for 10 "the notify socket $sock" test -S "$sock" || {
        cat "$out.err" >&2
        return 1
    }
}

# notify_line_of OUT FIELD [AFTER_LINE]: number of the first line after AFTER_LINE (default 0) holding
# exactly FIELD (e.g. READY=1); prints nothing and fails if there is none yet.
notify_line_of() {
    awk -F'\t' -v f="$2" -v after="${3:-0}" '
        NR > after { for (i = 1; i <= NF; i++) if ($i == f) { print NR; found = 1; exit } }
        END { exit found ? 0 : 1 }' "$1"
}

notify_has() { notify_line_of "$@" >/dev/null; }

notify_lines() { wc -l <"$1"; }
