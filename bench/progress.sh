# bench/progress.sh: sourced by the bench scripts (bash). What a long wait waits for, on a
# terminal only, as the CLI's common/fk_progress does it: one line on stderr,
#
#     [cluster] convergence: 20 registrations, N=10... 7 s
#
# rewritten in place with '\r' while the wait lasts and erased when it ends. When stderr is
# not a terminal (make bench > log, CI) nothing is printed: the scripts' own log lines and
# reports stay exactly what they are.
#
#   progress_watch TAG WHAT PID   while process PID runs, show "[TAG] WHAT... N s"; returns
#                                 when it has ended (not reaped: the caller waits for it)

PROGRESS_TTY=
[ -t 2 ] && PROGRESS_TTY=1

progress_watch() {
    local tag=$1 what=$2 pid=$3 t0=$SECONDS line= shown=-1
    [ -n "$PROGRESS_TTY" ] && [ -n "$what" ] || return 0
    while kill -0 "$pid" 2>/dev/null; do
        if [ $((SECONDS - t0)) != "$shown" ]; then
            shown=$((SECONDS - t0))
            line="[$tag] $what... $shown s"   # never shorter than the last: no blanks needed
            printf '\r%s' "$line" >&2
        fi
        sleep 0.2   # the line's refresh, not a synchronisation: the caller waits for PID
    done
    [ -z "$line" ] || printf '\r%*s\r' "${#line}" '' >&2
}
