#!/usr/bin/env bash
# Smoke test of the BUILT bundle (not part of the CI run: it needs installer/build.sh first).
#
#   installer/smoke_test.sh [BUNDLE_DIR]        default: dist/BMISS
#
# Headless under Xvfb (xvfb-run), the bundled application opens the demo in its real window,
# decomposes it through the real worker thread with a small configuration, exports CSV and
# exits 0 only if the CSV holds units (bmiss-gui --smoke-test). Then the bundled command line
# describes the demo (BMISS info). Writes the outcome to bench/results/installer_smoke.json,
# which bench/startup.py copies into bench/results/installer.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE=${1:-dist/BMISS}
EXE="$BUNDLE/BMISS"
[ -x "$EXE" ] || EXE="$BUNDLE/BMISS.exe"
[ -x "$EXE" ] || { echo "smoke_test.sh: no executable in $BUNDLE (run installer/build.sh)" >&2; exit 2; }
OUT=$(mktemp -d "${TMPDIR:-/tmp}/bmiss-smoke.XXXXXX")
RESULT=bench/results/installer_smoke.json

headless=()
mode=display
if command -v xvfb-run >/dev/null; then
  headless=(xvfb-run -a -s "-screen 0 1600x1000x24")
  mode=xvfb-run
elif [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  export QT_QPA_PLATFORM=offscreen  # no X server at all: Qt draws offscreen
  mode=offscreen
fi

start=$(date +%s.%N)
set +e
${headless[@]+"${headless[@]}"} "$EXE" --smoke-test "$OUT" > "$OUT/gui.log" 2>&1
gui_rc=$?
"$EXE" info "$BUNDLE/_internal/resources/demo_recording.npz" > "$OUT/cli.log" 2>&1 \
  || "$EXE" info "$BUNDLE/resources/demo_recording.npz" > "$OUT/cli.log" 2>&1
cli_rc=$?
set -e
elapsed=$(python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))" "$start" "$(date +%s.%N)")

grep -h "BMISS_SMOKE" "$OUT/gui.log" || tail -20 "$OUT/gui.log"
cat "$OUT/cli.log"
status=FAIL
[ $gui_rc -eq 0 ] && [ $cli_rc -eq 0 ] && status=PASS
python3 - "$OUT" "$status" "$gui_rc" "$cli_rc" "$elapsed" "$BUNDLE" "$RESULT" "$mode" <<'PY'
import json, pathlib, platform, sys, time
out, status, gui_rc, cli_rc, elapsed, bundle, result, mode = sys.argv[1:]
report = json.loads((pathlib.Path(out) / "smoke.json").read_text()) if (pathlib.Path(out) / "smoke.json").is_file() else {}
record = {
    "status": status, "gui_exit": int(gui_rc), "cli_exit": int(cli_rc), "wall_s": float(elapsed),
    "bundle": bundle, "date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.system()} {platform.machine()}",
    "display": mode,
    "app": report,
}
pathlib.Path(result).write_text(json.dumps(record, indent=2) + "\n")
PY
echo "smoke test: $status in ${elapsed} s (details in $OUT, summary in $RESULT)"
[ "$status" = PASS ]
