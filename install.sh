#!/usr/bin/env bash
# Install the classroom server: a school server (as root), or a development setup (--dev).
# `./install.sh --help` explains every option; docs/install.md is the step-by-step guide.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
  cat <<'EOF'
Usage: sudo ./install.sh [OPTIONS]      install a school server, or upgrade it in place
       ./install.sh --dev               a development and test setup in ./.venv

A school server (Debian 12, Ubuntu 22.04/24.04, Raspberry Pi OS; amd64 or arm64):
the Debian packages it needs, a `classroom` system user, the program in
/opt/classroom-server, data in /var/lib/classroom-server, settings in
/etc/classroom-server/classroom-server.ini, systemd services classroom-server (web) and
classroom-sync (sync agent) logging to the journal, and an mDNS name (school.local).

Re-running it upgrades in place: the new version is built next to the running one,
then the services stop, the data is backed up, the database is migrated, the services
start again and must answer /healthz; if they do not, the previous version and the
backup come back. Options given once (--with-nginx, --with-https, --with-dnsmasq, --name,
--no-mdns) are remembered.

Options:
  --dev               Development setup: Debian packages the tests need (python3-venv,
                      chromium), then `pip install -e .[test]` into ./.venv.
  --with-nginx        Put nginx in front on port 80: it serves content files and static
                      files itself and passes the rest to the server on 127.0.0.1
                      (for big schools: many devices, big videos).
  --without-nginx     Remove the nginx front that an earlier --with-nginx set up; the
                      server listens on its own port again (8080 by default).
  --with-https        With nginx: HTTPS on port 443 beside plain HTTP, with the certificate
                      the national platform obtains for this school (docs/https.md); a
                      stand-in certificate until it arrives, nginx reloaded when it changes.
  --without-https     Plain HTTP only again.
  --with-dnsmasq      This machine answers DNS on the LAN (dnsmasq), so devices find the
                      school's HTTPS name here even with the internet down; the LAN's DHCP
                      must then hand out this machine's address as the DNS server.
  --without-dnsmasq   Remove what --with-dnsmasq set up.
  --name NAME         The name devices use: http://NAME.local/ (default: school).
  --no-mdns           Do not announce the server by mDNS (no avahi-daemon).
  --wheels DIR        Install Python packages only from DIR (no internet needed);
                      fill DIR first with --download-wheels on a machine that has it.
  --download-wheels DIR
                      Put every Python package the server needs, as wheels for this
                      machine's system, Python and processor, into DIR; then exit.
  --reinstall         Build and install the program even if this version is installed.
  --health-timeout S  Seconds the new version has to answer /healthz (default 90).
  --root DIR          Install into DIR as if it were / (every path prefixed by DIR),
                      touching nothing outside it: no apt-get, no user, no systemctl
                      (it prints what it would do). For tests and trial runs; works
                      without root.
  --uninstall         Stop and remove the program, services, nginx site and mDNS
                      announcement. Keeps the data and settings (reinstalling finds them).
  --purge             With --uninstall: also delete the data, the settings and the
                      classroom user. Everything the school stored is gone.
  -h, --help          This help.
EOF
}

# --- options ------------------------------------------------------------------------------------
mode=install
root=""
with_nginx=""       # yes / no / "" (what the last install chose)
with_https=""       # yes / no / ""
with_dnsmasq=""     # yes / no / ""
name=""
mdns=""
wheels=""
purge=no
reinstall=no
health_timeout=90

value_of() {  # value_of OPTION "$@": the option's argument, or a usage error
  if [ $# -lt 3 ] || [ -z "$3" ]; then echo "install.sh: $1 needs a value (see --help)" >&2; exit 2; fi
  printf '%s' "$3"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --dev) mode=dev ;;
    --with-nginx) with_nginx=yes ;;
    --without-nginx) with_nginx=no ;;
    --with-https) with_https=yes ;;
    --without-https) with_https=no ;;
    --with-dnsmasq) with_dnsmasq=yes ;;
    --without-dnsmasq) with_dnsmasq=no ;;
    --name) name=$(value_of "$1" "$@"); shift ;;
    --name=*) name=${1#*=} ;;
    --no-mdns) mdns=no ;;
    --wheels) wheels=$(value_of "$1" "$@"); shift ;;
    --wheels=*) wheels=${1#*=} ;;
    --download-wheels) mode=download; wheels=$(value_of "$1" "$@"); shift ;;
    --download-wheels=*) mode=download; wheels=${1#*=} ;;
    --reinstall) reinstall=yes ;;
    --health-timeout) health_timeout=$(value_of "$1" "$@"); shift ;;
    --health-timeout=*) health_timeout=${1#*=} ;;
    --root) root=$(value_of "$1" "$@"); shift ;;
    --root=*) root=${1#*=} ;;
    --uninstall) mode=uninstall ;;
    --purge) purge=yes ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see ./install.sh --help)" >&2; exit 2 ;;
  esac
  shift
done

usage_error() { echo "install.sh: $*" >&2; exit 2; }
[ "$purge" = no ] || [ "$mode" = uninstall ] || usage_error "--purge goes with --uninstall"
[[ "$health_timeout" =~ ^[1-9][0-9]*$ ]] || usage_error "--health-timeout takes a number of seconds"
if [ -n "$name" ]; then
  name=${name%.local}
  name=$(printf '%s' "$name" | tr '[:upper:]' '[:lower:]')
  [[ "$name" =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]] ||
    usage_error "--name takes a name like school or school-42 (letters a-z, digits, hyphens)"
fi

# A school server runs on the system's Python (a service must not depend on someone's home folder);
# a development setup uses whichever python3 comes first on PATH.
PY=python3
[ "$mode" != dev ] && [ -x /usr/bin/python3 ] && PY=/usr/bin/python3

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
warn() { printf '\033[1;33mwarning:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31minstall.sh: %s\033[0m\n' "$*" >&2; exit 1; }

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
  if [ -n "$root" ]; then
    say "--root: would install the Debian packages ${missing[*]}"
    return 0
  fi
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
  "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || {
    echo "install.sh: Python $version is too old; 3.10 or newer is needed" >&2; exit 1; }
  # Debian and Ubuntu ship venv/ensurepip separately.
  if ! "$PY" -c 'import ensurepip, venv' 2>/dev/null; then
    [ -z "$root" ] || die "$PY has no venv module: apt-get install python3-venv"
    apt_install "python${version}-venv" 2>/dev/null || apt_install python3-venv
  fi
}

# PyICU (names in Kazakh alphabetical order) is built from source against the system's ICU: its
# headers, pkg-config, a C++ compiler and Python's headers (not needed with --wheels).
icu_build_packages() {
  local version
  version=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  apt_install libicu-dev pkg-config g++ "python${version}-dev" 2>/dev/null || apt_install libicu-dev pkg-config g++ python3-dev
}

make_venv() {
  local venv=$1; shift
  if [ ! -x "$venv/bin/python" ]; then
    say "creating $venv"
    "$PY" -m venv "$venv"
  fi
  # The tested versions only (constraints.txt), our own package built with the pinned setuptools
  # (no build isolation: an isolated build would take whatever setuptools PyPI has that day).
  local pin=(-c "$here/constraints.txt")
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${pin[@]}" pip >/dev/null 2>&1 || true
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${pin[@]}" setuptools wheel 2>&1 \
    | grep -v "^WARNING: Location .* is ignored" || true
  say "installing $* into $venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-build-isolation "${pin[@]}" "$@" 2>&1 \
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
  icu_build_packages
  # Editable: code changes take effect without reinstalling.
  make_venv "$here/.venv" -e "${here}[test]"
  say "ready: .venv/bin/classroom-server demo   |   .venv/bin/python -m pytest -q"
  exit 0
fi

# --- a school server: where everything goes ------------------------------------------------------
# Settings from the caller's shell (CLASSROOM_DATA_DIR, CLASSROOM_SERVER_PORT, ...) must not leak
# into what is installed: the services get exactly what their units say.
while IFS= read -r variable; do unset "$variable"; done < <(compgen -e | grep '^CLASSROOM_' || true)
umask 022

if [ -n "$root" ]; then
  case "$root" in /*) ;; *) root="$PWD/$root" ;; esac
  root=${root%/}
  [ -n "$root" ] || usage_error "--root / is the real install: leave --root out"
  [[ "$root" =~ ^[A-Za-z0-9_./+-]+$ ]] || usage_error "--root: use a folder whose path has only letters, digits and ._+-/"
fi
R=$root
prefix=$R/opt/classroom-server
data=$R/var/lib/classroom-server
etc=$R/etc/classroom-server
ini=$etc/classroom-server.ini
state=$etc/install.conf
unit_dir=$R/etc/systemd/system
nginx_dir=$R/etc/nginx
dnsmasq_dir=$R/etc/dnsmasq.d
avahi_dir=$R/etc/avahi
bin_dir=$R/usr/local/bin
backups=$data/backups
user=classroom
nginx_group=www-data
work=""
guard=""            # "OLD_RELEASE|BACKUP" while a new version is being put in place

on_exit() {
  local status=$?
  if [ -n "$guard" ] && [ "$status" -ne 0 ]; then
    local old=${guard%%|*} backup=${guard#*|}
    guard=""
    rollback "$old" "$backup"
    status=$?
  fi
  [ -z "$work" ] || rm -rf "$work"
  exit "$status"
}
trap on_exit EXIT

real() { [ -z "$R" ]; }
have_systemd() { real && [ -d /run/systemd/system ]; }

systemd_do() {  # systemctl, or what it would do
  if have_systemd; then systemctl "$@"
  elif real; then say "systemd is not running here: skipped systemctl $*"
  else say "--root: would run systemctl $*"
  fi
}

as_user() {  # run a program of the server as its user, on the installed data folder
  # umask as in the units: what it makes is for the classroom user (and its group) only.
  if real; then (umask 0027; runuser -u "$user" -- env CLASSROOM_DATA_DIR="$data" TMPDIR="$data/tmp" "$@")
  else (umask 0027; env CLASSROOM_DATA_DIR="$data" "$@")
  fi
}

state_get() { if [ -f "$state" ]; then sed -n "s/^$1=//p" "$state" | tail -n 1; fi; }

state_save() {
  mkdir -p "$etc"
  {
    echo "# Written by install.sh: the choices re-runs keep. Change them with install.sh options."
    echo "with_nginx=$with_nginx"
    echo "with_https=$with_https"
    echo "with_dnsmasq=$with_dnsmasq"
    echo "name=$name"
    echo "mdns=$mdns"
    echo "nginx_default_site_disabled=${nginx_default_disabled:-no}"
    echo "avahi_host_name_before=${avahi_before:-}"
    echo "firewall_rules=${firewall_rules:-}"
  } >"$state.tmp"
  chmod 0644 "$state.tmp"
  mv "$state.tmp" "$state"
}

nginx_default_disabled=$(state_get nginx_default_site_disabled)
avahi_before=$(state_get avahi_host_name_before)
firewall_rules=$(state_get firewall_rules)

# --- releases -----------------------------------------------------------------------------------
# /opt/classroom-server/releases/<version>-<time>/ are virtual environments; `current` links to the
# one in use. A new version is built beside the running one; switching is one rename, and so is
# switching back.

version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$here/classroom_server/__init__.py")
[ -n "$version" ] || die "cannot read the version from $here/classroom_server/__init__.py"

stage_source() {  # a clean copy of what pip builds, and its digest
  work=$(mktemp -d "${TMPDIR:-/tmp}/classroom-install.XXXXXX")
  mkdir "$work/src"
  (cd "$here" && tar -c --exclude=__pycache__ --exclude='*.pyc' --exclude='*.egg-info' \
      classroom_server content_packs sync deploy setup.cfg pyproject.toml constraints.txt README.md) | tar -x -C "$work/src"
  digest=$(cd "$work/src" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum)
  digest=${digest%% *}
}

release_of() { if [ -L "$prefix/current" ]; then readlink "$prefix/current"; fi; }

build_release() {
  local rel=$1 log=$work/pip.log
  local pip=(-m pip install --disable-pip-version-check --no-warn-script-location -c "$work/src/constraints.txt")
  [ -z "$wheels" ] || pip+=(--no-index --find-links "$wheels")
  say "building $version in $rel"
  mkdir -p "$prefix/releases"
  "$PY" -m venv "$rel"
  # The tested versions only (constraints.txt), built with the pinned setuptools, not an isolated
  # build that would take whatever setuptools PyPI has that day.
  if ! { "$rel/bin/python" "${pip[@]}" setuptools wheel &&
         "$rel/bin/python" "${pip[@]}" --no-build-isolation "$work/src"; } >"$log" 2>&1; then
    grep -v "^WARNING: Location .* is ignored" "$log" | tail -n 30 >&2
    rm -rf "$rel"
    [ -z "$wheels" ] || die "installing from $wheels failed (above): are the wheels for this system's Python and processor? Make them with --download-wheels on the same kind of machine"
    die "installing the program failed (above): is the internet reachable? Without it, use --wheels DIR"
  fi
  cp -R "$work/src/deploy" "$rel/deploy"
  echo "$digest" >"$rel/.source-sha256"
  "$rel/bin/python" -c 'import classroom_server, sync.agent, waitress' ||
    { rm -rf "$rel"; die "the new release $rel cannot import the server; nothing was changed"; }
}

switch_to() {  # point `current` at releases/NAME, atomically
  ln -sfn "releases/$1" "$prefix/current.new"
  mv -T "$prefix/current.new" "$prefix/current"
}

# --- settings, folders, permissions --------------------------------------------------------------

ensure_user() {
  if ! real; then return 0; fi
  getent group "$user" >/dev/null || groupadd --system "$user"
  if ! id "$user" >/dev/null 2>&1; then
    say "creating the system user $user"
    useradd --system --gid "$user" --home-dir "$data" --no-create-home --shell /usr/sbin/nologin \
      --comment "Classroom server" "$user"
  fi
}

own() {  # own USER:GROUP MODE PATH...: ownership only for a real install
  local owner=$1 mode=$2; shift 2
  chmod "$mode" "$@"
  if real; then chown "$owner" "$@"; fi
}

setup_folders() {
  mkdir -p "$data" "$data/tmp" "$backups" "$etc" "$prefix"
  own "$user:$user" "$([ "$with_nginx" = yes ] || [ "$with_dnsmasq" = yes ] && echo 0751 || echo 0750)" "$data"
  own "$user:$user" 0700 "$data/tmp"
  own "$user:$user" 0750 "$backups"
  own "root:$user" 0750 "$etc"
  # Nothing in the data folder is for other users (files of older installs were made 0644);
  # content files alone are for nginx, through their group below.
  find "$data" -mindepth 1 -maxdepth 1 ! -name content ! -name classroom-server.ini ! -name dns \
    -exec chmod -R o-rwx {} +
  # The school's HTTPS key and certificate (the sync agent keeps them; nginx's master, root, reads them).
  mkdir -p "$data/tls"
  own "$user:$user" 0750 "$data/tls"
  if [ "$with_dnsmasq" = yes ]; then
    # dnsmasq (its own user) reads the name the agent writes here, and nothing else of the data folder.
    mkdir -p "$data/dns"
    own "$user:$user" 0755 "$data/dns"
  elif [ -d "$data/dns" ]; then
    rm -rf "${data:?}/dns"
  fi
  if [ "$with_nginx" = yes ]; then
    # nginx (its own user) reads content files: the blob folders belong to nginx's group, and new
    # ones inherit it (setgid). It can enter the data folder (0751) but not list or read the rest.
    mkdir -p "$data/content/blobs"
    if real; then
      chown "$user" "$data/content" "$data/content/blobs"
      chgrp -R "$nginx_group" "$data/content"
    fi
    find "$data/content" -type d -exec chmod 2750 {} +
  elif [ -d "$data/content" ] && real; then
    chgrp -R "$user" "$data/content"
  fi
}

setup_settings() {  # settings live in /etc; the server reads them through a link in the data folder
  local program=$1 link=$data/classroom-server.ini
  if [ -f "$link" ] && [ ! -L "$link" ]; then
    # A settings file in the data folder (an older install, or a restore) is what the server reads.
    if [ -f "$ini" ] && ! cmp -s "$link" "$ini"; then
      mv "$ini" "$ini.before-$(date +%Y%m%d-%H%M%S)"
      say "kept the previous $ini as $ini.before-*: the data folder's settings file replaces it"
    fi
    mv "$link" "$ini"
  fi
  if [ ! -f "$ini" ]; then
    mkdir -p "$work/ini"
    "$program/bin/classroom-server" --data-dir "$work/ini" config init >/dev/null
    mv "$work/ini/classroom-server.ini" "$ini"
    say "wrote the settings $ini"
  fi
  own "root:$user" 0640 "$ini"
  ln -sfn "$ini" "$link"
}

setting() {  # setting SECTION KEY [PROGRAM]: the value in force, as the server sees it
  as_user "${3:-$prefix/current}/bin/classroom-server" config show 2>/dev/null |
    awk -v section="[$1]" -v key="$2" '$0 == section {inside = 1; next} /^\[/ {inside = 0}
      inside && $1 == key && $2 == "=" {sub(/^[^=]*= ?/, ""); print; exit}'
}

# --- configuration files -------------------------------------------------------------------------
changed=no

put() {  # put SOURCE DEST MODE: install the file if it differs; remember that something changed
  if ! cmp -s "$1" "$2"; then
    mkdir -p "$(dirname "$2")"
    install -m "$3" "$1" "$2"
    changed=yes
  fi
}

remove() { local path; for path in "$@"; do if [ -e "$path" ] || [ -L "$path" ]; then rm -f "$path"; changed=yes; fi; done; }

render() {  # render PROGRAM TEMPLATE OUTPUT [--nginx-types FILE] KEY=VALUE...: fill a template of that release
  local program=$1 template=$2 out=$3 flags=(); shift 3
  if [ "${1:-}" = --nginx-types ]; then flags=(--nginx-types "$2"); shift 2; fi
  "$program/bin/python" "$program/deploy/helper.py" render "${flags[@]}" "$program/deploy/$template" "$out" \
    PROGRAM="$prefix/current" DATA="$data" ETC="$etc" "$@"
}

write_units() {
  local program=$1 dropin=$unit_dir/classroom-server.service.d/nginx.conf
  render "$program" systemd/classroom-server.service "$work/server.service"
  render "$program" systemd/classroom-sync.service "$work/sync.service"
  put "$work/server.service" "$unit_dir/classroom-server.service" 0644
  put "$work/sync.service" "$unit_dir/classroom-sync.service" 0644
  if [ "$with_nginx" = yes ]; then
    render "$program" systemd/classroom-server-nginx.conf "$work/dropin.conf" UPSTREAM_PORT="$port"
    put "$work/dropin.conf" "$dropin" 0644
  else
    remove "$dropin"
    rmdir "$(dirname "$dropin")" 2>/dev/null || true
  fi
}

write_tls_units() {  # with HTTPS: a path unit reloads nginx when the agent installs a new certificate
  local program=$1 unit
  if [ "$with_https" = yes ]; then
    for unit in classroom-server-tls.path classroom-server-tls.service; do
      render "$program" "systemd/$unit" "$work/$unit"
      put "$work/$unit" "$unit_dir/$unit" 0644
    done
  elif [ -f "$unit_dir/classroom-server-tls.path" ]; then
    systemd_do disable --now classroom-server-tls.path || true
    remove "$unit_dir/classroom-server-tls.path" "$unit_dir/classroom-server-tls.service"
  fi
}

write_https() {  # the nginx snippet with HTTPS (or a comment without), and a stand-in certificate
  local program=$1 snippet=$nginx_dir/snippets/classroom-server-https.conf
  if [ "$with_https" = yes ]; then
    if [ ! -s "$data/tls/fullchain.pem" ] || [ ! -s "$data/tls/privkey.pem" ]; then
      # nginx will not start without the files: a self-signed stand-in until the real one comes.
      as_user "$program/bin/classroom-sync" https placeholder >&2 || die "could not make the stand-in certificate (above)"
    fi
    render "$program" nginx/https.conf "$work/https.conf" HTTPS_PORT=443
    put "$work/https.conf" "$snippet" 0644
  else
    put "$program/deploy/nginx/https-off.conf" "$snippet" 0644
  fi
}

write_dnsmasq() {
  local program=$1 file=$dnsmasq_dir/classroom-server.conf
  if [ "$with_dnsmasq" = yes ]; then
    render "$program" dnsmasq/classroom-server.conf "$work/dnsmasq.conf"
    if ! cmp -s "$work/dnsmasq.conf" "$file"; then
      put "$work/dnsmasq.conf" "$file" 0644
      dnsmasq_restart
    fi
  elif [ -e "$file" ]; then
    remove "$file"
    dnsmasq_restart
  fi
}

dnsmasq_restart() {
  if have_systemd; then systemctl restart dnsmasq || warn "dnsmasq did not restart: see journalctl -u dnsmasq (is another DNS server on port 53?)"
  elif real; then say "systemd is not running here: restart dnsmasq yourself"
  else say "--root: would restart dnsmasq"
  fi
}

write_nginx() {
  local program=$1 site=$nginx_dir/sites-available/classroom-server
  local types=$nginx_dir/snippets/classroom-server-types.conf proxy=$nginx_dir/snippets/classroom-server-proxy.conf
  local https_snippet=$nginx_dir/snippets/classroom-server-https.conf
  if [ "$with_nginx" != yes ]; then
    if [ -e "$site" ]; then
      remove "$nginx_dir/sites-enabled/classroom-server" "$site" "$types" "$proxy" "$https_snippet"
      restore_default_site
      nginx_reload
    fi
    return 0
  fi
  mkdir -p "$nginx_dir/sites-available" "$nginx_dir/sites-enabled" "$nginx_dir/snippets"
  write_https "$program"
  render "$program" nginx/classroom-server.conf "$work/site.conf" --nginx-types "$work/types.conf" \
    TYPES_FILE="$types" PROXY_FILE="$proxy" UPSTREAM_PORT="$port" LISTEN_PORT=80 HTTPS_FILE="$https_snippet"
  put "$work/types.conf" "$types" 0644
  put "$program/deploy/nginx/proxy.conf" "$proxy" 0644
  put "$work/site.conf" "$site" 0644
  if [ "$(readlink "$nginx_dir/sites-enabled/classroom-server" 2>/dev/null)" != "$site" ]; then
    ln -sfn "$site" "$nginx_dir/sites-enabled/classroom-server"
    changed=yes
  fi
  # Debian's example site also wants to be the default server on port 80.
  if [ -L "$nginx_dir/sites-enabled/default" ]; then
    rm -f "$nginx_dir/sites-enabled/default"
    nginx_default_disabled=yes
    say "disabled nginx's example site (sites-enabled/default); --uninstall puts it back"
  fi
  if real; then
    if ! nginx -t -q; then
      rm -f "$nginx_dir/sites-enabled/classroom-server"
      restore_default_site
      warn "nginx refuses the configuration (above): the classroom-server site is disabled again"
      return 1
    fi
  else
    say "--root: would check the nginx configuration (nginx -t) and reload nginx"
  fi
  nginx_reload start
}

restore_default_site() {
  if [ "$nginx_default_disabled" = yes ] && [ -f "$nginx_dir/sites-available/default" ]; then
    ln -sfn "$nginx_dir/sites-available/default" "$nginx_dir/sites-enabled/default"
    say "enabled nginx's example site (sites-enabled/default) again"
  fi
  nginx_default_disabled=no
}

nginx_reload() {  # nginx_reload [start]: apply the configuration (and start nginx if asked)
  if have_systemd && systemctl is-active --quiet nginx; then systemctl reload nginx
  elif have_systemd && [ "${1:-}" = start ]; then systemctl enable --now nginx
  # (-s: `nginx -t` leaves an empty /run/nginx.pid behind when nginx is not running.)
  elif real && [ -s /run/nginx.pid ]; then nginx -s reload
  elif real && [ "${1:-}" = start ]; then say "systemd is not running here: start nginx yourself"
  fi
}

write_avahi() {
  local program=$1 file=$avahi_dir/services/classroom-server.service conf=$avahi_dir/avahi-daemon.conf
  if [ "$mdns" = no ]; then
    remove "$file"
    avahi_host_name ""
    return 0
  fi
  mkdir -p "$avahi_dir/services"
  render "$program" avahi/classroom-server.service "$work/avahi.service" NAME="$name" PORT="$public_port" \
    PORT_SUFFIX="$(port_suffix)"
  put "$work/avahi.service" "$file" 0644
  if [ -f "$conf" ]; then
    avahi_host_name "$name"
  else
    say "--root: no $conf here: would set host-name=$name in it"
  fi
}

avahi_host_name() {  # avahi_host_name NAME: publish this machine as NAME.local ("" puts back the old)
  local conf=$avahi_dir/avahi-daemon.conf wanted=$1 current
  [ -f "$conf" ] || return 0
  current=$(sed -n 's/^host-name=//p' "$conf" | head -n 1)
  if [ -z "$wanted" ]; then
    [ -n "$current" ] && [ "$current" = "$name" ] || return 0
    if [ -n "$avahi_before" ] && [ "$avahi_before" != "-" ]; then
      sed -i "s/^host-name=.*/host-name=$avahi_before/" "$conf"
    else
      sed -i "s/^host-name=.*/#host-name=foo/" "$conf"
    fi
    avahi_restart
    return 0
  fi
  [ "$current" != "$wanted" ] || return 0
  [ -n "$avahi_before" ] || avahi_before=${current:--}
  if grep -q '^host-name=' "$conf"; then
    sed -i "s/^host-name=.*/host-name=$wanted/" "$conf"
  elif grep -q '^#host-name=' "$conf"; then
    sed -i "0,/^#host-name=.*/s//host-name=$wanted/" "$conf"
  elif grep -q '^\[server\]' "$conf"; then
    sed -i "/^\[server\]/a host-name=$wanted" "$conf"
  else
    printf '[server]\nhost-name=%s\n' "$wanted" >>"$conf"
  fi
  say "mDNS: this machine is announced as $wanted.local ($conf)"
  avahi_restart
}

avahi_restart() {
  if have_systemd; then systemctl restart avahi-daemon || warn "avahi-daemon did not restart: see journalctl -u avahi-daemon"
  elif real; then say "systemd is not running here: restart avahi-daemon yourself"
  fi
}

ufw_active() { real && command -v ufw >/dev/null && ufw status 2>/dev/null | grep -q "^Status: active"; }

open_firewall() {  # Ubuntu's firewall, when it is on, would keep every device out
  ufw_active || return 0
  local wanted="$public_port/tcp" rule
  [ "$mdns" = no ] || wanted="$wanted 5353/udp"
  [ "$with_https" != yes ] || wanted="$wanted 443/tcp"
  [ "$with_dnsmasq" != yes ] || wanted="$wanted 53"
  for rule in $firewall_rules; do  # the rules of an earlier run that are not wanted now
    case " $wanted " in *" $rule "*) ;; *) ufw delete allow "$rule" >/dev/null 2>&1 || true ;; esac
  done
  for rule in $wanted; do ufw allow "$rule" comment classroom-server >/dev/null; done
  [ "$firewall_rules" = "$wanted" ] || say "firewall (ufw): opened $wanted for the school's devices"
  firewall_rules=$wanted
}

close_firewall() {  # only the rules install.sh added
  local rule
  if ufw_active; then
    for rule in $firewall_rules; do ufw delete allow "$rule" >/dev/null 2>&1 || true; done
  fi
  firewall_rules=""
}

write_links() {
  mkdir -p "$bin_dir"
  local script
  for script in classroom-server classroom-sync classroom-hub; do
    ln -sfn "$prefix/current/bin/$script" "$bin_dir/$script"
  done
}

port_suffix() { [ "$public_port" = 80 ] && echo "" || echo ":$public_port"; }

ports() {  # port: where the server listens; public_port: where devices connect; local_host: to ask it
  port=$(setting server port)
  [ -n "$port" ] && [ "$port" != 0 ] || port=8080
  public_port=$port
  local_host=$(setting server host)
  case "$local_host" in ""|0.0.0.0|"::") local_host=127.0.0.1 ;; *:*) local_host="[$local_host]" ;; esac
  if [ "$with_nginx" = yes ]; then
    public_port=80
    local_host=127.0.0.1
    [ "$port" != 80 ] || port=8080  # nginx has port 80; the server moves to loopback:8080
  fi
}

write_config() {  # everything outside the program that names it: units, nginx, mDNS, links
  local program=$1
  ports
  write_units "$program"
  write_tls_units "$program"
  write_nginx "$program"
  write_dnsmasq "$program"
  write_avahi "$program"
  open_firewall
  write_links
  state_save
  if [ "$changed" = yes ]; then systemd_do daemon-reload; fi
}

# --- services and health -------------------------------------------------------------------------
services=(classroom-server.service classroom-sync.service)

stop_services() {
  if have_systemd; then systemctl stop "${services[@]}" 2>/dev/null || true
  else systemd_do stop "${services[@]}"
  fi
}

start_services() {
  systemd_do enable "${services[@]}"
  systemd_do restart "${services[@]}"
  if [ "$with_https" = yes ]; then systemd_do enable --now classroom-server-tls.path; fi
}

healthy() {  # healthy PROGRAM: the server answers /healthz with status ok; prints its version
  local program=$1 deadline=$health_timeout
  if have_systemd; then
    as_user "$program/bin/python" "$program/deploy/helper.py" health --timeout "$deadline" \
      --url "http://$local_host:$port/healthz" || return 1
    if [ "$with_nginx" = yes ]; then
      as_user "$program/bin/python" "$program/deploy/helper.py" health --timeout 15 \
        --url "http://127.0.0.1/healthz" >/dev/null || { warn "nginx does not pass /healthz on"; return 1; }
    fi
  else
    # No service manager (a --root install, a container): start the server on a free loopback
    # port, as its user, and ask it.
    as_user "$program/bin/python" "$program/deploy/helper.py" health --timeout "$deadline" --serve -- \
      "$program/bin/classroom-server" serve --host 127.0.0.1 --port 0
  fi
}

database_kind() {  # database_kind [PROGRAM]: sqlite (with a file), none (not made yet) or other
  local url
  url=$(setting database url "${1:-}")
  case "$url" in
    "") [ -f "$data/classroom.sqlite3" ] && echo sqlite || echo none ;;
    sqlite:///*) [ -f "${url#sqlite:///}" ] && echo sqlite || echo none ;;
    *) echo other ;;
  esac
}

prune() {  # keep the release in use and the one before; keep the three newest upgrade backups
  local keep_now keep_before=$1 rel
  keep_now=$(basename "$(release_of)")
  for rel in "$prefix"/releases/*; do
    [ -d "$rel" ] || continue
    case "$(basename "$rel")" in "$keep_now"|"$keep_before") ;; *) rm -rf "$rel" ;; esac
  done
  # shellcheck disable=SC2012  # names are ours: before-upgrade-<version>-<time>.tar.gz
  ls -1t "$backups"/before-upgrade-*.tar.gz 2>/dev/null | tail -n +4 | while IFS= read -r old; do rm -f "$old"; done
}

run_as_text() {  # how a person runs a command as the server's user here
  if command -v sudo >/dev/null; then echo "sudo -u $user CLASSROOM_DATA_DIR=$data"
  else echo "runuser -u $user -- env CLASSROOM_DATA_DIR=$data"
  fi
}

running() {
  if have_systemd; then say "classroom-server $1 is installed and running"
  else say "classroom-server $1 is installed (it answered /healthz on a trial start)"; fi
}

sync_check() {  # the sync agent has no /healthz: it must at least still be running
  have_systemd || return 0
  sleep 2
  systemctl is-active --quiet classroom-sync.service ||
    warn "the sync agent (classroom-sync) is not running: see journalctl -u classroom-sync"
}

address_lines() {
  local suffix ip found=""
  suffix=$(port_suffix)
  if [ "$mdns" != no ]; then echo "    http://$name.local$suffix/"; fi
  for ip in $(hostname -I 2>/dev/null || true); do
    case "$ip" in *:*) ;; *) echo "    http://$ip$suffix/"; found=yes ;; esac
  done
  [ -n "$found" ] || echo "    http://<this machine's address>$suffix/   (no network address yet: see \`ip addr\`)"
  if [ "$with_https" = yes ]; then
    echo "    https://<the school's name>/   (the national platform's name for this school: it comes"
    echo "    with a sync once the school is enrolled; the admin page shows it. docs/https.md)"
  fi
}

# --- install or upgrade --------------------------------------------------------------------------
preflight() {
  if real && [ "$(id -u)" -ne 0 ]; then
    die "run as root for a school server: sudo ./install.sh (or --dev for development, --root DIR to try)"
  fi
  if [ -r /etc/os-release ]; then
    local os
    # shellcheck source=/dev/null
    os=$(. /etc/os-release && echo "${ID:-?} ${VERSION_ID:-?}")
    case "$os" in
      "debian 12"|"raspbian 12"|"ubuntu 22.04"|"ubuntu 24.04") ;;
      *) warn "made for Debian 12, Ubuntu 22.04/24.04 and Raspberry Pi OS; this is $os: going on" ;;
    esac
  fi
  case "$(uname -m)" in
    x86_64|aarch64) ;;
    *) warn "made for amd64 and arm64; this is $(uname -m): some Python packages may have to be compiled" ;;
  esac
  if [ -n "$wheels" ]; then
    [ -d "$wheels" ] || die "--wheels $wheels is not a folder"
    wheels=$(cd "$wheels" && pwd)
  fi
}

choose() {  # options given now win; otherwise what the last install chose; otherwise defaults
  [ -n "$with_nginx" ] || with_nginx=$(state_get with_nginx)
  [ -n "$with_nginx" ] || with_nginx=no
  [ -n "$name" ] || name=$(state_get name)
  [ -n "$name" ] || name=school
  [ -n "$mdns" ] || mdns=$(state_get mdns)
  [ -n "$mdns" ] || mdns=yes
  if [ -z "$with_https" ]; then
    with_https=$(state_get with_https)
    # HTTPS chosen before, nginx removed now: HTTPS goes with it.
    if [ "$with_https" = yes ] && [ "$with_nginx" != yes ]; then with_https=no; say "HTTPS is off too (it needs nginx)"; fi
  fi
  [ -n "$with_https" ] || with_https=no
  [ -n "$with_dnsmasq" ] || with_dnsmasq=$(state_get with_dnsmasq)
  [ -n "$with_dnsmasq" ] || with_dnsmasq=no
  if [ "$with_https" = yes ] && [ "$with_nginx" != yes ]; then
    usage_error "--with-https needs nginx in front (waitress has no TLS): add --with-nginx"
  fi
}

install_packages() {
  # tzdata: the server and the sync agent keep the school's time zone (Asia/Almaty, ...) with the
  # system's zone database; minimal Ubuntu 22.04 systems (containers, cloud images) come without it.
  local packages=(tzdata)
  [ "$mdns" = no ] || packages+=(avahi-daemon)
  [ "$with_nginx" != yes ] || packages+=(nginx)
  [ "$with_dnsmasq" != yes ] || packages+=(dnsmasq)
  [ ${#packages[@]} -eq 0 ] || apt_install "${packages[@]}"
  [ -n "$wheels" ] || icu_build_packages
  if real && [ "$with_nginx" = yes ]; then
    nginx_group=$(sed -n 's/^[[:space:]]*user[[:space:]]\{1,\}\([^[:space:];]*\).*/\1/p' /etc/nginx/nginx.conf | head -n 1)
    nginx_group=$(id -gn "${nginx_group:-www-data}")
  fi
}

rollback() {  # rollback OLD_RELEASE BACKUP: put the previous version and its data back
  local old=$1 backup=$2 failed ver
  set +e
  failed=$(release_of)
  say "rolling back to ${old#releases/}"
  stop_services
  switch_to "${old#releases/}"
  if [ -n "$backup" ]; then
    if ! as_user "$prefix/current/bin/classroom-server" restore --force "$backup" >&2; then
      printf 'install.sh: restoring %s failed: the data is in %s (the database the new version changed is in before-restore-*). Keep both and ask for help with these messages.\n' "$backup" "$data" >&2
      return 1
    fi
  fi
  (set -e; setup_settings "$prefix/current") || warn "could not put the settings back in $ini"
  changed=yes
  ports
  (set -e; write_config "$prefix/current") || warn "could not write the previous version's configuration"
  start_services
  [ "$failed" = "$old" ] || rm -rf "${prefix:?}/$failed"
  if ver=$(healthy "$prefix/current"); then
    printf 'install.sh: the upgrade to %s failed and was undone: version %s is running again%s. Nothing the school had was lost; the reason is above (and in journalctl -u classroom-server).\n' \
      "$version" "$ver" "${backup:+ with the data backed up in $backup}" >&2
  else
    printf 'install.sh: the upgrade failed, and the previous version does not answer either: see journalctl -u classroom-server and docs/install.md ("When an upgrade fails").\n' >&2
  fi
  return 1
}

install_main() {
  preflight
  choose
  need_python
  install_packages
  ensure_user
  mkdir -p "$prefix"
  exec 9>"$prefix/.install.lock"
  flock -n 9 || die "another install.sh is running"
  setup_folders
  stage_source

  local previous new_name="" backup="" kind legacy="" program
  previous=$(release_of)
  # install.sh before releases/ put the virtual environment straight in /opt/classroom-server.
  [ -n "$previous" ] || [ ! -x "$prefix/bin/python" ] || legacy=yes
  if [ -n "$previous" ] && [ "$reinstall" = no ] && [ -f "$prefix/$previous/.source-sha256" ] &&
     [ "$(cat "$prefix/$previous/.source-sha256")" = "$digest" ]; then
    say "version $version is installed already (${previous#releases/}); checking its configuration"
  else
    new_name="$version-$(date -u +%Y%m%d%H%M%S)"
    build_release "$prefix/releases/$new_name"
  fi

  if [ -z "$new_name" ]; then                       # same program: configuration only
    setup_settings "$prefix/current"
    write_config "$prefix/current"
    systemd_do enable "${services[@]}"
    if [ "$changed" = yes ]; then systemd_do restart "${services[@]}"; else systemd_do start "${services[@]}"; fi
    ver=$(healthy "$prefix/current") || die "the installed server does not answer /healthz: see journalctl -u classroom-server"
    running "$ver"
    sync_check
  else                                              # a new server, or an upgrade
    program=$prefix/${previous:-releases/$new_name}
    if [ -n "$previous" ]; then say "upgrading ${previous#releases/} to $new_name"; stop_services
    elif [ -n "$legacy" ]; then say "upgrading the older install in $prefix to $new_name"; stop_services; fi
    setup_settings "$program"
    kind=$(database_kind "$program")
    if [ "$kind" = sqlite ]; then
      backup="$backups/before-upgrade-${previous#releases/}${previous:+-}at-$(date -u +%Y%m%d%H%M%S).tar.gz"
      say "backing up the data to $backup"
      if ! as_user "$program/bin/classroom-server" backup "$backup" >&2; then
        [ -z "$previous" ] || start_services
        die "the backup failed (above), so nothing was upgraded"
      fi
    elif [ "$kind" = other ]; then
      warn "the database is not SQLite: back it up yourself (pg_dump) before upgrades; a failed upgrade brings back the program, not the data"
    fi
    switch_to "$new_name"
    # From here on, any failure puts the previous version and the backup back (on_exit).
    [ -z "$previous" ] || guard="$previous|$backup"
    as_user "$prefix/current/bin/classroom-server" migrate >&2 || die "the database migration failed (above)"
    changed=yes
    write_config "$prefix/current"
    start_services
    ver=$(healthy "$prefix/current") || die "version $version does not answer /healthz within $health_timeout s (above)"
    guard=""
    sync_check
    if [ -n "$previous" ]; then
      prune "$(basename "$previous")"
      say "upgraded to $ver${backup:+; the backup made before is $backup}"
    else
      if [ -n "$legacy" ]; then
        rm -rf "${prefix:?}"/{bin,lib,lib64,include,share,pyvenv.cfg}
        say "removed the old program from $prefix (it is in $prefix/current now)"
      fi
      running "$ver"
    fi
  fi

  echo >&2
  say "The classroom server is ready. On a school device, open:"
  address_lines >&2
  if [ -z "$(as_user "$prefix/current/bin/classroom-server" user list --role admin 2>/dev/null)" ]; then
    say "Next step: the first visit asks you to create the administrator account. Or, here:"
    echo "    $(run_as_text) $bin_dir/classroom-server init --admin NAME" >&2
  else
    say "Next step: check it with   $(run_as_text) $bin_dir/classroom-server doctor"
  fi
  if have_systemd; then
    say "Logs: journalctl -u classroom-server -u classroom-sync   Settings: $ini"
  elif real; then
    warn "systemd is not running on this machine: the services are installed but not started; run the server with:"
    echo "    runuser -u $user -- env CLASSROOM_DATA_DIR=$data $prefix/current/bin/classroom-server serve" >&2
  fi
}

# --- uninstall ------------------------------------------------------------------------------------
uninstall_main() {
  if real && [ "$(id -u)" -ne 0 ]; then die "run as root: sudo ./install.sh --uninstall"; fi
  mdns=$(state_get mdns)
  name=$(state_get name)
  with_nginx=$(state_get with_nginx)
  with_https=$(state_get with_https)
  with_dnsmasq=$(state_get with_dnsmasq)
  if [ -f "$unit_dir/classroom-server-tls.path" ]; then
    systemd_do disable --now classroom-server-tls.path || true
    remove "$unit_dir/classroom-server-tls.path" "$unit_dir/classroom-server-tls.service"
  fi
  if [ -f "$dnsmasq_dir/classroom-server.conf" ]; then
    remove "$dnsmasq_dir/classroom-server.conf"
    dnsmasq_restart
  fi
  if [ -f "$unit_dir/classroom-server.service" ] || [ -f "$unit_dir/classroom-sync.service" ]; then
    systemd_do disable --now "${services[@]}" || true
  fi
  remove "$unit_dir/classroom-server.service" "$unit_dir/classroom-sync.service" \
    "$unit_dir/classroom-server.service.d/nginx.conf"
  rmdir "$unit_dir/classroom-server.service.d" 2>/dev/null || true
  systemd_do daemon-reload
  if [ -e "$nginx_dir/sites-available/classroom-server" ]; then
    remove "$nginx_dir/sites-enabled/classroom-server" "$nginx_dir/sites-available/classroom-server" \
      "$nginx_dir/snippets/classroom-server-types.conf" "$nginx_dir/snippets/classroom-server-proxy.conf" \
      "$nginx_dir/snippets/classroom-server-https.conf"
    restore_default_site
    nginx_reload
  fi
  if [ -e "$avahi_dir/services/classroom-server.service" ]; then
    remove "$avahi_dir/services/classroom-server.service"
    avahi_host_name ""
  fi
  local script
  for script in classroom-server classroom-sync classroom-hub; do
    case "$(readlink "$bin_dir/$script" 2>/dev/null)" in "$prefix"/*) rm -f "$bin_dir/$script" ;; esac
  done
  close_firewall
  rm -rf "${prefix:?}"
  say "removed the program ($prefix) and its services"
  if [ "$purge" = yes ]; then
    if [ -t 0 ]; then
      local answer
      read -r -p "Delete every account, result and setting in $data and $etc for ever? Type yes: " answer
      [ "$answer" = yes ] || die "nothing more was deleted (the data is still in $data)"
    fi
    rm -rf "${data:?}" "${etc:?}"
    if real && id "$user" >/dev/null 2>&1; then userdel "$user" 2>/dev/null || warn "could not remove the user $user"; fi
    if real && getent group "$user" >/dev/null; then groupdel "$user" 2>/dev/null || true; fi
    say "purged: the data ($data), the settings ($etc) and the $user user are gone"
  else
    if [ -d "$etc" ]; then state_save; fi
    say "kept the data in $data and the settings in $etc: ./install.sh finds them again;"
    say "./install.sh --uninstall --purge deletes them too"
  fi
}

# --- a folder of wheels for an offline install ---------------------------------------------------
download_main() {
  need_python
  mkdir -p "$wheels"
  wheels=$(cd "$wheels" && pwd)
  stage_source
  icu_build_packages
  say "making a virtual environment to download with"
  "$PY" -m venv "$work/venv"
  say "downloading the server's Python packages into $wheels"
  local pin=(--disable-pip-version-check -c "$work/src/constraints.txt")
  if ! { "$work/venv/bin/python" -m pip install "${pin[@]}" setuptools wheel &&
         "$work/venv/bin/python" -m pip wheel "${pin[@]}" --no-build-isolation --wheel-dir "$wheels" \
           "$work/src" setuptools wheel; } >"$work/pip.log" 2>&1; then
    grep -v "^WARNING: Location .* is ignored" "$work/pip.log" | tail -n 30 >&2
    die "downloading failed (above): is the internet reachable?"
  fi
  rm -f "$wheels"/classroom_server-*.whl
  local count
  count=$(find "$wheels" -maxdepth 1 -name '*.whl' | wc -l)
  [ "$count" -gt 0 ] || die "no wheels were downloaded (above): is the internet reachable?"
  say "$count wheels in $wheels for $("$PY" -c 'import platform; print("Python", platform.python_version(), platform.machine())')."
  say "Copy this folder with the repository to the USB stick; on the school server: sudo ./install.sh --wheels $(basename "$wheels")"
}

case "$mode" in
  install) install_main ;;
  uninstall) uninstall_main ;;
  download) download_main ;;
esac
