#!/usr/bin/env bash
# test_cli_vocabulary.sh — one vocabulary across the command line (issue 14, items 3 and 6), against
# `lepton dev`: --help for every verb and subverb and every daemon subcommand; --version and
# --log-level on the daemons (an unknown level refused); --json failures as JSON error objects;
# messages in the flags and commands a person types (no C fields, no REST calls, no C function
# names), the same failure read the same in every verb; "1 GPU-second"; times with their zone; the
# same defaults in `lepton run` and `lepton lease open`; `lepton run` checking its arguments against
# the PTX signature before it leases, moving buffers larger than a job, printing the kernel's printf
# and its progress; a second `lepton dev` on a taken port; shell completion; config profiles.
# usage: test_cli_vocabulary.sh LEPTON BROKER LEPTOND WORKER SAXPY_PTX SPIN_PTX HELLO_PTX
set -u
LEPTON="$1"
BROKER="$2"
LEPTOND="$3"
WORKER="$4"
PTX="$5"
SPIN_PTX="$6"
HELLO_PTX="$7"
# shellcheck source=SCRIPTDIR/../lib/dev.sh
. "$(dirname "$0")/../lib/dev.sh"
dev_init lepton-cli-vocab
export TZ=UTC

has() { grep -q -- "$1" "$2" || { fail "$3: no '$1' in: $(head -c 600 "$2")"; return 1; }; }
hasnt() { if grep -q -- "$1" "$2"; then fail "$3: '$1' in: $(head -c 600 "$2")"; return 1; fi; }
# jerr CODE WHAT: $WORK/out is exactly one JSON error object with that code and the exit code
jerr() {
  python3 - "$WORK/out" "$1" "$2" <<'PY' && ok "$3: JSON error object" || fail "$3: JSON on stdout: $(head -c 600 "$WORK/out")"
import json, sys
d = json.load(open(sys.argv[1]))
e = d["error"]
assert e["code"] == sys.argv[2], e
assert e["exit_code"] == int(sys.argv[3]), e
assert e["message"], e
PY
}

# ---------------------------------------------------------------- --help, --version (no broker needed)
for v in dev quote lease "lease open" "lease list" "lease info" "lease extend" "lease renew" "lease close" \
  run exec nodes usage version config completion; do
  # shellcheck disable=SC2086 # the subverb is two words
  expect 0 "lepton $v --help" -- "$LEPTON" $v --help && has "usage" "$WORK/out" "lepton $v --help"
done
expect 0 "lepton help run = lepton run --help" -- "$LEPTON" help run
"$LEPTON" run --help >"$WORK/run_help" 2>&1
cmp -s "$WORK/out" "$WORK/run_help" && ok "help run is run --help" || fail "lepton help run differs from lepton run --help"
expect 2 "lepton help frob" -- "$LEPTON" help frob
for v in "--help" "serve --help" "token --help" "token create --help"; do
  # shellcheck disable=SC2086
  expect 0 "lepton-broker $v" -- "$BROKER" $v && has "usage" "$WORK/out" "lepton-broker $v"
done
has "token create" "$WORK/out" "token --help names its subcommand"
hasnt "serve --listen" "$WORK/out" "token create --help is about tokens"
expect 0 "lepton-broker --version" -- "$BROKER" --version && has "^lepton-broker 1\." "$WORK/out" "broker version"
expect 0 "leptond --version" -- "$LEPTOND" --version && has "^leptond 1\." "$WORK/out" "leptond version"
expect 0 "lepton-worker --version" -- "$WORKER" --version && has "^lepton-worker 1\." "$WORK/out" "worker version"
expect 0 "leptond --help names --log-level" -- "$LEPTOND" --help && has "--log-level" "$WORK/out" "leptond --help"
expect 0 "lepton-broker serve --help names --log-level" -- "$BROKER" serve --help \
  && has "--log-level" "$WORK/out" "serve --help"

# ---------------------------------------------------------------- log levels: unknown ones refused
expect 2 "lepton-broker serve --log-level loud" -- "$BROKER" serve --listen 127.0.0.1:0 --db "$WORK/b.db" --log-level loud
has "not one of error, warn, info, debug" "$WORK/err" "broker --log-level message"
expect 2 "LEPTON_LOG_LEVEL=loud lepton-broker serve" -- env LEPTON_LOG_LEVEL=loud "$BROKER" serve --listen 127.0.0.1:0 --db "$WORK/b.db"
has "LEPTON_LOG_LEVEL: 'loud'" "$WORK/err" "broker env level message"
expect 2 "LEPTON_LOG_LEVEL=loud leptond" -- env LEPTON_LOG_LEVEL=loud "$LEPTOND" --broker http://127.0.0.1:1 --token lpn_x
has "LEPTON_LOG_LEVEL: 'loud'" "$WORK/err" "leptond env level message"
expect 2 "lepton dev --log-level loud" -- "$LEPTON" dev --log-level loud --data "$WORK/nodev"
expect 2 "LEPTON_LOG_LEVEL=loud lepton dev" -- env LEPTON_LOG_LEVEL=loud "$LEPTON" dev --data "$WORK/nodev"
has "LEPTON_LOG_LEVEL: 'loud'" "$WORK/err" "lepton dev env level message"
expect 2 "leptond --log-level loud" -- "$LEPTOND" --broker http://127.0.0.1:1 --token lpn_x --log-level loud
# a good level is taken: the broker at error level starts and says nothing on stderr at info
# durations a person types are seconds: --node-timeout S (--node-timeout-ms stays)
expect 2 "lepton-broker serve --node-timeout 0" -- "$BROKER" serve --listen 127.0.0.1:0 --db "$WORK/b.db" --node-timeout 0
has "number of seconds" "$WORK/err" "node timeout message"
"$BROKER" serve --listen 127.0.0.1:0 --db "$WORK/b.db" --log-level error --node-timeout 3 >"$WORK/bq.out" 2>"$WORK/bq.err" &
BQ=$!
for _ in $(seq 1 50); do grep -q listening "$WORK/bq.out" && break; sleep 0.1; done
kill -TERM "$BQ" 2>/dev/null; wait "$BQ" 2>/dev/null
grep -q listening "$WORK/bq.out" && ok "broker --log-level error starts" || fail "broker --log-level error: $(cat "$WORK/bq.err")"
[ ! -s "$WORK/bq.err" ] && ok "broker --log-level error: no INFO lines" || fail "broker at error level logged: $(head -3 "$WORK/bq.err")"

# ---------------------------------------------------------------- JSON errors before any broker
expect 2 "quote --gpus 0 --json" -- "$LEPTON" quote --gpus 0 --json && jerr usage 2 "usage error"
expect 3 "nodes --json, broker down" -- "$LEPTON" --endpoint http://127.0.0.1:1 nodes --json && jerr unreachable 3 "ENET"
expect 3 "quote, broker down" -- "$LEPTON" --endpoint http://127.0.0.1:1 quote
cp "$WORK/err" "$WORK/quote_enet"
expect 3 "lease list, broker down" -- "$LEPTON" --endpoint http://127.0.0.1:1 lease list
# liblepton (quote) and the CLI's own REST calls (lease list) say it the same way
for f in "$WORK/quote_enet" "$WORK/err"; do
  has "cannot reach the broker at http://127.0.0.1:1: " "$f" "unreachable broker message" && hasnt "lepton_quote" "$f" "no C function name"
done

# ---------------------------------------------------------------- completion
expect 0 "completion bash" -- "$LEPTON" completion bash
cp "$WORK/out" "$WORK/comp.bash"
# shellcheck disable=SC1090,SC2034
if bash -c '. "$1"; COMP_WORDS=(lepton run --p); COMP_CWORD=2; _lepton; printf "%s\n" "${COMPREPLY[@]}"' _ "$WORK/comp.bash" >"$WORK/c1" 2>&1 \
  && grep -qx -- "--ptx" "$WORK/c1"; then ok "bash completes 'lepton run --p' with --ptx"; else fail "bash completion: $(cat "$WORK/c1")"; fi
bash -c '. "$1"; COMP_WORDS=(lepton lease ""); COMP_CWORD=2; _lepton; printf "%s\n" "${COMPREPLY[@]}"' _ "$WORK/comp.bash" >"$WORK/c2" 2>&1
grep -qx "renew" "$WORK/c2" && grep -qx "open" "$WORK/c2" && ok "bash completes lease subcommands" || fail "lease subcommands: $(cat "$WORK/c2")"
bash -c '. "$1"; COMP_WORDS=(lepton ""); COMP_CWORD=1; _lepton; printf "%s\n" "${COMPREPLY[@]}"' _ "$WORK/comp.bash" >"$WORK/c3" 2>&1
grep -qx "completion" "$WORK/c3" && grep -qx "exec" "$WORK/c3" && ok "bash completes verbs" || fail "verbs: $(cat "$WORK/c3")"
expect 0 "completion zsh" -- "$LEPTON" completion zsh
head -1 "$WORK/out" | grep -q "^#compdef lepton" && ok "zsh script is a #compdef file" || fail "zsh head: $(head -1 "$WORK/out")"
if command -v zsh >/dev/null; then
  zsh -n "$WORK/out" && ok "zsh script parses" || fail "zsh -n"
fi
expect 2 "completion fish" -- "$LEPTON" completion fish

# ---------------------------------------------------------------- a running lepton dev
dev_start --emulate 1
has 'at \$1.00 per GPU-hour' "$WORK/dev.out" "dev banner prints money as every verb does"

# a second `lepton dev` on the same port says another one runs there
expect 1 "second lepton dev on the same port" -- "$LEPTON" dev --port "$PORT" --emulate 1 --data "$WORK/data2"
has "another \`lepton dev\` is already running on 127.0.0.1:$PORT" "$WORK/err" "second dev"

# --json failures, words of the command line
expect 13 "lease info ls_nope --json" -- "$LEPTON" lease info ls_nope --json && jerr not_found 13 "ENOTFOUND"
hasnt "/v1/" "$WORK/err" "no REST call in a hint"
has "lepton lease list" "$WORK/err" "the hint is a command"
expect 5 "lease open --gpus 2 (one GPU exists)" -- "$LEPTON" lease open --gpus 2 --json && jerr no_capacity 5 "ENOCAPACITY"
has "--gpus 2 exceeds" "$WORK/err" "the flag, not the field" && hasnt "gpu_count" "$WORK/err" "no C field"
hasnt "waits for capacity" "$WORK/err" "no wait hint for a request no node can hold"
expect 6 "lease open --max-price 0.1" -- "$LEPTON" lease open --max-price 0.1
has 'at \$1.00 per GPU-hour, above --max-price \$0.10 per GPU-hour' "$WORK/err" "prices said one way" \
  && hasnt '/h' "$WORK/err" "no \$/h"

# a wrong token: the hint is what this user can do (the operator's command is the operator's)
expect 4 "quote with a wrong token" -- "$LEPTON" --token lpt_wrong quote
cp "$WORK/err" "$WORK/auth_quote"
expect 4 "nodes with a wrong token" -- "$LEPTON" --token lpt_wrong nodes
for f in "$WORK/auth_quote" "$WORK/err"; do
  has "check --token, \$LEPTON_TOKEN or the profile's token" "$f" "auth hint" && hasnt "--db DB" "$f" "no operator command line"
done

# the same refusal reads the same in run and lease open
"$LEPTON" lease open --json >"$WORK/held.json" 2>"$WORK/err" || fail "lease open: $(cat "$WORK/err")"
HELD="$(json "$WORK/held.json" 'd["id"]')"
[ "$(json "$WORK/held.json" 'd["ttl_seconds"]')" = 3600 ] && ok "lease open: ttl 3600 s by default" \
  || fail "lease open ttl: $(cat "$WORK/held.json")"
T0=$SECONDS
expect 5 "lease open, the GPU held" -- "$LEPTON" lease open
sed 's/^lepton: lease open: //' "$WORK/err" >"$WORK/refusal_open"
expect 5 "run, the GPU held (no --wait: answers now, as lease open)" -- "$LEPTON" run --ptx "$PTX" --kernel saxpy --grid 1 --block 1 u32:0 f32:1 zero:4 zero:4
[ $((SECONDS - T0)) -lt 20 ] && ok "run does not wait by default" || fail "run took $((SECONDS - T0)) s to refuse"
grep -v "^lepton: lease " "$WORK/err" | sed 's/^lepton: run: lease: //' >"$WORK/refusal_run"
sed -i 's/lepton run --wait/lepton VERB --wait/; s/lepton lease open --wait/lepton VERB --wait/' "$WORK/refusal_open" "$WORK/refusal_run"
cmp -s "$WORK/refusal_open" "$WORK/refusal_run" && ok "no capacity reads the same in run and lease open" \
  || fail "refusals differ: open: $(cat "$WORK/refusal_open") / run: $(cat "$WORK/refusal_run")"
has "lepton quote" "$WORK/refusal_run" "refusal hint"
expect 0 "lease close (human)" -- "$LEPTON" lease close "$HELD"
expect 0 "lease info (human)" -- "$LEPTON" lease info "$HELD"
grep -qE "^started +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} UTC$" "$WORK/out" && ok "times carry their zone" \
  || fail "lease info times: $(cat "$WORK/out")"
# a lease closed within its first second is billed 1 GPU-second
"$LEPTON" lease open --json >"$WORK/short.json" 2>"$WORK/err" || fail "lease open: $(cat "$WORK/err")"
expect 0 "lease close at once (human)" -- "$LEPTON" lease close "$(json "$WORK/short.json" 'd["id"]')"
N="$(sed -n 's/.*(\([0-9]*\) GPU-second.*/\1/p' "$WORK/out")"
if [ "$N" = 1 ]; then has "(1 GPU-second)" "$WORK/out" "singular GPU-second"
else has "($N GPU-seconds)" "$WORK/out" "plural GPU-seconds (the machine was slow: not 1)"; fi

# ---------------------------------------------------------------- lepton run: the PTX signature, before leasing
"$LEPTON" lease list --json >"$WORK/before.json"
N0="$(json "$WORK/before.json" 'len(d)')"
expect 2 "run f32 for a .u32" -- "$LEPTON" run --ptx "$PTX" --kernel saxpy --grid 1 --block 1 f32:1 f32:2 zero:4 zero:4
has "argument 1 'f32:1' does not fit parameter 1 of saxpy" "$WORK/err" "type mismatch" && has "give u32:VALUE" "$WORK/err" "the fix"
expect 2 "run with 3 of 4 arguments" -- "$LEPTON" run --ptx "$PTX" --kernel saxpy --grid 1 --block 1 u32:1 f32:2 zero:4
has "kernel saxpy takes 4 arguments" "$WORK/err" "count"
expect 2 "run a buffer for a .f32" -- "$LEPTON" run --ptx "$PTX" --kernel saxpy --grid 1 --block 1 u32:1 zero:4 zero:4 zero:4
has "is a buffer" "$WORK/err" "buffer for a value"
expect 2 "run --kernel missing" -- "$LEPTON" run --ptx "$PTX" --kernel saxpi --grid 1 --block 1 u32:1
has "no kernel 'saxpi'" "$WORK/err" "kernel name" && has "saxpy" "$WORK/err" "lists the kernels"
expect 2 "run --gpus 2 says how to split" -- "$LEPTON" run --gpus 2 --ptx "$PTX" --kernel saxpy --grid 1 --block 1
has "split the" "$WORK/err" "split hint"
"$LEPTON" lease list --json >"$WORK/after.json"
[ "$(json "$WORK/after.json" 'len(d)')" = "$N0" ] && ok "refused runs leased nothing" || fail "a refused run opened a lease"

# ---------------------------------------------------------------- run: defaults, large buffers, printf, progress
expect 0 "run with a 280 MiB buffer (more than one job carries)" -- "$LEPTON" run --json --ptx "$PTX" --kernel saxpy \
  --grid 1 --block 1 u32:0 f32:1 zero:280M zero:4
pycheck "the 280 MiB run went up" 'assert d["bytes_up"] == (280 << 20) + 4, d'
RUN_ID="$(json "$WORK/out" 'd["lease"]')"
"$LEPTON" lease info "$RUN_ID" --json >"$WORK/runlease.json"
[ "$(json "$WORK/runlease.json" 'd["ttl_seconds"]')" = 3600 ] && ok "run: ttl 3600 s by default, as lease open" \
  || fail "run's lease ttl: $(cat "$WORK/runlease.json")"
expect 0 "run a kernel that prints" -- "$LEPTON" run --ptx "$HELLO_PTX" --kernel hello --grid 1 --block 2 u32:7
has "^hello 7 from block 0 thread 1$" "$WORK/out" "the kernel's printf reaches the user's stdout"
grep -q "hello 7" "$WORK/dev.out" "$WORK/dev.err" && fail "the kernel's printf went to lepton dev's terminal" || ok "not to the node's terminal"
expect 0 "run --json a kernel that prints" -- "$LEPTON" run --json --ptx "$HELLO_PTX" --kernel hello --grid 1 --block 1 u32:9
pycheck "run --json carries the output" 'assert d["output"] == "hello 9 from block 0 thread 0\n" and d["output_stderr"] == "", d'
expect 10 "a spinning kernel past --timeout 7" -- "$LEPTON" run --timeout 7 --ptx "$SPIN_PTX" --kernel watchdog_spin \
  --grid 1 --block 1 zero:4 u32:1 zero:4
has "kernel watchdog_spin still running: [0-9]* s" "$WORK/err" "progress while the kernel runs"

# ---------------------------------------------------------------- config profiles
XDG="$WORK/xdg"
mkdir -p "$XDG/lepton"
CONF="$XDG/lepton/config"
cat >"$CONF" <<EOF
# lepton profiles
[default]
endpoint = http://127.0.0.1:1

[dev]
endpoint = $LEPTON_ENDPOINT
EOF
chmod 644 "$CONF"
E="$LEPTON_ENDPOINT"
unset LEPTON_ENDPOINT
expect 3 "default profile's endpoint is used" -- env XDG_CONFIG_HOME="$XDG" "$LEPTON" nodes
expect 0 "--profile dev" -- env XDG_CONFIG_HOME="$XDG" "$LEPTON" --profile dev nodes
expect 0 "LEPTON_PROFILE=dev" -- env XDG_CONFIG_HOME="$XDG" LEPTON_PROFILE=dev "$LEPTON" nodes
expect 0 "the environment beats the profile" -- env XDG_CONFIG_HOME="$XDG" LEPTON_ENDPOINT="$E" "$LEPTON" nodes
expect 3 "the flag beats the environment" -- env XDG_CONFIG_HOME="$XDG" LEPTON_ENDPOINT="$E" "$LEPTON" --endpoint http://127.0.0.1:1 nodes
expect 1 "--profile nosuch" -- env XDG_CONFIG_HOME="$XDG" "$LEPTON" --profile nosuch nodes
has "has no \[nosuch\] profile" "$WORK/err" "unknown profile"
expect 0 "lepton config --json" -- env XDG_CONFIG_HOME="$XDG" LEPTON_PROFILE=dev "$LEPTON" config --json
pycheck "config shows where each setting comes from" \
  "assert d['profile'] == 'dev' and d['endpoint'] == {'value': '$E', 'from': 'profile'} and d['token']['set'] is False, d"
printf '[dev]\nendpoint = %s\ntoken = %s\n' "$E" "${TOKEN:-lpt_x}" >"$CONF"
chmod 644 "$CONF"
expect 1 "a token in a world-readable config file is refused" -- env XDG_CONFIG_HOME="$XDG" "$LEPTON" --profile dev nodes
has "chmod 600" "$WORK/err" "permission message"
chmod 600 "$CONF"
expect 0 "… and taken once it is 600" -- env XDG_CONFIG_HOME="$XDG" "$LEPTON" --profile dev usage --json
pycheck "the profile's token acts as its tenant" 'assert d["tenant"] == "dev", d'
expect 0 "LEPTON_CONFIG names another file" -- env LEPTON_CONFIG="$CONF" "$LEPTON" --profile dev nodes
printf '[dev]\nendpont = x\n' >"$CONF"
expect 1 "an unknown key is an error" -- env XDG_CONFIG_HOME="$XDG" "$LEPTON" --profile dev nodes
has "config:2: unknown key 'endpont'" "$WORK/err" "config line number"
expect 0 "help works whatever the config file holds" -- env XDG_CONFIG_HOME="$XDG" "$LEPTON" --profile dev run --help
export LEPTON_ENDPOINT="$E"

sanitizer_check "$WORK/dev.err"
dev_stop
echo "$FAILS failure(s)"
[ "$FAILS" -eq 0 ]
