#!/usr/bin/env bash
# Interleaved A/B runs of fedtrail builds against the floor, on one corpus
# shape: the quick check behind each speed change of issue 6. (The full
# harness, `cargo bench --bench compare`, also times the peers and takes
# many minutes.)
#
#   benches/ab.sh SHAPE RUNS FEDTRAIL...
#   cp target/release/fedtrail /tmp/before && strip /tmp/before   # keep a build
#   benches/ab.sh 400 9 /tmp/before target/release/fedtrail
#
# SHAPE is records per object: 35 or 400, the harness's two shapes (1,000,000
# records, a real trail's mix); or `events`: the 18,000 federation events such
# a trail holds and nothing else, 400 to an object, where the work done for
# each event (parse, classify, merge, the events table: the scan's last ~40
# ms) is half the run, so a change to it shows above the noise (compare the
# builds' times there, not their ratios to the floor). The corpus
# is generated once, with the first FEDTRAIL, in
# ${TMPDIR:-/tmp}/fedtrail-ab-SHAPE. Each run times the
# floor (the harness binary's `--floor LIST 2`: fedtrail's decompressor
# inflating every object on 2 threads, nothing else), then each FEDTRAIL's
# `scan --threads 2 --full`. It prints each one's median wall time, its
# ratio to the floor's median, and every run's time. This machine's speed
# moves from minute to minute: only ratios from one invocation compare.
set -euo pipefail
if [ $# -lt 3 ]; then
    sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
shape=$1 runs=$2
shift 2
bins=()
for bin in "$@"; do
    bins+=("$(realpath "$bin")")
done
set -- "${bins[@]}"
cd "$(dirname "$0")/.."
floor=$(cargo bench --bench compare --no-run --message-format=json 2>/dev/null |
    grep '"kind":\["bench"\],[^}]*"name":"compare"' |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
[ -x "$floor" ] || { echo "ab.sh: cannot build the harness (cargo bench --bench compare --no-run)" >&2; exit 2; }
corpus=${TMPDIR:-/tmp}/fedtrail-ab-$shape
if [ ! -f "$corpus.list" ]; then
    rm -rf "$corpus"
    case $shape in
    events) mix=(--events 18000 --records-per-object 400 --noise-share 0) ;;
    *) mix=(--events 1000000 --records-per-object "$shape" --noise-share 0.99) ;;
    esac
    "$1" generate --out "$corpus" "${mix[@]}" --scenario none >/dev/null
    find "$corpus" -name '*.json.gz' | sort >"$corpus.list"
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Seconds taken by a command, its output discarded. A scan may end with
# exit code 1 (some input unreadable); anything else above 0 stops the runs.
timed() {
    local start=$EPOCHREALTIME rc=0
    "$@" >/dev/null 2>"$out/stderr" || rc=$?
    if [ "$rc" -gt 1 ]; then
        echo "ab.sh: $* failed (exit code $rc): $(tail -n 1 "$out/stderr")" >&2
        exit 2
    fi
    echo "$EPOCHREALTIME - $start" | awk '{ printf "%.3f", $1 - $3 }'
}
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Every file is read just before each timed run, so that each is timed
# with the corpus in the page cache: this machine's cache gives pages back
# within seconds, and a run would otherwise also wait on the disk for the
# ones evicted since the run before.
warm() { xargs -a "$corpus.list" cat >/dev/null; }

# Times by position (0 is the floor), so that one build given twice (an
# A/A run, to see the noise) is timed as two.
names=(floor "$@")
times=()
for _ in $(seq "$runs"); do
    warm
    times[0]+="$(timed "$floor" --floor "$corpus.list" 2) "
    for i in $(seq "$#"); do
        rm -rf "$out/report"
        warm
        times[i]+="$(timed "${names[i]}" scan "$corpus" --threads 2 --full --quiet --out "$out/report") "
    done
done
base=$(echo "${times[0]}" | median)
for i in "${!names[@]}"; do
    m=$(echo "${times[i]}" | median)
    printf '%-40s %6.3f s %5.2fx   [%s]\n' "${names[i]}" "$m" "$(awk "BEGIN { print $m / $base }")" "${times[i]% }"
done
