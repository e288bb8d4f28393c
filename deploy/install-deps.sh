#!/bin/sh
# Installs the Debian packages lethe builds, tests and demos with, when any is missing.
# Called by `make deps` (and so by `make`, `make check` and `make demo`); never vendors anything.
# chromium renders the HTML report in its test (tests/integration/report.sh).
set -eu
# dpkg-dev, debhelper, lintian and build-essential build and check the Debian package
# (tests/integration/deb.sh).
PKGS="gcc make pkg-config libpq-dev libconfig-dev uuid-dev libssl-dev check libsubunit-dev
      postgresql-15 postgresql-client-15 python3 systemd libjansson-dev libsystemd-dev groff-base man-db time
      build-essential dpkg-dev debhelper lintian chromium fonts-dejavu-core jq"
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing" >&2
if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
# Another apt-get (an unattended upgrade, a parallel build) may hold the dpkg lock: wait for it
# rather than fail.
LOCK="-o DPkg::Lock::Timeout=600"
$SUDO apt-get $LOCK update -q
# The server package would start a cluster of its own; lethe's tests and demo run their own.
$SUDO apt-get $LOCK install -y -q --no-install-recommends $missing
