#!/usr/bin/env bash
# A real llama.cpp server for tests and demos, from Debian's own packages, without a system install.
#
# Debian 12 has no llama.cpp; Debian testing packages it (llama.cpp-tools, libllama0, libggml0), but
# those need a newer C library than Debian 12's. So this script downloads them, with the C runtime they
# need, from the Debian mirror this machine's apt sources already use (suite "forky", i.e. testing),
# unpacks them into a private folder, and runs llama-server through the unpacked dynamic loader.
#
#   scripts/llama-server.sh fetch                       download + unpack once (cached), print the root
#   scripts/llama-server.sh version                     print `llama-server --version`
#   scripts/llama-server.sh start --state-dir DIR [--model M.gguf] [--ctx N] [--slots N] [--threads N] [-- FLAGS...]
#       start llama-server on a free loopback port (FLAGS go to llama-server, e.g. --embeddings
#       --pooling mean), wait until /v1/models answers, print the base URL (with /v1) and write
#       DIR/pid, DIR/port, DIR/base_url; the server's log is DIR/server.log. --ctx is split over
#       --slots (-c, -np: each request gets ctx/slots tokens). --threads defaults to 1: ggml's
#       OpenMP threads spin while they wait, which on a busy machine made the tiny model 100x slower.
#   scripts/llama-server.sh stop --state-dir DIR        stop the server started with that DIR
#   scripts/llama-server.sh run [FLAGS...]              run llama-server in the foreground
#
# Cache folder: $SELFALIGN_LLAMA_DIR, default build/llama.cpp-debian in the source tree. A complete
# unpack is marked by ROOT/.complete and reused as it is (delete the folder to refresh: testing's
# versions move). Default model: tests/data/models/llama-2-tiny-random.gguf.
# Exit codes: 0 ok, 1 failure (the reason is printed on stderr), 2 usage error.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cache=${SELFALIGN_LLAMA_DIR:-$here/build/llama.cpp-debian}
root=$cache/root
suite=forky
packages=(llama.cpp-tools libllama0 libggml0 libc6 libstdc++6 libgcc-s1 libgomp1 libssl3t64 libzstd1 zlib1g)

die() { echo "llama-server.sh: $*" >&2; exit 1; }
usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# The first Debian (non-security) mirror of this machine's apt sources, and the keyring it is signed with.
read_mirror() {
  local f uri="" keyring=""
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    # deb822 stanzas: take the first stanza with Types: deb whose URIs is not a security archive.
    uri=$(awk 'BEGIN{RS=""; FS="\n"} {t="";u="";for(i=1;i<=NF;i++){if($i ~ /^Types:/) t=$i; if($i ~ /^URIs:/) u=$i}
               if (t ~ /(^|[ \t])deb([ \t]|$)/ && u !~ /security/) {sub(/^URIs:[ \t]*/,"",u); split(u,a,/[ \t]+/); print a[1]; exit}}' "$f")
    keyring=$(awk 'BEGIN{RS=""; FS="\n"} {u="";k="";for(i=1;i<=NF;i++){if($i ~ /^URIs:/) u=$i; if($i ~ /^Signed-By:/) k=$i}
               if (u !~ /security/) {sub(/^Signed-By:[ \t]*/,"",k); print k; exit}}' "$f")
    [ -n "$uri" ] && break
  done
  if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
    uri=$(awk '$1=="deb" {for(i=2;i<=NF;i++) if ($i !~ /^\[/ && $i !~ /\]$/ && $i !~ /=/) {if ($i !~ /security/) {print $i; exit} else break}}' /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || die "no Debian mirror found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list"
  [ -n "$keyring" ] && [ -r "$keyring" ] || keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  mirror_uri=${uri%/}
  mirror_keyring=$keyring
}

fetch() {
  [ -f "$root/.complete" ] && return 0
  command -v apt-get >/dev/null || die "apt-get not found (needed to download Debian's llama.cpp packages)"
  command -v dpkg-deb >/dev/null || die "dpkg-deb not found"
  mkdir -p "$cache"
  exec 9>"$cache/.lock"
  flock 9   # concurrent test binaries: one fetches, the others wait and reuse
  [ -f "$root/.complete" ] && return 0
  read_mirror
  local apt="$cache/apt"
  rm -rf "$apt" "$root.partial"
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/debs" "$root.partial"
  echo "deb [signed-by=$mirror_keyring] $mirror_uri $suite main" >"$apt/sources.list"
  : >"$apt/status"   # an empty dpkg status (not /dev/null: nothing on this machine is assumed installed or sane)
  local opts=(-q -o "Dir::Etc::sourcelist=$apt/sources.list" -o Dir::Etc::sourceparts=-
              -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o "Dir::State::status=$apt/status")
  # As root, apt drops to the _apt user for downloads, which cannot write our private folders.
  [ "$(id -u)" -eq 0 ] && opts+=(-o APT::Sandbox::User=root)
  echo "llama-server.sh: fetching Debian $suite's llama.cpp from $mirror_uri into $cache" >&2
  apt-get "${opts[@]}" update >"$apt/update.log" 2>&1 ||
    { cat "$apt/update.log" >&2; die "apt-get update of $mirror_uri $suite failed"; }
  (cd "$apt/debs" && apt-get "${opts[@]}" download "${packages[@]}") >"$apt/download.log" 2>&1 ||
    { cat "$apt/download.log" >&2; die "apt-get download ${packages[*]} failed"; }
  local deb
  for deb in "$apt/debs"/*.deb; do dpkg-deb -x "$deb" "$root.partial" || die "dpkg-deb -x $deb failed"; done
  (cd "$apt/debs" && ls *.deb) >"$root.partial/.packages"
  rm -rf "$root" && mv "$root.partial" "$root"
  rm -rf "$apt/lists" "$apt/cache"   # keep the .debs (provenance), drop the 20 MB index
  touch "$root/.complete"
}

# Runs an unpacked binary through the unpacked loader and libraries.
run_tool() {
  local tool=$1; shift
  local lib=$root/usr/lib/x86_64-linux-gnu
  [ -x "$root/usr/bin/$tool" ] || die "$root/usr/bin/$tool missing (delete $cache and fetch again)"
  GGML_BACKEND_PATH=$lib/ggml/backends0/libggml-cpu-x64.so \
    exec "$root/usr/lib64/ld-linux-x86-64.so.2" --library-path "$lib:$lib/ggml/backends0:$lib/llama" \
    "$root/usr/bin/$tool" "$@"
}

# GET http://127.0.0.1:$1$2 with bash's /dev/tcp; prints the status line's code.
http_status() {
  local code=""
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || { echo 000; return; }
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
  IFS=' ' read -r -t 5 _ code _ <&3 || true
  exec 3<&- 3>&-
  echo "${code:-000}"
}

start() {
  local state="" model=$here/tests/data/models/llama-2-tiny-random.gguf ctx=4096 slots=1 threads=1 extra=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --state-dir) state=$2; shift 2 ;;
      --model) model=$2; shift 2 ;;
      --ctx) ctx=$2; shift 2 ;;
      --slots) slots=$2; shift 2 ;;
      --threads) threads=$2; shift 2 ;;
      --) shift; extra=("$@"); break ;;
      *) usage ;;
    esac
  done
  [ -n "$state" ] || usage
  [ -r "$model" ] || die "model $model not readable"
  fetch
  mkdir -p "$state"
  [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null && die "a server from $state is still running (pid $(cat "$state/pid"))"
  rm -f "$state/pid" "$state/port" "$state/base_url"
  # --port 0: the kernel picks a free port (no race between choosing and binding); the log says which.
  # --verbose: responses carry __verbose.generation_settings (what the server applied) for tests.
  ( run_tool llama-server -m "$model" --host 127.0.0.1 --port 0 -c "$ctx" -np "$slots" -t "$threads" -tb "$threads" --verbose \
      "${extra[@]}" ) >"$state/server.log" 2>&1 </dev/null &
  local pid=$! port="" i
  echo "$pid" >"$state/pid"
  for i in $(seq 1 300); do   # up to 30 s
    kill -0 "$pid" 2>/dev/null || { tail -n 30 "$state/server.log" >&2; die "llama-server exited during start-up"; }
    if [ -z "$port" ]; then
      port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$state/server.log" | head -n 1)
    fi
    if [ -n "$port" ] && [ "$(http_status "$port" /v1/models)" = 200 ]; then
      echo "$port" >"$state/port"
      echo "http://127.0.0.1:$port/v1" >"$state/base_url"
      echo "http://127.0.0.1:$port/v1"
      return 0
    fi
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  tail -n 30 "$state/server.log" >&2
  die "llama-server did not answer /v1/models within 30 s"
}

stop() {
  local state=""
  while [ $# -gt 0 ]; do
    case "$1" in --state-dir) state=$2; shift 2 ;; *) usage ;; esac
  done
  [ -n "$state" ] || usage
  [ -f "$state/pid" ] || return 0
  local pid i
  pid=$(cat "$state/pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$state/pid" "$state/port" "$state/base_url"
}

cmd=${1:-}; [ $# -gt 0 ] && shift
case "$cmd" in
  fetch) fetch; echo "$root" ;;
  version) fetch; run_tool llama-server --version ;;
  start) start "$@" ;;
  stop) stop "$@" ;;
  run) fetch; run_tool llama-server "$@" ;;
  *) usage ;;
esac
