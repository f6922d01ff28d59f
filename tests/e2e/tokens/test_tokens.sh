#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_tokens.sh — tokens an operator manages, end to end: `lepton-broker serve` in the background on a
# loopback port it picks, tokens made with `token create` (one with --expires-in), used over HTTP,
# listed with `token list` (table and --json), revoked with `token revoke` while the broker runs; the
# very next request with a revoked token is 401 "token revoked", an expired one 401 "token expired".
# The store is SQLite, or PostgreSQL when LEPTON_TEST_PG_URL is set (pg_fixture.sh sets it).
# usage: test_tokens.sh LEPTON_BROKER_BIN
set -u
BROKER="$1"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/lepton-tokens-test.XXXXXX")" || { echo "FATAL: no scratch directory"; exit 1; }
DB="${LEPTON_TEST_PG_URL:-$WORK/broker.db}"
FAILS=0
BROKER_PID=""
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  if [ -n "$BROKER_PID" ]; then
    kill -TERM "$BROKER_PID" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$BROKER_PID" 2>/dev/null
    wait "$BROKER_PID" 2>/dev/null
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
die() { echo "FATAL: $*"; echo "--- broker stderr"; tail -30 "$WORK/broker.err" 2>/dev/null; exit 1; }
# expect CODE WHAT -- COMMAND...: stdout in $WORK/out, stderr in $WORK/err
expect() {
  local want="$1" what="$2"; shift 3
  "$@" >"$WORK/out" 2>"$WORK/err"; local rc=$?
  if [ "$rc" -eq "$want" ]; then ok "$what (exit $rc)"; return 0; fi
  fail "$what: exit $rc, expected $want; stdout: $(head -c 400 "$WORK/out"); stderr: $(head -c 400 "$WORK/err")"
  return 1
}
has() { grep -q -- "$1" "$2" && ok "$3" || fail "$3: no '$1' in $(head -c 600 "$2")"; }
# http TOKEN: GET /v1/leases with the token; the status in $WORK/status, the body in $WORK/body
http() {
  curl -s -o "$WORK/body" -w '%{http_code}' --max-time 10 -H "Authorization: Bearer $1" \
    "$URL/v1/leases" >"$WORK/status" 2>"$WORK/curl.err" || echo 000 >"$WORK/status"
}
status_is() { # WANT WHAT
  local got; got="$(cat "$WORK/status")"
  [ "$got" = "$1" ] && ok "$2: HTTP $got" || fail "$2: HTTP $got, expected $1; body: $(head -c 400 "$WORK/body")"
}
field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null; }

# ---------------------------------------------------------------- help
for v in "token --help" "token create --help" "token list --help" "token revoke --help"; do
  # shellcheck disable=SC2086 # the subcommand is two words
  expect 0 "lepton-broker $v" -- "$BROKER" $v && has "token revoke --db" "$WORK/out" "$v names token revoke"
done
expect 2 "token frob" -- "$BROKER" token frob
expect 2 "token revoke without an id" -- "$BROKER" token revoke --db "$DB"
expect 2 "token create --expires-in 0" -- "$BROKER" token create --db "$DB" --tenant acme --expires-in 0
expect 2 "token list --expires-in (a create flag)" -- "$BROKER" token list --db "$DB" --expires-in 5

# ---------------------------------------------------------------- tokens before the broker runs
expect 0 "token create acme" -- "$BROKER" token create --db "$DB" --tenant acme || die "cannot create a token"
TOK_A="$(cat "$WORK/out")"
ID_A="$(grep -o 'tk_[0-9a-f]*' "$WORK/err" | head -1)"
[[ "$TOK_A" == lpt_* ]] && ok "stdout is the token alone" || fail "token create stdout: $TOK_A"
[ -n "$ID_A" ] && ok "token create names the id $ID_A on stderr" || fail "no id on stderr: $(cat "$WORK/err")"
grep -q -- "${TOK_A#lpt_}" "$WORK/err" && fail "the secret is on stderr" || ok "the id is not the secret"
expect 0 "token create acme (second)" -- "$BROKER" token create --db "$DB" --tenant acme
TOK_B="$(cat "$WORK/out")"
ID_B="$(grep -o 'tk_[0-9a-f]*' "$WORK/err" | head -1)"
expect 0 "token create bobcorp --expires-in 1" -- "$BROKER" token create --db "$DB" --tenant bobcorp --expires-in 1
TOK_E="$(cat "$WORK/out")"
ID_E="$(grep -o 'tk_[0-9a-f]*' "$WORK/err" | head -1)"
has "expires about 20" "$WORK/err" "token create --expires-in says when it expires"
expect 0 "token create acme --expires-in 3600" -- "$BROKER" token create --db "$DB" --tenant acme --expires-in 3600
TOK_H="$(cat "$WORK/out")"

# ---------------------------------------------------------------- serve
"$BROKER" serve --listen 127.0.0.1:0 --db "$DB" --log-level warn --test-clock >"$WORK/broker.out" 2>"$WORK/broker.err" &
BROKER_PID=$!
URL=""
for _ in $(seq 1 100); do
  URL="$(sed -n 's#^lepton-broker listening on \(http://[0-9.]*:[0-9]*\)$#\1#p' "$WORK/broker.out" | head -1)"
  [ -n "$URL" ] && break
  kill -0 "$BROKER_PID" 2>/dev/null || die "lepton-broker serve exited"
  sleep 0.1
done
[ -n "$URL" ] || die "lepton-broker serve did not say where it listens"
ok "broker listening on $URL"

http "$TOK_A"; status_is 200 "acme's token works"
http "$TOK_B"; status_is 200 "acme's second token works"
http "lpt_not_a_token"; status_is 401 "an unknown token"

# ---------------------------------------------------------------- list
expect 0 "token list" -- "$BROKER" token list --db "$DB"
has "^ID  *TENANT  *KIND  *CREATED  *EXPIRES  *REVOKED" "$WORK/out" "token list has a header"
has "^$ID_A  *acme  *tenant  *20[0-9-]*T[0-9:]*Z  *never  *-$" "$WORK/out" "token list: acme's token, no expiry, not revoked"
has "^$ID_E  *bobcorp  *tenant  *20[0-9-]*T[0-9:]*Z  *20[0-9-]*T[0-9:]*Z  *-$" "$WORK/out" "token list: bobcorp's token expires"
expect 0 "token list --tenant acme --json" -- "$BROKER" token list --db "$DB" --tenant acme --json
[ "$(field "$WORK/out" 'len(d)')" = 3 ] && ok "three acme tokens" || fail "acme tokens: $(cat "$WORK/out")"
[ "$(field "$WORK/out" '[t["id"] for t in d][:2] == ["'"$ID_A"'", "'"$ID_B"'"] and all(t["kind"] == "tenant" and t["revoked"] is None and t["expires_ms"] is None and t["created"].endswith("Z") for t in d[:2]) and d[2]["expires_ms"] - d[2]["created_ms"] == 3600000')" = True ] \
  && ok "token list --json: ids, kind, created, no expiry, not revoked" || fail "token list --json: $(cat "$WORK/out")"
grep -q -- "${TOK_A#lpt_}" "$WORK/out" && fail "token list shows a secret" || ok "token list shows no secret"

# ---------------------------------------------------------------- revoke while the broker runs
expect 0 "token revoke $ID_A" -- "$BROKER" token revoke --db "$DB" "$ID_A"
has "token $ID_A (tenant acme) is revoked at 20" "$WORK/out" "token revoke says so"
http "$TOK_A"; status_is 401 "the very next request with the revoked token"
[ "$(field "$WORK/body" 'd["error"]["code"]')" = unauthorized ] && ok "code unauthorized" || fail "body: $(cat "$WORK/body")"
has "token revoked" "$WORK/body" "the answer says the token was revoked"
http "$TOK_B"; status_is 200 "acme's other token still works"
expect 0 "token revoke again" -- "$BROKER" token revoke --db "$DB" "$ID_A"
has "was already revoked" "$WORK/out" "revoking again changes nothing and says so"
expect 1 "token revoke of an unknown id" -- "$BROKER" token revoke --db "$DB" tk_0000000000000000
has "no token has id 'tk_0000000000000000'" "$WORK/err" "an unknown id is named"
expect 0 "token list --json after revoke" -- "$BROKER" token list --db "$DB" --json
[ "$(field "$WORK/out" '[t["revoked"] is not None for t in d if t["id"] == "'"$ID_A"'"] == [True]')" = True ] \
  && ok "token list shows the revocation" || fail "token list after revoke: $(cat "$WORK/out")"

# ---------------------------------------------------------------- expiry
sleep 2
http "$TOK_E"; status_is 401 "the token made with --expires-in 1, two seconds later"
has "token expired at 20" "$WORK/body" "the answer says when the token expired"
has "$ID_E" "$WORK/body" "the answer names the expired token's id"
http "$TOK_H"; status_is 200 "a token that expires in an hour works now"
curl -s -o "$WORK/body" --max-time 10 -H "Authorization: Bearer $TOK_B" -H 'Content-Type: application/json' \
  -d '{"advance_ms": 3601000}' "$URL/v1/debug/clock" || fail "cannot move the broker's test clock"
http "$TOK_H"; status_is 401 "the same token an hour and a second later (test clock)"
has "token expired at" "$WORK/body" "the answer says it expired"
http "$TOK_B"; status_is 200 "a token without expiry still works an hour later"

if grep -qE "runtime error|AddressSanitizer|LeakSanitizer" "$WORK/broker.err"; then
  fail "broker: sanitizer report"; grep -A20 -E "runtime error|Sanitizer" "$WORK/broker.err" | head -40
fi
[ "$FAILS" -eq 0 ] && { echo "all checks passed"; exit 0; }
echo "$FAILS check(s) failed"
exit 1
