#!/usr/bin/env bash
# Installs bitcoind and bitcoin-cli (Bitcoin Knots, from Debian sid's `bitcoin-knots` package)
# with their runtime libraries into a private prefix, for Ballast's Bitcoin tests.
#
#   testnet/install-bitcoind.sh [--prefix DIR]
#
# Default prefix: ${BALLAST_CACHE:-$HOME/.cache/ballast}/bitcoin-knots. Nothing outside the
# prefix's parent directory is written: apt runs with a private configuration, sources list,
# package lists and cache, and the .debs are unpacked with `dpkg-deb -x`, not installed. The
# binaries run through the unpacked sid loader (`ld-linux-*.so`) with the prefix's library
# path, so the process shows up under the loader's name: track it by PID, never by name.
#
# Results:
#   <prefix>/bin/bitcoind, <prefix>/bin/bitcoin-cli   wrappers that exec through the loader
#   last line of stdout                                 the prefix
#
# Safe to run again and in parallel: a complete install returns at once; installs are serialised
# with `flock` on <prefix>.lock and built in a staging directory that is renamed into place only
# once `bitcoind -version` works, so a killed run leaves nothing that looks complete.
#
# Environment:
#   BALLAST_CACHE          parent of the default prefix
#   BALLAST_DEBIAN_MIRROR  Debian mirror to fetch sid from (default: the one apt already uses)
set -euo pipefail

PACKAGE=bitcoin-knots
# Dependencies that are not runtime libraries of the binaries (maintainer scripts, users).
SKIP_RE='^(debconf|debconf-2\.0|cdebconf|systemd|systemd-.*|opensysusers|adduser|passwd|base-passwd|init-system-helpers)$'
MARKER=.ballast-install-complete

usage() {
    sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'
}

log() { printf 'install-bitcoind: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

prefix=""
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; prefix="$2"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unexpected argument '$1' (expected [--prefix DIR])" ;;
    esac
done
if [ -z "$prefix" ]; then
    prefix="${BALLAST_CACHE:-$HOME/.cache/ballast}/bitcoin-knots"
fi
case "$prefix" in
    /*) ;;
    *) prefix="$PWD/$prefix" ;;
esac
prefix="${prefix%/}"
[ -n "$prefix" ] || die "the prefix must not be /"

arch="$(dpkg --print-architecture)"
case "$arch" in
    amd64) triplet=x86_64-linux-gnu; loader=ld-linux-x86-64.so.2 ;;
    arm64) triplet=aarch64-linux-gnu; loader=ld-linux-aarch64.so.1 ;;
    *) die "unsupported architecture '$arch' (expected amd64 or arm64)" ;;
esac

# True when $1 holds a complete, working install.
install_ok() {
    local dir="$1"
    [ -f "$dir/$MARKER" ] && [ -x "$dir/bin/bitcoind" ] && [ -x "$dir/bin/bitcoin-cli" ] \
        && "$dir/bin/bitcoind" -version 2>/dev/null | grep -q 'Bitcoin Knots' \
        && "$dir/bin/bitcoin-cli" -version >/dev/null 2>&1
}

parent="$(dirname "$prefix")"
mkdir -p "$parent"
exec 9>"$prefix.lock"
flock 9

if install_ok "$prefix"; then
    printf '%s\n' "$prefix"
    exit 0
fi

start_time=$(date +%s)
# Only lock holders build, so any staging directory left here is from a killed run.
rm -rf "$prefix".staging.*
if [ -e "$prefix" ]; then
    log "removing the incomplete install at $prefix"
    rm -rf "$prefix"
fi
staging="$(mktemp -d "$prefix.staging.XXXXXX")"
trap 'rm -rf "$staging"' EXIT

# The Debian mirror apt already uses: the first non-security `deb` URI in the system's sources
# (one-line or deb822 format).
system_mirror() {
    local files=()
    [ -f /etc/apt/sources.list ] && files+=(/etc/apt/sources.list)
    local f
    for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && files+=("$f")
    done
    [ ${#files[@]} -gt 0 ] || return 0
    awk '
        function emit(u) { if (u !~ /security/) print u }
        FILENAME ~ /\.sources$/ {
            if ($0 ~ /^[ \t]*$/) { flush(); next }
            if ($0 ~ /^[ \t]*#/) next
            key = tolower($1)
            if (key == "types:") { types = $0 }
            else if (key == "uris:") { uris = ""; for (i = 2; i <= NF; i++) uris = uris " " $i }
            else if (key == "enabled:") { enabled = tolower($2) }
            next
        }
        { flush() }
        $1 == "deb" {
            i = 2
            if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
            if (i <= NF) emit($i)
        }
        function flush(   n, a, j) {
            if (uris != "" && types ~ /(^|[ \t])deb([ \t]|$)/ && enabled != "no") {
                n = split(uris, a, " "); for (j = 1; j <= n; j++) emit(a[j])
            }
            types = ""; uris = ""; enabled = ""
        }
        END { flush() }
    ' "${files[@]}" | sed 's:/*$::'
}

mirror="${BALLAST_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
    candidates="$(system_mirror)"
    # Prefer a URI that is a Debian archive root (…/debian), else take the first one.
    mirror="$(printf '%s\n' "$candidates" | grep -E '/debian$' | head -n1 || true)"
    [ -n "$mirror" ] || mirror="$(printf '%s\n' "$candidates" | head -n1)"
    [ -n "$mirror" ] || mirror="http://deb.debian.org/debian"
fi
log "installing $PACKAGE from $mirror sid into $prefix"

apt_dir="$staging/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/state" \
    "$apt_dir/log" "$apt_dir/empty" "$staging/debs"
: >"$apt_dir/state/status"
# The private configuration is read first (APT_CONFIG) and points every other configuration
# source, apt.conf.d and its update hooks included, to empty places.
cat >"$apt_dir/apt.conf" <<EOF
Dir::Etc::parts "$apt_dir/empty";
Dir::Etc::main "/dev/null";
Dir::Etc::sourcelist "$apt_dir/sources.list";
Dir::Etc::sourceparts "/dev/null";
Dir::Etc::preferences "/dev/null";
Dir::Etc::preferencesparts "$apt_dir/empty";
Dir::State "$apt_dir/state";
Dir::State::Lists "$apt_dir/lists";
Dir::State::status "$apt_dir/state/status";
Dir::Cache "$apt_dir/cache";
Dir::Log "$apt_dir/log";
APT::Architecture "$arch";
APT::Architectures { "$arch"; };
APT::Sandbox::User "$(id -un)";
Acquire::Languages "none";
Acquire::Retries "3";
Acquire::Check-Valid-Until "false";
EOF
export APT_CONFIG="$apt_dir/apt.conf"

# Prefer the archive signature checked with the system's Debian keyring; fall back to an
# unsigned source when that keyring cannot verify sid (for example a keyring older than sid's
# signing key).
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
auth_args=()
updated=no
if [ -f "$keyring" ]; then
    echo "deb [signed-by=$keyring] $mirror sid main" >"$apt_dir/sources.list"
    if apt-get -q update --error-on=any >"$apt_dir/log/update.log" 2>&1; then
        updated=yes
    else
        log "signed sid index failed ($(grep -E '^(E|W):' "$apt_dir/log/update.log" | head -n1)); retrying as trusted=yes"
    fi
fi
if [ "$updated" = no ]; then
    echo "deb [trusted=yes] $mirror sid main" >"$apt_dir/sources.list"
    rm -rf "$apt_dir/lists" && mkdir -p "$apt_dir/lists/partial"
    apt-get -q update --error-on=any >"$apt_dir/log/update.log" 2>&1 \
        || { cat "$apt_dir/log/update.log" >&2; die "apt-get update of $mirror sid failed"; }
    auth_args=(--allow-unauthenticated)
fi

# Runtime closure: the package's own Depends/Pre-Depends without maintainer-script tools, then
# everything those libraries need.
direct="$(apt-cache show --no-all-versions "$PACKAGE" \
    | awk '/^(Pre-)?Depends:/ { sub(/^[^:]*:/, ""); print }' | tr ',' '\n' \
    | while IFS= read -r group; do
        [ -n "${group// /}" ] || continue
        skip=no
        first=""
        IFS='|' read -r -a alts <<<"$group"
        for alt in "${alts[@]}"; do
            name="$(printf '%s' "$alt" | sed -e 's/(.*)//' -e 's/:.*//' | tr -d ' ')"
            [ -n "$first" ] || first="$name"
            if printf '%s\n' "$name" | grep -Eq "$SKIP_RE"; then skip=yes; fi
        done
        [ "$skip" = yes ] || printf '%s\n' "$first"
    done)"
[ -n "$direct" ] || die "apt-cache found no dependencies for $PACKAGE"
closure="$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances $direct \
    | grep -v '^ ' | grep -v '^<' | grep -Ev "$SKIP_RE" | sort -u)"
packages="$(printf '%s\n%s\n' "$PACKAGE" "$closure" | sort -u)"
log "downloading $(printf '%s\n' "$packages" | wc -l) packages"
(cd "$staging/debs" && apt-get -q download "${auth_args[@]}" $packages >"$apt_dir/log/download.log" 2>&1) \
    || { cat "$apt_dir/log/download.log" >&2; die "apt-get download failed"; }

root="$staging/root"
mkdir -p "$root"
for deb in "$staging"/debs/*.deb; do
    dpkg-deb -x "$deb" "$root"
done
dpkg-deb -f "$staging"/debs/"${PACKAGE}"_*.deb Version >"$root/.package-version"

libdir="$root/usr/lib/$triplet"
[ -x "$libdir/$loader" ] || die "the unpacked libc6 has no loader at usr/lib/$triplet/$loader"
for bin in bitcoind bitcoin-cli; do
    [ -x "$root/usr/bin/$bin" ] || die "$PACKAGE did not provide usr/bin/$bin"
done

# Wrappers find the prefix from their own location, so the staging directory can be renamed.
mkdir -p "$root/bin"
for bin in bitcoind bitcoin-cli; do
    cat >"$root/bin/$bin" <<EOF
#!/bin/sh
# Runs Debian sid's $bin with the libraries unpacked beside it (written by install-bitcoind.sh).
p="\$(cd "\$(dirname "\$(readlink -f "\$0")")/.." && pwd)"
exec "\$p/usr/lib/$triplet/$loader" --library-path "\$p/usr/lib/$triplet" \\
    --argv0 "\$p/usr/bin/$bin" "\$p/usr/bin/$bin" "\$@"
EOF
    chmod 755 "$root/bin/$bin"
done

version="$("$root/bin/bitcoind" -version | head -n1)" || die "bitcoind -version failed in the new install"
case "$version" in
    *"Bitcoin Knots"*) ;;
    *) die "expected 'Bitcoin Knots' from bitcoind -version, found '$version'" ;;
esac
"$root/bin/bitcoin-cli" -version >/dev/null || die "bitcoin-cli -version failed in the new install"
printf '%s\n' "$packages" >"$root/.packages"
printf '%s\n' "$version" >"$root/$MARKER"

mv "$root" "$prefix"
rm -rf "$staging"
trap - EXIT
log "installed $version in $(( $(date +%s) - start_time ))s"
printf '%s\n' "$prefix"
