#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_ui.sh — the broker's page (GET /ui) in a real browser: headless Chromium loads it against a
# running `lepton dev` with a closed and an active lease and the test reads what the page shows
# (the fleet by model, each lease's state and cost as the CLI prints it, the totals, the chart);
# a bad token shows the login form with the broker's message; a broker that needs tokens shows
# nothing without one. A screenshot is kept as a CI artifact (build/artifacts/broker-ui.png).
# usage: test_ui.sh LEPTON_BIN LEPTON_BROKER_BIN CHROMIUM_BIN ARTIFACT_DIR
# Exits 77 (CTest: skipped) when no Chromium is installed.
set -u
LEPTON="$1"
BROKER="$2"
CHROME="$3"
ARTIFACTS="$4"
if [ -z "$CHROME" ] || ! command -v "$CHROME" >/dev/null 2>&1; then
  echo "SKIP: no headless Chromium (apt-get install chromium-headless-shell, or chromium)"
  exit 77
fi
# shellcheck source=SCRIPTDIR/../lib/dev.sh
. "$(dirname "$0")/../lib/dev.sh"
dev_init lepton-ui-test
BROKER_PID=""
before_dev_cleanup() { [ -n "$BROKER_PID" ] && kill -9 "$BROKER_PID" 2>/dev/null; wait 2>/dev/null; }

# browse URL → the DOM after the page's scripts ran, in $WORK/dom.html
browse() {
  "$CHROME" --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$WORK/chrome" \
    --virtual-time-budget=8000 --dump-dom "$1" >"$WORK/dom.html" 2>"$WORK/chrome.err"
}

# page_json → what the page shows, as JSON on stdout (tables by id, row data attributes, texts)
page_json() {
  python3 - "$WORK/dom.html" <<'PY'
import html.parser, json, sys
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.out = {"tables": {}, "ids": {}, "hidden": [], "body": {}, "svg_paths": 0}
        self.table = None; self.row = None; self.cell = None; self.idstack = []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body": self.out["body"] = a
        if "hidden" in a and "id" in a: self.out["hidden"].append(a["id"])
        if tag == "table": self.table = a.get("id"); self.out["tables"][self.table] = []
        if tag == "tr" and self.table: self.row = {"attrs": a, "cells": []}
        if tag in ("td",) and self.row is not None: self.cell = ""
        if tag == "path": self.out["svg_paths"] += 1
        if "id" in a: self.idstack.append([a["id"], tag, ""])
    def handle_endtag(self, tag):
        if tag in ("td",) and self.row is not None and self.cell is not None:
            self.row["cells"].append(self.cell.strip()); self.cell = None
        if tag == "tr" and self.row is not None:
            if self.row["cells"]: self.out["tables"][self.table].append(self.row)
            self.row = None
        if tag == "table": self.table = None
        if self.idstack and self.idstack[-1][1] == tag:
            i, _, text = self.idstack.pop(); self.out["ids"][i] = " ".join(text.split())
    def handle_data(self, d):
        if self.cell is not None: self.cell += d
        for e in self.idstack: e[2] += d
p = P(); p.feed(open(sys.argv[1], encoding="utf-8").read()); print(json.dumps(p.out))
PY
}

# money as lepton prints it (src/common/money.c): six decimals, zeros beyond the cents dropped
money() { python3 -c "
import sys; a = float(sys.argv[1]); s = '%.6f' % abs(a)
while len(s) - s.index('.') > 3 and s.endswith('0'): s = s[:-1]
print(('-' if a < 0 and s.strip('0.') else '') + '\$' + s)" "$1"; }

# ---------------------------------------------------------------- lepton dev with two leases
dev_start --emulate 2
"$LEPTON" lease open --gpus 1 --json >"$WORK/a.json" 2>"$WORK/err" || die "lease open: $(cat "$WORK/err")"
A="$(json "$WORK/a.json" "d['id']")"
sleep 2
"$LEPTON" lease close "$A" >/dev/null 2>"$WORK/err" || die "lease close: $(cat "$WORK/err")"
"$LEPTON" lease info "$A" --json >"$WORK/a.json" 2>"$WORK/err" || die "lease info: $(cat "$WORK/err")"
A_COST="$(money "$(json "$WORK/a.json" "d['cost']")")"
A_REASON="$(json "$WORK/a.json" "d['end_reason']")"
"$LEPTON" lease open --gpus 1 --json >"$WORK/b.json" 2>"$WORK/err" || die "lease open: $(cat "$WORK/err")"
B="$(json "$WORK/b.json" "d['id']")"
[ -n "$A" ] && [ -n "$B" ] && ok "two leases: $A (closed, $A_COST), $B (active)" || die "no lease ids"

# ---------------------------------------------------------------- the HTTP side
curl -s -o /dev/null -w '%{http_code} %{redirect_url}\n' "$LEPTON_ENDPOINT/" >"$WORK/out"
grep -q "^302 .*/ui$" "$WORK/out" && ok "GET / redirects to /ui" || fail "GET /: $(cat "$WORK/out")"
curl -s -D "$WORK/headers" -o "$WORK/index.html" "$LEPTON_ENDPOINT/ui"
grep -qi '^content-type: text/html' "$WORK/headers" && ok "/ui is text/html" || fail "/ui headers: $(cat "$WORK/headers")"
grep -qi "^content-security-policy: default-src 'none'; script-src 'self'" "$WORK/headers" \
  && ok "/ui has a Content-Security-Policy" || fail "/ui: no CSP"
if grep -qE '(src|href)="(https?:)?//' "$WORK/index.html"; then fail "/ui loads something from elsewhere"; else
  ok "/ui loads nothing from elsewhere (works offline)"; fi
for f in app.js app.css; do
  code="$(curl -s -o /dev/null -w '%{http_code}' "$LEPTON_ENDPOINT/ui/$f")"
  [ "$code" = 200 ] && ok "/ui/$f served" || fail "/ui/$f: HTTP $code"
done

# ---------------------------------------------------------------- the page with the dev token
browse "$LEPTON_ENDPOINT/ui#token=$TOKEN"
page_json >"$WORK/page.json" || die "cannot parse the page's DOM"
python3 - "$WORK/page.json" "$A" "$A_COST" "$B" "$A_REASON" <<'PY' || FAILS=$((FAILS + 1))
import json, re, sys
p = json.load(open(sys.argv[1])); a, a_cost, b, a_reason = sys.argv[2:6]
bad = []
def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond: bad.append(what)
check(p["body"].get("data-loaded") == "1", "the page loaded its data (body data-loaded=1, got %r)" % p["body"].get("data-loaded"))
check("main" not in p["hidden"] and "login" in p["hidden"], "data shown, login form hidden")
leases = {r["attrs"].get("data-lease-id"): r["cells"] for r in p["tables"].get("leases", [])}
check(a in leases and b in leases, "both leases listed (%s)" % sorted(k for k in leases if k))
if a in leases:
    check(leases[a][1] == "closed", "lease A shows closed (got %r)" % leases[a][1])
    check(leases[a][3] == a_cost, "lease A shows its cost as the CLI prints it: %s (got %r)" % (a_cost, leases[a][3]))
    check(a_reason != "" and re.fullmatch(re.escape(a_reason) + r" at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d (UTC|[+-]\d\d:\d\d)",
                                     leases[a][6]) is not None,
          "lease A says why (%r) and when, with its zone, it ended (%r)" % (a_reason, leases[a][6]))
if b in leases:
    check(leases[b][1] == "active", "lease B shows active (got %r)" % leases[b][1])
    check(" left " in leases[b][6], "lease B shows its time left (%r)" % leases[b][6])
    check(leases[b][3].startswith("$"), "lease B shows its cost so far (%r)" % leases[b][3])
models = {r["attrs"].get("data-model"): r["cells"] for r in p["tables"].get("models", [])}
m = models.get("Lepton CPU Device (emulated)")
check(m is not None and m[1:4] == ["2", "1", "1"], "fleet by model: 2 GPUs, 1 free, 1 leased (got %r)" % m)
check(m is not None and m[4] == "$1.00", "fleet price $1.00 per GPU-hour (got %r)" % (m and m[4]))
nodes = {r["attrs"].get("data-node"): r["cells"] for r in p["tables"].get("nodes", [])}
check("dev" in nodes and nodes["dev"][1] == "ready", "node dev listed as ready (%r)" % nodes.get("dev"))
check(p["ids"].get("totals", "").startswith("2 leases, 1 active;"), "totals: %r" % p["ids"].get("totals"))
check(p["svg_paths"] >= 2, "usage chart drawn (%d paths)" % p["svg_paths"])
check("tenant dev" in p["ids"].get("tenant", ""), "tenant shown (%r)" % p["ids"].get("tenant"))
sys.exit(1 if bad else 0)
PY

mkdir -p "$ARTIFACTS"
"$CHROME" --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$WORK/chrome" --hide-scrollbars \
  --window-size=1280,900 --virtual-time-budget=8000 --screenshot="$ARTIFACTS/broker-ui.png" \
  "$LEPTON_ENDPOINT/ui#token=$TOKEN" >/dev/null 2>>"$WORK/chrome.err"
if [ -s "$ARTIFACTS/broker-ui.png" ] && [ "$(head -c 8 "$ARTIFACTS/broker-ui.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; then
  ok "screenshot kept: $ARTIFACTS/broker-ui.png ($(stat -c %s "$ARTIFACTS/broker-ui.png") bytes)"
else fail "no screenshot"; fi

# ---------------------------------------------------------------- a bad token: the login form
browse "$LEPTON_ENDPOINT/ui#token=not-a-token"
page_json >"$WORK/page.json"
pycheck_page() { python3 -c "import json,sys; p=json.load(open('$WORK/page.json')); sys.exit(0 if ($1) else 1)"; }
pycheck_page "p['body'].get('data-loaded') == 'login' and 'login' not in p['hidden'] and 'main' in p['hidden']" \
  && ok "a bad token shows the login form, no data" || fail "bad token: $(head -c 600 "$WORK/page.json")"
pycheck_page "'token' in p['ids'].get('login-why', '').lower()" \
  && ok "the form says why: $(json "$WORK/page.json" "d['ids'].get('login-why')")" || fail "login form gives no reason"
dev_stop

# ---------------------------------------------------------------- a broker that needs tokens
BPORT="$(dev_pick_port)"
"$BROKER" serve --listen "127.0.0.1:$BPORT" --db "$WORK/broker.db" >"$WORK/broker.out" 2>&1 &
BROKER_PID=$!
for _ in $(seq 1 50); do grep -q listening "$WORK/broker.out" && break; sleep 0.1; done
T="$("$BROKER" token create --db "$WORK/broker.db" --tenant acme 2>/dev/null | tail -1)"
browse "http://127.0.0.1:$BPORT/ui"
page_json >"$WORK/page.json"
pycheck_page "p['body'].get('data-loaded') == 'login' and 'main' in p['hidden']" \
  && ok "no token: the page shows no data and asks for one" || fail "no token: $(head -c 600 "$WORK/page.json")"
browse "http://127.0.0.1:$BPORT/ui#token=$T"
page_json >"$WORK/page.json"
pycheck_page "p['body'].get('data-loaded') == '1' and 'no nodes registered' in ' '.join(c for r in p['tables']['nodes'] for c in r['cells'])" \
  && ok "tenant acme's token: the page loads (no nodes, no leases)" || fail "acme token: $(head -c 600 "$WORK/page.json")"

[ "$FAILS" -eq 0 ] && echo "PASS: test_ui" || { echo "FAILED: $FAILS check(s)"; exit 1; }
