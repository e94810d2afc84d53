#!/usr/bin/env bash
# Install the classroom server.
#
#   ./install.sh --dev     a development/test setup in ./.venv (what CI and the README use):
#                          Debian packages the tests need (python3-venv, chromium), then
#                          `pip install -e .[test]`.
#   sudo ./install.sh      a school server: a `classroom` system user, the program in
#                          /opt/classroom-server, data in /var/lib/classroom-server, and a
#                          systemd service listening on port 8080.
#
# Re-running either is safe: what is there already is kept (data, settings, accounts).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mode=production
for arg in "$@"; do
  case "$arg" in
    --dev) mode=dev ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $arg (use --dev, or no option for a school server)" >&2; exit 2 ;;
  esac
done

# A school server runs on the system's Python (a service must not depend on someone's home folder);
# a development setup uses whichever python3 comes first on PATH.
PY=python3
[ "$mode" = production ] && [ -x /usr/bin/python3 ] && PY=/usr/bin/python3

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "install.sh: need root for: $* (run as root or install sudo)" >&2; exit 1
  fi
}

apt_install() {
  # Install only the Debian packages that are missing; `apt-get update` once, only if needed.
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    echo "install.sh: please install these packages with your system's package manager: ${missing[*]}" >&2
    return 1
  fi
  say "installing Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

need_python() {
  command -v "$PY" >/dev/null || { apt_install python3; PY=python3; }
  local version
  version=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 9))' || {
    echo "install.sh: Python $version is too old; 3.9 or newer is needed" >&2; exit 1; }
  # Debian and Ubuntu ship venv/ensurepip separately.
  if ! "$PY" -c 'import ensurepip, venv' 2>/dev/null; then
    apt_install "python${version}-venv" 2>/dev/null || apt_install python3-venv
  fi
}

make_venv() {
  local venv=$1; shift
  if [ ! -x "$venv/bin/python" ]; then
    say "creating $venv"
    "$PY" -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  say "installing $* into $venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@" 2>&1 \
    | grep -v "^WARNING: Location .* is ignored" || true
  "$venv/bin/python" -c 'import classroom_server, flask, peewee, waitress, flask_babel' || {
    echo "install.sh: installing into $venv failed; see the messages above" >&2; exit 1; }
}

if [ "$mode" = dev ]; then
  need_python
  # Browser tests drive Debian's Chromium; fonts so Kazakh/Russian text renders in screenshots.
  if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
    apt_install chromium fonts-dejavu-core
  fi
  # Editable: code changes take effect without reinstalling.
  make_venv "$here/.venv" -e "$here[test]"
  say "ready: .venv/bin/classroom-server demo   |   .venv/bin/python -m pytest -q"
  exit 0
fi

# --- a school server -------------------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root for a school server (or use --dev)" >&2; exit 1; }
prefix=/opt/classroom-server
data=/var/lib/classroom-server
need_python
id classroom >/dev/null 2>&1 || {
  say "creating the system user classroom"
  useradd --system --home-dir "$data" --shell /usr/sbin/nologin classroom
}
install -d -o classroom -g classroom -m 0750 "$data"
make_venv "$prefix" "$here"
ln -sf "$prefix/bin/classroom-server" /usr/local/bin/classroom-server
ln -sf "$prefix/bin/classroom-sync" /usr/local/bin/classroom-sync
ln -sf "$prefix/bin/classroom-hub" /usr/local/bin/classroom-hub

run_as_classroom() { runuser -u classroom -- env CLASSROOM_DATA_DIR="$data" "$@"; }
[ -f "$data/classroom-server.ini" ] || run_as_classroom "$prefix/bin/classroom-server" config init
run_as_classroom "$prefix/bin/classroom-server" migrate

if [ -d /run/systemd/system ]; then
  say "installing the systemd service classroom-server"
  cat >/etc/systemd/system/classroom-server.service <<EOF
[Unit]
Description=Classroom server (school LAN)
After=network.target

[Service]
User=classroom
Group=classroom
Environment=CLASSROOM_DATA_DIR=$data
ExecStart=$prefix/bin/classroom-server serve
Restart=on-failure
RestartSec=3

[Install]
WantedBy=multi-user.target
EOF
  systemctl daemon-reload
  systemctl enable --now classroom-server.service
  systemctl restart classroom-server.service
else
  say "no systemd here: start the server with: runuser -u classroom -- env CLASSROOM_DATA_DIR=$data $prefix/bin/classroom-server serve"
fi
port=$(run_as_classroom "$prefix/bin/classroom-server" config show | sed -n 's/^port = //p')
say "installed. Open http://$(hostname -I 2>/dev/null | awk '{print $1}'):${port:-8080}/ on a school device;"
say "the first visit asks for the administrator account (or: CLASSROOM_DATA_DIR=$data classroom-server init --admin NAME)."
