#!/bin/bash
# The German translation reaches the user: peerlinkctl and peerlinkd print
# their help (and peerlinkctl its errors) in German with LANGUAGE=de, and in
# English with LANGUAGE=en. Both read the uninstalled catalogue from
# PEERLINK_LOCALEDIR (<build>/po/de/LC_MESSAGES/peerlink.mo).
#
# Only strings of po/de.po are checked, never GLib's own ("Usage:" and
# friends), which depend on the glib translations installed on the machine.
#
# Usage: test-translation.sh PEERLINKCTL PEERLINKD LOCALEDIR
set -euo pipefail

if [[ $# -ne 3 ]]; then
	echo "usage: $0 PEERLINKCTL PEERLINKD LOCALEDIR" >&2
	exit 2
fi
peerlinkctl=$1
peerlinkd=$2
localedir=$3

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

[[ -f "$localedir/de/LC_MESSAGES/peerlink.mo" ]] ||
	fail "$localedir/de/LC_MESSAGES/peerlink.mo was not built"

# gettext ignores LANGUAGE when the messages locale is "C" or "POSIX" (also
# when setlocale() falls back to C because the requested locale is missing).
# C.UTF-8 is not "C" and works with glibc >= 2.35; otherwise any installed
# UTF-8 locale does. Only the LANGUAGE variable picks the translation.
pick_locale() {
	local available candidate
	available=$(locale -a 2>/dev/null | tr '[:upper:]' '[:lower:]' | sed 's/utf-8/utf8/') || true
	for candidate in C.UTF-8 de_DE.UTF-8 en_US.UTF-8; do
		if grep -qx "$(echo "$candidate" | tr '[:upper:]' '[:lower:]' | sed 's/utf-8/utf8/')" \
			<<<"$available"; then
			echo "$candidate"
			return 0
		fi
	done
	# any other UTF-8 locale
	candidate=$(locale -a 2>/dev/null | grep -i -m1 -E '^[a-z]{2}_[a-z]{2}\.utf-?8$') || true
	[[ -n "$candidate" ]] && echo "$candidate"
}
locale_name=$(pick_locale) || true
if [[ -z "$locale_name" ]]; then
	echo "SKIP: no UTF-8 locale other than C/POSIX is installed (locale -a); gettext would ignore LANGUAGE"
	exit 77
fi
echo "# using LC_ALL=$locale_name"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/peerlink-i18n.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# run LANG OUTFILE PROGRAM ARGS...: stdout and stderr into OUTFILE, exit code on stdout
run() {
	local language=$1 out=$2 rc=0
	shift 2
	env -u LC_MESSAGES -u LANG \
		LANGUAGE="$language" LC_ALL="$locale_name" PEERLINK_LOCALEDIR="$localedir" \
		XDG_RUNTIME_DIR="$tmp" XDG_CONFIG_HOME="$tmp/config" XDG_STATE_HOME="$tmp/state" \
		timeout 10 "$@" >"$out" 2>&1 </dev/null || rc=$?
	echo "$rc"
}

expect_rc() { # EXPECTED ACTUAL WHAT
	[[ "$2" == "$1" ]] || fail "$3 exited with $2, expected $1"
}

has() { # FILE TEXT
	grep -qF -- "$2" "$1" || {
		echo "--- $1:" >&2
		cat "$1" >&2
		fail "missing: $2"
	}
}

lacks() { # FILE TEXT
	if grep -qF -- "$2" "$1"; then
		echo "--- $1:" >&2
		cat "$1" >&2
		fail "unexpected: $2"
	fi
}

checks=0
check_pair() { # FILE GERMAN ENGLISH LANGUAGE
	if [[ $4 == de ]]; then
		has "$1" "$2"
		lacks "$1" "$3"
	else
		has "$1" "$3"
		lacks "$1" "$2"
	fi
	checks=$((checks + 1))
}

missing_socket="$tmp/nobody-listens.sock"

for language in de en; do
	# peerlinkctl --help: summary, option descriptions and argument names, commands
	out="$tmp/ctl-help.$language"
	expect_rc 0 "$(run "$language" "$out" "$peerlinkctl" --help)" "peerlinkctl --help ($language)"
	check_pair "$out" "Den peerlink-Agenten abfragen und verwenden." \
		"Inspect and use the peerlink agent." "$language"
	check_pair "$out" "BEFEHL [ARGUMENTE…]" "COMMAND [ARGS" "$language"
	check_pair "$out" "--socket=PFAD" "--socket=PATH" "$language"
	check_pair "$out" "Mit dem Agenten über den Unix-Socket PFAD kommunizieren" \
		"Talk to the agent on the Unix socket PATH" "$language"
	check_pair "$out" "Maschinenlesbares JSON ausgeben" "Print machine-readable JSON" "$language"
	check_pair "$out" "Befehle:" "Commands:" "$language"
	check_pair "$out" "Die Peer-ID dieses Agenten ausgeben" "Print this agent's peer ID" "$language"
	check_pair "$out" "„peerlinkctl BEFEHL --help“ zeigt die Optionen eines Befehls an." \
		"Run “peerlinkctl COMMAND --help” for the options of a command." "$language"

	# peerlinkctl status --help: the command's summary
	out="$tmp/ctl-status-help.$language"
	expect_rc 0 "$(run "$language" "$out" "$peerlinkctl" status --help)" \
		"peerlinkctl status --help ($language)"
	check_pair "$out" \
		"Version, Identität, Laufzeit, Rendezvous-Dienst, NAT und Sitzungen des Agenten anzeigen" \
		"Show the agent's version, identity, uptime, rendezvous, NAT and sessions" "$language"

	# a printf-style message of peerlinkctl
	out="$tmp/ctl-unknown.$language"
	expect_rc 2 "$(run "$language" "$out" "$peerlinkctl" no-such-command)" \
		"peerlinkctl no-such-command ($language)"
	check_pair "$out" "peerlinkctl: unbekannter Befehl „no-such-command“ (siehe peerlinkctl --help)" \
		"peerlinkctl: unknown command “no-such-command” (see peerlinkctl --help)" "$language"

	# a message of the client library (ipc/pl-client.c) inside one of peerlinkctl
	out="$tmp/ctl-not-running.$language"
	expect_rc 3 "$(run "$language" "$out" "$peerlinkctl" --socket "$missing_socket" status)" \
		"peerlinkctl status without an agent ($language)"
	check_pair "$out" "der Agent läuft nicht (auf $missing_socket lauscht niemand)" \
		"the agent is not running (nothing listens on $missing_socket)" "$language"
	check_pair "$out" "starten Sie ihn mit „systemctl --user start peerlinkd.socket“" \
		"start it with “systemctl --user start peerlinkd.socket”" "$language"

	# peerlinkd --help: summary and option descriptions. This needs agent/main.c
	# to bind the text domain to PEERLINK_LOCALEDIR when it is set, as
	# cli/peerlinkctl.c does.
	out="$tmp/d-help.$language"
	expect_rc 0 "$(run "$language" "$out" "$peerlinkd" --help)" "peerlinkd --help ($language)"
	check_pair "$out" \
		"Der peerlink-Agent: NAT-Traversal für die Anwendungen dieser Benutzersitzung." \
		"The peerlink agent: NAT traversal for the apps of this user session." "$language"
	check_pair "$out" "--state-dir=VERZ" "--state-dir=DIR" "$language"
	check_pair "$out" "Identität und Zustand im Verzeichnis VERZ ablegen" \
		"Keep the identity and state in DIR" "$language"
	check_pair "$out" "Auf dem Unix-Socket PFAD Verbindungen von Anwendungen annehmen" \
		"Listen for apps on the Unix socket PATH" "$language"
	check_pair "$out" "Version ausgeben und beenden" "Print the version and exit" "$language"
done

echo "# $checks checks"
