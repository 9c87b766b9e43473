#!/usr/bin/env bash
# Build a Python 3.11 base image from Debian 12's own packages, with no container registry:
# mmdebstrap (or debootstrap) installs a minimal Debian bookworm with python3 (3.11),
# python3-venv and ca-certificates, and `docker import` turns it into an image. mmbot's
# Dockerfile builds on it with `--build-arg BASE_IMAGE=<this image>`.
#
#   docker/build-base.sh [IMAGE]          # default IMAGE: mmbot-python:3.11-bookworm
#
# Environment:
#   DEBIAN_MIRROR            Debian archive for bookworm and bookworm-updates (default: the one
#                            this host's apt uses for bookworm, else http://deb.debian.org/debian)
#   DEBIAN_SECURITY_MIRROR   archive for bookworm-security (default: likewise, else
#                            http://deb.debian.org/debian-security)
#   EXTRA_CA_DIR             *.crt files added to the image's trust store (default:
#                            /usr/local/share/ca-certificates, the host's locally added CAs, so
#                            pip in `docker build` works behind a TLS-intercepting proxy);
#                            EXTRA_CA_DIR= adds none
#   BASE_BUILDER             mmdebstrap or debootstrap (default: mmdebstrap if installed)
# Needs root (or mmdebstrap's unshare mode), mmdebstrap or debootstrap, and a Docker engine.
set -euo pipefail

IMAGE="${1:-mmbot-python:3.11-bookworm}"
SUITE=bookworm
PACKAGES=python3,python3-venv,ca-certificates
EXTRA_CA_DIR="${EXTRA_CA_DIR-/usr/local/share/ca-certificates}"

# One-line sources: explicit mirrors, else the host's apt sources for bookworm, else deb.debian.org.
sources() {
    if [ -n "${DEBIAN_MIRROR:-}" ] || [ -n "${DEBIAN_SECURITY_MIRROR:-}" ]; then
        local main="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
        echo "deb $main $SUITE main"
        echo "deb $main $SUITE-updates main"
        echo "deb ${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security} $SUITE-security main"
        return
    fi
    local host=""
    if command -v apt-get >/dev/null 2>&1; then
        host="$(apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Identifier: Packages' \
            2>/dev/null | awk -v s="$SUITE" '($2 == s || $2 == s "-updates" || $2 == s "-security") && $3 == "main" {
                print "deb " $1 " " $2 " main" }' | sort -u)"
    fi
    if printf '%s\n' "$host" | grep -q " $SUITE main$"; then
        printf '%s\n' "$host"
    else
        echo "deb http://deb.debian.org/debian $SUITE main"
        echo "deb http://deb.debian.org/debian $SUITE-updates main"
        echo "deb http://deb.debian.org/debian-security $SUITE-security main"
    fi
}

mapfile -t SOURCES < <(sources)
CERTS=()
if [ -n "$EXTRA_CA_DIR" ] && [ -d "$EXTRA_CA_DIR" ]; then
    mapfile -t CERTS < <(find "$EXTRA_CA_DIR" -maxdepth 1 -type f -name '*.crt' | sort)
fi

echo "build-base: $IMAGE from Debian $SUITE ($PACKAGES)" >&2
printf 'build-base:   %s\n' "${SOURCES[@]}" >&2
[ "${#CERTS[@]}" -eq 0 ] || printf 'build-base:   extra CA %s\n' "${CERTS[@]}" >&2

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
TARBALL="$WORK/rootfs.tar"

BASE_BUILDER="${BASE_BUILDER:-$(command -v mmdebstrap >/dev/null 2>&1 && echo mmdebstrap || echo debootstrap)}"
if [ "$BASE_BUILDER" = mmdebstrap ] && command -v mmdebstrap >/dev/null 2>&1; then
    HOOKS=()
    if [ "${#CERTS[@]}" -gt 0 ]; then
        HOOKS+=(--customize-hook="mkdir -p \"\$1/usr/local/share/ca-certificates\"")
        for cert in "${CERTS[@]}"; do
            HOOKS+=(--customize-hook="copy-in $cert /usr/local/share/ca-certificates/")
        done
        HOOKS+=(--customize-hook='chroot "$1" update-ca-certificates')
    fi
    # No usrmerge package (it pulls in perl): merged /usr set up by the hook, as debootstrap does.
    mmdebstrap --variant=minbase --include="$PACKAGES" \
        --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        "${HOOKS[@]}" \
        "$SUITE" "$TARBALL" "${SOURCES[@]}"
elif [ "$BASE_BUILDER" = debootstrap ] && command -v debootstrap >/dev/null 2>&1; then
    ROOT="$WORK/rootfs"
    mirror=""
    for line in "${SOURCES[@]}"; do
        read -r _ uri suite _ <<<"$line"
        [ "$suite" = "$SUITE" ] && mirror="$uri"
    done
    debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOT" "$mirror"
    printf '%s\n' "${SOURCES[@]}" >"$ROOT/etc/apt/sources.list"
    chroot "$ROOT" apt-get update
    chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get -y upgrade
    if [ "${#CERTS[@]}" -gt 0 ]; then
        cp "${CERTS[@]}" "$ROOT/usr/local/share/ca-certificates/"
        chroot "$ROOT" update-ca-certificates
    fi
    chroot "$ROOT" apt-get clean
    rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* \
        "$ROOT"/usr/share/locale/*
    tar --numeric-owner --xattrs -C "$ROOT" -cf "$TARBALL" .
else
    echo "build-base: needs mmdebstrap or debootstrap (apt-get install mmdebstrap); BASE_BUILDER=$BASE_BUILDER" >&2
    exit 2
fi

docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'LABEL org.opencontainers.image.description="Debian 12 minbase + python3 (3.11) + python3-venv, built by mmbot docker/build-base.sh"' \
    --change 'CMD ["python3"]' \
    "$TARBALL" "$IMAGE" >/dev/null
echo "build-base: $IMAGE ($(docker image inspect -f '{{.Size}}' "$IMAGE") bytes)" >&2
