#!/usr/bin/env python3
"""The survivors of a mutation run, by why they survive, as Markdown.

  mutants_classes.py MUTANTS_OUT... [--list] [--all=MUTANTS_JSON]

A survivor is a mutant that some MUTANTS_OUT records as missed (missed.txt)
or never executed (unexecuted.txt) and that no later one caught, and that
scripts/mutants_equivalent.txt does not list as equivalent. With --all (the
`scripts/mutants.sh --list --json` of the set), a survivor no longer in the
set (its code changed since) is left out. Each is put in the first class
whose pattern matches its name; docs/conformance.md explains each class.
With --list, every survivor under its class (the file
docs/mutation-survivors.md is this output).

The patterns name functions and, for a few mutants of one long function, a
line: they are written for the code at the commit the run was made at, and
a mutant that matches none is printed under "unclassified", so that a
change of the code shows here rather than being counted in a wrong class.
"""

import json
import os
import re
import sys

EQUIVALENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mutants_equivalent.txt")

CLASSES = [
    (
        "Readiness flags Linux reports together",
        r"worker\.rs:3(06|10|11):|is_readable\(\) \|\||is_writable\(\) &&|on_ready$",
    ),
    (
        "Time and polling",
        r"worker\.rs:329:|timers\.rs|poll_timeout|follow_connect_releases|update_ack_poll|poll_acks|next_wake"
        r"|timer_heap\.rs",
    ),
    (
        "Resource accounting and logs",
        r"worker\.rs:337:|set_paused|pool\.rs|Gauge::|wake_paused|give_back_places|arm_listeners"
        r"|accept_backoff|ACCEPT_BACKOFF|is_resource_error|trim_pipes|MAX_PIPES|unique_id|is_quiet"
        r"|span|LogLine|Slot::source|record|TlsConn::(sni|version|cipher|peer_cn)|tally\.rs|count_wakeup"
        r"|pipe_trim_at|warn_accept_failure|Control::(snapshot|counters)|cork|Names<'_>::server"
        r"|on_timer$|end_session$",
    ),
    (
        "Error paths loopback and the model's steps do not produce",
        r"worker\.rs:293:|WouldBlock|ENOTCONN|eof_or_reset|Interrupted|retry_eintr|cvt|is_reset"
        r"|is_unsupported|note_splice_error|splice_fallback|recv_pipe|send_pipe"
        r"|in Exec<'_>::send$|in Exec<'_>::recv$|finish_connect|send_reply|recv_proxy_header"
        r"|send_proxy_header|drain|registered|internal|InvalidData|in Exec<'_>::run$|admit_source"
        r"|rearm_listener",
    ),
    (
        "One thread, one listener, one waiting session",
        r"mod\.rs:192:|bind_listeners|in plan$|tls_error|BackendState::|offer_slot|on_dequeued"
        r"|handle_dequeued|is_waiting|Sock::deregister|has_server|wake_all|Gate::|Clock::|worker\.rs:4[67]:"
        r"|front_token|run_work|Worker::accept|runtime/bind\.rs|ListenerCfg::route|cursor|take_inbox"
        r"|holds_connects|Shared::(wake|send) |read_inbox|::waiter ",
    ),
    (
        "Features the replay's configurations leave off",
        r"runtime/limits\.rs|runtime/health\.rs|eval_rules|count_failure|check_send_queue",
    ),
    (
        "TLS details the model does not have",
        r"tls_reason|tls_handshake|tls_send|tls_close_notify|alpn_list|tls/src/",
    ),
    (
        "Process-level code the in-process harness never runs",
        r"sys/signal|sys/process|watch_signals|on_signals|mod\.rs:\d+:\d+: .* in run$|mod\.rs:240:"
        r"|hard_stop_at|StopMode::from_u8|request_stop|soft_stop|RunningProxy::stop"
        r"|RunningProxy::shutdown|Drop for RunningProxy|join ->|live_sessions|spawn ->|kill_all"
        r"|follow_stop|Worker::run|sys/fdpass|sys/listen_fds|runtime/control\.rs|runtime/ops\.rs"
        r"|session_views|replace launch ->|Launch::|RunningProxy::|mod\.rs:\d+:\d+: .* in (start|check)$"
        r"|answer_queries|shutdown_session|replace check ->",
    ),
    (
        "Partial sends, pipe sizes and flags the model's whole chunks do not reach",
        r"buffer\.rs|sys/pipe|sys/socket",
    ),
    (
        "The send window itself (test-only code)",
        r"window\.rs|follow_send_window",
    ),
]


def survivors(dirs):
    state = {}
    for d in dirs:
        for kind in ("missed", "unexecuted", "caught", "timeout"):
            path = os.path.join(d, kind + ".txt")
            if os.path.exists(path):
                with open(path) as f:
                    for name in f.read().split("\n"):
                        if name:
                            state[name] = kind
    return {n: k for n, k in state.items() if k in ("missed", "unexecuted")}


def equivalent():
    """The regexes of scripts/mutants_equivalent.txt."""
    with open(EQUIVALENT) as f:
        return [m.group(1) for m in (re.match(r"(\^.*?[^ ])  # ", line) for line in f) if m]


def main():
    dirs = [a for a in sys.argv[1:] if not a.startswith("--")] or ["mutants.out"]
    listing = "--list" in sys.argv
    every = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--all=")), None)
    by_class = {title: [] for title, _ in CLASSES}
    by_class["unclassified"] = []
    found = survivors(dirs)
    same = equivalent()
    found = {n: k for n, k in found.items() if not any(re.search(rx, n) for rx in same)}
    if every:
        with open(every) as f:
            names = {m["name"] for m in json.load(f)}
        found = {n: k for n, k in found.items() if n in names}
    for name, kind in sorted(found.items()):
        for title, pattern in CLASSES:
            if re.search(pattern, name):
                by_class[title].append((name, kind))
                break
        else:
            by_class["unclassified"].append((name, kind))
    print("| why it survives | survivors |")
    print("|---|---:|")
    for title, names in by_class.items():
        if names:
            print(f"| {title} | {len(names)} |")
    print(f"| **all** | **{len(found)}** |")
    if listing:
        for title, names in by_class.items():
            if not names:
                continue
            print()
            print(f"## {title} ({len(names)})")
            print()
            for name, kind in names:
                where, _, what = name.partition(": ")
                how = "never executed" if kind == "unexecuted" else "executed"
                print(f"- `{where}`: {what} ({how})")


if __name__ == "__main__":
    main()
